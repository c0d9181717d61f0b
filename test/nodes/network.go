package nodes

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"
)

const (
	// bridge is the nodes' bridge, inside the cluster's network namespace
	// (so the name is the same in every cluster).
	bridge = "br0"
	// uplink is the bridge's port toward the host: the cluster's end of the
	// veth pair whose host end is the cluster's Bridge.
	uplink = "uplink"
	// firstNode is the last octet of the first node's address.
	firstNode = 10
)

// benchmarkRange (RFC 2544) holds every subnet the package uses: 512 /24s.
var benchmarkRange = netip.MustParsePrefix("198.18.0.0/15")

// network is a cluster's subnet and the host's link to it.
type network struct {
	subnet   netip.Prefix
	hostLink string
}

func (n network) gateway() netip.Addr { return n.subnet.Addr().Next() }

func (n network) nodeAddr(i int) netip.Addr {
	a := n.subnet.Addr().As4()
	a[3] = byte(firstNode + i)
	return netip.AddrFrom4(a)
}

// setupNetwork picks a /24 of the benchmark range that the host neither has
// an address in nor routes, and links the host to a bridge for the nodes in
// the cluster's network namespace. The host link is a veth pair named after
// the subnet (gsnc612XX for 198.18.XX.0/24), so two clusters cannot take the
// same subnet: the second "ip link add" fails and it picks another. It goes
// away with the namespace, however the test ends.
func setupNetwork(s *supervisor) (network, error) {
	used, err := hostPrefixes()
	if err != nil {
		return network{}, err
	}
	for range 64 {
		a := benchmarkRange.Addr().As4()
		i := rand.IntN(512)
		a[1] += byte(i / 256)
		a[2] = byte(i % 256)
		n := network{subnet: netip.PrefixFrom(netip.AddrFrom4(a), 24)}
		n.hostLink = fmt.Sprintf("gsn%02x%02x%02x", a[0], a[1], a[2])
		if overlapsAny(n.subnet, used) {
			continue
		}
		out, err := exec.Command("ip", "link", "add", n.hostLink, "type", "veth",
			"peer", "name", uplink, "netns", strconv.Itoa(s.init)).CombinedOutput()
		if strings.Contains(string(out), "File exists") {
			continue // another cluster's subnet
		}
		if err != nil {
			return network{}, fmt.Errorf("ip link add %s: %w: %s", n.hostLink, err, out)
		}
		return n, n.configure(s)
	}
	return network{}, fmt.Errorf("no free /24 in %s: the host uses or routes all that were tried", benchmarkRange)
}

func (n network) configure(s *supervisor) error {
	// The host never forwards what the nodes send (whatever its
	// net.ipv4.ip_forward): nodes reach only their subnet. A test that lets
	// them out (NAT for apt) must turn this on for the link.
	for _, sysctl := range []struct{ path, value string }{
		{"/proc/sys/net/ipv4/conf/" + n.hostLink + "/forwarding", "0"},
		{"/proc/sys/net/ipv6/conf/" + n.hostLink + "/disable_ipv6", "1"},
	} {
		if err := os.WriteFile(sysctl.path, []byte(sysctl.value), 0o644); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	gw := netip.PrefixFrom(n.gateway(), n.subnet.Bits()).String()
	host := exec.Command("ip", "-batch", "-")
	host.Stdin = strings.NewReader("addr add " + gw + " dev " + n.hostLink + "\nlink set " + n.hostLink + " up\n")
	if out, err := host.CombinedOutput(); err != nil {
		return fmt.Errorf("configure %s: %w: %s", n.hostLink, err, out)
	}
	return s.run("link add "+bridge+" type bridge\n"+
		"link set "+uplink+" master "+bridge+"\n"+
		"link set "+uplink+" up\n"+
		"link set "+bridge+" up\n"+
		"link set lo up\n", "ip", "-batch", "-")
}

// hostPrefixes lists the IPv4 prefixes the host has addresses in or routes
// to, in every routing table; default routes do not count.
func hostPrefixes() ([]netip.Prefix, error) {
	var prefixes []netip.Prefix
	for _, args := range [][]string{
		{"-4", "-o", "addr", "show"},
		{"-4", "route", "show", "table", "all"},
	} {
		out, err := exec.Command("ip", args...).Output()
		if err != nil {
			return nil, fmt.Errorf("ip %s: %w", strings.Join(args, " "), err)
		}
		for line := range strings.SplitSeq(string(out), "\n") {
			// The first address of a line is its subject: the address
			// ("2: eth0 inet 192.0.2.2/24 ...") or the destination
			// ("unreachable 198.18.0.0/15", "local 127.0.0.1 dev lo ...").
			for _, field := range strings.Fields(line) {
				if field == "default" {
					break
				}
				if p, ok := parsePrefix(field); ok {
					prefixes = append(prefixes, p)
					break
				}
			}
		}
	}
	return prefixes, nil
}

// parsePrefix reads "a.b.c.d/n" or a bare address (a /32).
func parsePrefix(s string) (netip.Prefix, bool) {
	if p, err := netip.ParsePrefix(s); err == nil {
		return p.Masked(), true
	}
	if a, err := netip.ParseAddr(s); err == nil && a.Is4() {
		return netip.PrefixFrom(a, 32), true
	}
	return netip.Prefix{}, false
}

func overlapsAny(p netip.Prefix, list []netip.Prefix) bool {
	for _, q := range list {
		if p.Overlaps(q) {
			return true
		}
	}
	return false
}

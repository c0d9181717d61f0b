package nodes

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"
)

// Options say which nodes to start.
type Options struct {
	// Nodes are booted in parallel; node i gets the subnet's address 10+i.
	Nodes []NodeOptions
	// BootTimeout bounds each boot, from systemd-nspawn's start until sshd
	// answers. Zero means DefaultOptions().BootTimeout.
	BootTimeout time.Duration
}

// NodeOptions describe one node.
type NodeOptions struct {
	// Name is the node's hostname and machine name: lower-case letters,
	// digits and '-', at most 12 characters (nspawn names the node's veth
	// "vb-NAME").
	Name string
	// Files are written into the node's root before it boots, by absolute
	// path, with mode 0644 (missing directories 0755, owned by root).
	Files map[string]string
	// NspawnArgs are more systemd-nspawn arguments.
	NspawnArgs []string
	// Kubelet gives the node what a real kubelet and containerd need from a
	// machine (see kubelet.go): all capabilities, the keyring system calls,
	// /dev/kmsg, writable cgroup controllers of its own, the kubelet's kernel
	// settings as it wants them (inside the node only), and /var/lib/containerd
	// on a plain directory. Its /etc/resolv.conf names the gateway, where the
	// cluster answers every query with REFUSED.
	Kubelet bool
}

// DefaultOptions are two nodes, node1 and node2.
func DefaultOptions() Options {
	return Options{
		Nodes:       []NodeOptions{{Name: "node1"}, {Name: "node2"}},
		BootTimeout: 2 * time.Minute,
	}
}

// Cluster is a set of running nodes on one bridge.
type Cluster struct {
	Nodes []*Node
	// Bridge is the host's network interface to the nodes: a veth whose
	// other end is a port of the nodes' bridge, which lives in the cluster's
	// own network namespace. It carries Gateway. Host rules for the nodes'
	// traffic (forwarding, NAT) name it; the host does not forward what
	// arrives on it until a test turns net.ipv4.conf.<Bridge>.forwarding on.
	Bridge string
	// Subnet is the nodes' /24, in 198.18.0.0/15; Gateway is its first
	// address, the host's, and every node's default gateway.
	Subnet  netip.Prefix
	Gateway netip.Addr
	// ClientKeyFile is an unencrypted ed25519 private key authorized for
	// root, deploy and operator on every node.
	ClientKeyFile string
	// Dir holds the nodes' roots and console logs; it is removed with the
	// cluster. Processes of the cluster run in cgroups named after it.
	Dir string

	sup *supervisor
}

var nodeName = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?$`)

// Start boots the nodes of opts and returns once each one's sshd answers. The
// cluster goes away when the test ends, however it ends: t.Cleanup stops it,
// and if the test process dies first its supervisor does. On any error Start
// fails the test; if a node does not come up, the failure shows the end of
// its console.
func Start(t testing.TB, opts Options) *Cluster {
	t.Helper()
	opts, err := opts.withDefaults()
	if err != nil {
		t.Fatalf("nodes: %v", err)
	}
	lower := Rootfs(t) // checks the host too; logs a build
	began := time.Now()

	c, err := newCluster(t)
	if err != nil {
		t.Fatalf("nodes: %v", err)
	}
	if err := c.start(t.Context(), lower, opts); err != nil {
		t.Fatalf("nodes: %v", err)
	}
	if slices.ContainsFunc(opts.Nodes, func(n NodeOptions) bool { return n.Kubelet }) {
		stop, err := serveDNS(c.Gateway)
		if err != nil {
			t.Fatalf("nodes: the name server of Kubelet nodes: %v", err)
		}
		t.Cleanup(stop)
	}
	t.Logf("nodes: %d nodes up in %s (subnet %s, host link %s)",
		len(c.Nodes), time.Since(began).Round(time.Millisecond), c.Subnet, c.Bridge)
	return c
}

func (o Options) withDefaults() (Options, error) {
	if o.BootTimeout == 0 {
		o.BootTimeout = DefaultOptions().BootTimeout
	}
	if len(o.Nodes) == 0 || len(o.Nodes) > 200 {
		return o, fmt.Errorf("%d nodes: want 1 to 200", len(o.Nodes))
	}
	seen := map[string]bool{}
	for _, n := range o.Nodes {
		if !nodeName.MatchString(n.Name) {
			return o, fmt.Errorf("node name %q: want lower-case letters, digits and '-', at most 12", n.Name)
		}
		if seen[n.Name] {
			return o, fmt.Errorf("node name %q: used twice", n.Name)
		}
		seen[n.Name] = true
	}
	return o, nil
}

// newCluster starts the supervisor and registers the clean-up with t: from
// here on, nothing the cluster makes outlives the test.
func newCluster(t testing.TB) (*Cluster, error) {
	roots, err := cgroupRoots()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "gitsync-nodes-")
	if err != nil {
		return nil, err
	}
	cgroups := cgroupDirs(roots, filepath.Base(dir))
	sup, err := startSupervisor(dir, cgroups)
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	t.Cleanup(func() {
		if err := sup.stop(time.Minute); err != nil {
			t.Errorf("nodes: clean up %s: %v", dir, err)
		}
	})
	for _, cg := range cgroups {
		if err := makeCgroup(cg); err != nil {
			return nil, err
		}
	}
	return &Cluster{Dir: dir, sup: sup}, nil
}

func (c *Cluster) start(ctx context.Context, lower string, opts Options) error {
	nw, err := setupNetwork(c.sup)
	if err != nil {
		return err
	}
	c.Bridge, c.Subnet, c.Gateway = nw.hostLink, nw.subnet, nw.gateway()
	c.ClientKeyFile = filepath.Join(c.Dir, "client_key")
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "gitsync-nodes-client", "-f", c.ClientKeyFile).CombinedOutput(); err != nil {
		return fmt.Errorf("ssh-keygen: %w: %s", err, out)
	}
	base, err := readBase(lower, c.ClientKeyFile+".pub")
	if err != nil {
		return err
	}
	for i, o := range opts.Nodes {
		c.Nodes = append(c.Nodes, c.newNode(nw.nodeAddr(i), o, opts.BootTimeout))
	}
	base.hosts += "\n# gitsync test nodes\n"
	for _, n := range c.Nodes {
		base.hosts += n.Address.String() + "\t" + n.Name + "\n"
	}
	var g errgroup.Group
	for _, n := range c.Nodes {
		g.Go(func() error { return n.prepare(lower, base) })
	}
	if err := g.Wait(); err != nil {
		return err
	}
	for _, n := range c.Nodes {
		g.Go(func() error { return n.boot(ctx) })
	}
	return g.Wait()
}

// Node returns the node called name, or nil.
func (c *Cluster) Node(name string) *Node {
	for _, n := range c.Nodes {
		if n.Name == name {
			return n
		}
	}
	return nil
}

// KnownHostsFile writes a known_hosts file with every host key (RSA, ECDSA
// and Ed25519: clients differ in the type they prefer) of every node, by
// address, and returns its path.
func (c *Cluster) KnownHostsFile(t testing.TB) string {
	t.Helper()
	var b strings.Builder
	for _, n := range c.Nodes {
		for _, line := range n.KnownHosts() {
			b.WriteString(line + "\n")
		}
	}
	path := filepath.Join(t.TempDir(), "known_hosts")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatalf("nodes: %v", err)
	}
	return path
}

// base is what every node's root starts from, read once.
type base struct {
	hosts     string            // the rootfs's /etc/hosts, plus every node
	clientKey string            // the authorized public key
	users     map[string]passwd // root, deploy, operator
}

type passwd struct {
	uid, gid int
	home     string
}

func readBase(lower, clientPub string) (base, error) {
	hosts, err := os.ReadFile(filepath.Join(lower, "etc/hosts"))
	if err != nil {
		return base{}, err
	}
	key, err := os.ReadFile(clientPub)
	if err != nil {
		return base{}, err
	}
	users, err := readPasswd(filepath.Join(lower, "etc/passwd"), "root", "deploy", "operator")
	if err != nil {
		return base{}, err
	}
	return base{hosts: string(hosts), clientKey: string(key), users: users}, nil
}

func readPasswd(path string, names ...string) (map[string]passwd, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	users := map[string]passwd{}
	for line := range strings.SplitSeq(string(data), "\n") {
		f := strings.Split(line, ":")
		if len(f) < 7 {
			continue
		}
		var p passwd
		if _, err := fmt.Sscan(f[2], &p.uid); err != nil {
			continue
		}
		if _, err := fmt.Sscan(f[3], &p.gid); err != nil {
			continue
		}
		p.home = f[5]
		users[f[0]] = p
	}
	var missing []error
	for _, name := range names {
		if _, ok := users[name]; !ok {
			missing = append(missing, fmt.Errorf("%s: no user %s", path, name))
		}
	}
	return users, errors.Join(missing...)
}

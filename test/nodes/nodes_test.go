package nodes_test

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"

	"github.com/gitsync-io/gitsync/test/nodes"
)

func TestTwoNodes(t *testing.T) {
	began := time.Now()
	nodes.Rootfs(t) // logs how long a cold build took
	t.Logf("rootfs ready after %s", time.Since(began).Round(time.Millisecond))
	began = time.Now()
	c := nodes.Start(t, nodes.DefaultOptions())
	t.Logf("warm start of %d nodes: %s", len(c.Nodes), time.Since(began).Round(time.Millisecond))
	node1, node2 := c.Nodes[0], c.Nodes[1]

	t.Run("systemd finishes booting", func(t *testing.T) {
		for _, n := range c.Nodes {
			out, _ := n.Command(t.Context(), "systemctl", "is-system-running", "--wait").Output()
			switch state := strings.TrimSpace(string(out)); state {
			case "running":
			case "degraded":
				t.Logf("%s is degraded; failed units:\n%s", n.Name,
					n.Exec(t, "systemctl", "--failed", "--no-legend", "--plain"))
			default:
				t.Errorf("%s: systemctl is-system-running says %q; console:\n%s", n.Name, state, n.Console())
			}
		}
	})

	t.Run("an idle node needs little memory", func(t *testing.T) {
		for _, n := range c.Nodes {
			rss, pss, procs := memory(t, n.PID())
			t.Logf("%s idle: %d processes, RSS %.1f MiB, PSS %.1f MiB", n.Name, procs, mib(rss), mib(pss))
			if rss == 0 || rss > 256<<20 {
				t.Errorf("%s: RSS %d bytes, want some, under 256 MiB", n.Name, rss)
			}
		}
	})

	t.Run("each node has its own hostname", func(t *testing.T) {
		for _, n := range c.Nodes {
			if got := strings.TrimSpace(n.Exec(t, "hostname")); got != n.Name {
				t.Errorf("hostname on %s: got %q", n.Name, got)
			}
			if got := strings.TrimSpace(string(n.ReadFile(t, "/etc/hostname"))); got != n.Name {
				t.Errorf("/etc/hostname on %s: got %q", n.Name, got)
			}
		}
		if host, _ := os.Hostname(); host == node1.Name || host == node2.Name {
			t.Errorf("the host's name %q changed", host)
		}
	})

	t.Run("each node runs in a cgroup of its own", func(t *testing.T) {
		seen := map[string]string{}
		for _, n := range c.Nodes {
			cg := systemdCgroup(t, n.PID())
			want := "/" + filepath.Base(c.Dir) + "/" + n.Name + "/"
			if !strings.Contains(cg, want) {
				t.Errorf("%s's systemd is in cgroup %q, want one below %q", n.Name, cg, want)
			}
			if other, ok := seen[cg]; ok {
				t.Errorf("%s and %s share cgroup %s", n.Name, other, cg)
			}
			seen[cg] = n.Name
		}
	})

	t.Run("a node pings another on the bridge", func(t *testing.T) {
		ping(t, node1, node2.Address)
		ping(t, node2, node1.Address)
		ping(t, node1, c.Gateway)
	})

	t.Run("nodes reach nothing beyond their subnet", func(t *testing.T) {
		if got := readTrimmed(t, "/proc/sys/net/ipv4/conf/"+c.Bridge+"/forwarding"); got != "0" {
			t.Errorf("the host forwards what arrives on %s (forwarding=%s)", c.Bridge, got)
		}
		for _, n := range c.Nodes {
			if got := n.Exec(t, "ip", "-4", "route", "show", "default"); !strings.Contains(got, "via "+c.Gateway.String()+" ") {
				t.Errorf("%s's default route: %q, want via %s", n.Name, got, c.Gateway)
			}
			if got := string(n.ReadFile(t, "/etc/resolv.conf")); strings.Contains(got, "nameserver") {
				t.Errorf("%s has a DNS server:\n%s", n.Name, got)
			}
		}
	})

	t.Run("the host reaches each node's sshd", func(t *testing.T) {
		for _, n := range c.Nodes {
			if banner := sshBanner(t, n.SSHAddr); !strings.HasPrefix(banner, "SSH-2.0-OpenSSH") {
				t.Errorf("%s greets with %q", n.SSHAddr, banner)
			}
		}
	})

	t.Run("known hosts list three key types of every node", func(t *testing.T) {
		data, err := os.ReadFile(c.KnownHostsFile(t))
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]bool{}
		for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
			f := strings.Fields(line)
			got[f[0]+" "+f[1]] = true
		}
		for _, n := range c.Nodes {
			for _, typ := range []string{"ssh-rsa", "ecdsa-sha2-nistp256", "ssh-ed25519"} {
				if !got[n.Address.String()+" "+typ] {
					t.Errorf("no %s key for %s in:\n%s", typ, n.Address, data)
				}
			}
			pub := n.ReadFile(t, "/etc/ssh/ssh_host_ed25519_key.pub")
			if !strings.Contains(string(data), strings.Join(strings.Fields(string(pub))[:2], " ")) {
				t.Errorf("%s's ed25519 host key is not the one in known_hosts", n.Name)
			}
		}
	})

	t.Run("the client key is authorized for root, deploy and operator", func(t *testing.T) {
		pub, err := os.ReadFile(c.ClientKeyFile + ".pub")
		if err != nil {
			t.Fatal(err)
		}
		for _, home := range []string{"/root", "/home/deploy", "/home/operator"} {
			if got := string(node1.ReadFile(t, home+"/.ssh/authorized_keys")); got != string(pub) {
				t.Errorf("%s/.ssh/authorized_keys: got %q, want %q", home, got, pub)
			}
		}
		tree := nodes.FileTree(t, node1, "/home/deploy")
		for path, want := range map[string]string{
			"/home/deploy/.ssh":                 "drwx------ 1000:1000",
			"/home/deploy/.ssh/authorized_keys": "-rw------- 1000:1000 sha256:",
		} {
			if !strings.HasPrefix(tree[path], want) {
				t.Errorf("%s: got %q, want %q...", path, tree[path], want)
			}
		}
	})

	t.Run("an OpenSSH client logs in with the client key and verifies each host key type", func(t *testing.T) {
		knownHosts := c.KnownHostsFile(t)
		ssh := func(hostKeyAlgorithm, user string, args ...string) string {
			t.Helper()
			cmd := exec.CommandContext(t.Context(), "ssh", append([]string{"-F", "/dev/null",
				"-i", c.ClientKeyFile, "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes", "-o", "ConnectTimeout=5",
				"-o", "UserKnownHostsFile=" + knownHosts, "-o", "GlobalKnownHostsFile=/dev/null",
				"-o", "StrictHostKeyChecking=yes", "-o", "HostKeyAlgorithms=" + hostKeyAlgorithm,
				user + "@" + node2.Address.String(), "--"}, args...)...)
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Errorf("ssh %s@%s with host key %s: %v\n%s", user, node2.Name, hostKeyAlgorithm, err, out)
			}
			return strings.TrimSpace(string(out))
		}
		for _, alg := range []string{"ssh-ed25519", "ecdsa-sha2-nistp256", "rsa-sha2-512"} {
			ssh(alg, "root", "true")
		}
		for _, user := range []string{"root", "deploy", "operator"} {
			if got := ssh("ssh-ed25519", user, "id", "-un"); got != user {
				t.Errorf("logged in as %s, id -un says %q", user, got)
			}
		}
	})

	t.Run("deploy has passwordless sudo and operator's sudo wants op-pass", func(t *testing.T) {
		if got := node1.Exec(t, "runuser", "-u", "deploy", "--", "sudo", "-n", "id", "-u"); strings.TrimSpace(got) != "0" {
			t.Errorf("deploy: sudo id -u says %q", got)
		}
		if err := node1.Command(t.Context(), "runuser", "-u", "operator", "--", "sudo", "-n", "true").Run(); err == nil {
			t.Error("operator: sudo -n worked without a password")
		}
		cmd := node1.Command(t.Context(), "runuser", "-u", "operator", "--", "sudo", "-S", "-p", "", "id", "-u")
		cmd.Stdin = strings.NewReader(nodes.OperatorPassword + "\n")
		if out, err := cmd.Output(); err != nil || strings.TrimSpace(string(out)) != "0" {
			t.Errorf("operator: sudo -S with the password: %q, %v", out, err)
		}
	})

	t.Run("a node's network sysctls are its own", func(t *testing.T) {
		const key = "/proc/sys/net/ipv4/ip_forward"
		host := readTrimmed(t, key)
		want := map[string]string{"0": "1", "1": "0"}[host] // the opposite of the host's
		node1.Exec(t, "sh", "-c", "echo 'net.ipv4.ip_forward = "+want+"' > /etc/sysctl.d/90-gitsync-test.conf")
		node1.Exec(t, "sysctl", "-p", "/etc/sysctl.d/90-gitsync-test.conf")
		if got := strings.TrimSpace(node1.Exec(t, "cat", key)); got != want {
			t.Errorf("%s in %s: got %s, want %s", key, node1.Name, got, want)
		}
		if got := readTrimmed(t, key); got != host {
			t.Errorf("%s on the host: got %s, want it unchanged (%s)", key, got, host)
		}
		if got := strings.TrimSpace(node2.Exec(t, "cat", key)); got == want {
			t.Errorf("%s in %s changed with %s's", key, node2.Name, node1.Name)
		}
	})

	t.Run("host-wide sysctls are read-only in a node", func(t *testing.T) {
		for _, n := range c.Nodes {
			// Checked, not tried: a write that worked would change the host.
			if opts := mountOptions(t, n.PID(), "/proc/sys"); !strings.HasPrefix(opts, "ro") {
				t.Errorf("%s mounts /proc/sys %q, want read-only", n.Name, opts)
			}
		}
	})

	t.Run("a file tree shows what a command changed", func(t *testing.T) {
		before := nodes.FileTree(t, node2, "/etc")
		node2.Exec(t, "sh", "-c", "echo x > /etc/gitsync-test && chmod 600 /etc/gitsync-test && ln -s gitsync-test /etc/gitsync-link")
		after := nodes.FileTree(t, node2, "/etc")
		sum := sha256.Sum256([]byte("x\n"))
		want := map[string]string{
			"/etc/gitsync-test": "-rw------- 0:0 sha256:" + hex.EncodeToString(sum[:]),
			"/etc/gitsync-link": "Lrwxrwxrwx 0:0 -> gitsync-test",
		}
		added := map[string]string{}
		for path, desc := range after {
			if before[path] != desc {
				added[path] = desc
			}
		}
		if diff := cmp.Diff(want, added); diff != "" {
			t.Errorf("changed entries (-want +got):\n%s", diff)
		}
	})

	t.Run("a node keeps its files across a restart", func(t *testing.T) {
		node2.Exec(t, "sh", "-c", "echo kept > /root/restart-test")
		oldPID := node2.PID()
		node2.Stop(t)
		if node2.PID() != 0 {
			t.Errorf("PID after Stop: %d, want 0", node2.PID())
		}
		if got := string(node2.ReadFile(t, "/root/restart-test")); got != "kept\n" {
			t.Errorf("while stopped: got %q", got)
		}
		node2.Restart(t)
		if node2.PID() == oldPID || node2.PID() == 0 {
			t.Errorf("PID after Restart: %d (before: %d)", node2.PID(), oldPID)
		}
		if got := node2.Exec(t, "cat", "/root/restart-test"); got != "kept\n" {
			t.Errorf("after the restart: got %q", got)
		}
		ping(t, node1, node2.Address)
	})
}

func TestStartShowsTheConsoleOfANodeThatDoesNotComeUp(t *testing.T) {
	opts := nodes.Options{
		Nodes:       []nodes.NodeOptions{{Name: "broken", Files: map[string]string{"/etc/ssh/sshd_config": "NoSuchOption yes\n"}}},
		BootTimeout: 5 * time.Second,
	}
	msg := fatalMessage(t, func(tb testing.TB) { nodes.Start(tb, opts) })
	for _, want := range []string{
		"broken: sshd did not answer", "within 5s",
		"console:", "Failed to start ssh.service",
		"journalctl --unit=ssh.service:", "Bad configuration option: NoSuchOption",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("the failure does not say %q:\n%s", want, msg)
		}
	}
}

// fatalMessage runs f with a testing.TB whose Fatalf records its message
// and ends f; everything else (Cleanup, Context, Logf) is t's.
func fatalMessage(t *testing.T, f func(testing.TB)) string {
	r := &fatalRecorder{TB: t}
	done := make(chan struct{})
	go func() { defer close(done); f(r) }()
	<-done
	if r.msg == "" {
		t.Fatal("no failure")
	}
	return r.msg
}

type fatalRecorder struct {
	testing.TB
	msg string
}

func (r *fatalRecorder) Fatalf(format string, args ...any) {
	r.msg = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// ping sends an ICMP echo request from inside from's network namespace to
// addr and waits for the reply.
func ping(t *testing.T, from *nodes.Node, addr netip.Addr) {
	t.Helper()
	fd, err := icmpSocketIn(from.PID())
	if err != nil {
		t.Fatalf("ICMP socket in %s: %v", from.Name, err)
	}
	defer unix.Close(fd)
	id, seq := os.Getpid()&0xffff, 1
	msg := []byte{8, 0, 0, 0, byte(id >> 8), byte(id), byte(seq >> 8), byte(seq), 'g', 's', 'n'}
	sum := checksum(msg)
	msg[2], msg[3] = byte(sum>>8), byte(sum)
	if err := unix.Sendto(fd, msg, 0, &unix.SockaddrInet4{Addr: addr.As4()}); err != nil {
		t.Fatalf("ping %s from %s: %v", addr, from.Name, err)
	}
	tv := unix.NsecToTimeval((3 * time.Second).Nanoseconds())
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1500)
	for {
		m, src, err := unix.Recvfrom(fd, buf, 0)
		if err != nil {
			t.Fatalf("ping %s from %s: no reply: %v", addr, from.Name, err)
		}
		ihl := int(buf[0]&0x0f) * 4
		reply := buf[ihl:m]
		if s, ok := src.(*unix.SockaddrInet4); ok && netip.AddrFrom4(s.Addr) == addr &&
			len(reply) >= 8 && reply[0] == 0 && int(reply[4])<<8|int(reply[5]) == id {
			return
		}
	}
}

// icmpSocketIn opens a raw ICMP socket in the network namespace of pid. The
// thread that enters the namespace is never given back: it ends with its
// goroutine.
func icmpSocketIn(pid int) (int, error) {
	type result struct {
		fd  int
		err error
	}
	ch := make(chan result)
	go func() {
		runtime.LockOSThread()
		ns, err := os.Open(fmt.Sprintf("/proc/%d/ns/net", pid))
		if err != nil {
			ch <- result{-1, err}
			return
		}
		defer ns.Close()
		if err := unix.Setns(int(ns.Fd()), unix.CLONE_NEWNET); err != nil {
			ch <- result{-1, err}
			return
		}
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_ICMP)
		ch <- result{fd, err}
	}()
	r := <-ch
	return r.fd, r.err
}

func checksum(b []byte) uint16 {
	var s uint32
	for i := 0; i+1 < len(b); i += 2 {
		s += uint32(b[i])<<8 | uint32(b[i+1])
	}
	if len(b)%2 == 1 {
		s += uint32(b[len(b)-1]) << 8
	}
	for s>>16 != 0 {
		s = s&0xffff + s>>16
	}
	return ^uint16(s)
}

func sshBanner(t *testing.T, addr string) string {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 3*time.Second)
	if err != nil {
		t.Fatalf("connect to %s: %v", addr, err)
	}
	defer conn.Close()
	_ = conn.SetReadDeadline(time.Now().Add(3 * time.Second))
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		t.Fatalf("read the banner of %s: %v", addr, err)
	}
	return strings.TrimSpace(line)
}

// memory sums RSS and PSS over the processes in the PID namespace of pid.
func memory(t *testing.T, pid int) (rss, pss int64, procs int) {
	t.Helper()
	ns, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/pid", pid))
	if err != nil {
		t.Fatal(err)
	}
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, dir := range dirs {
		if other, _ := os.Readlink(dir + "/ns/pid"); other != ns {
			continue
		}
		procs++
		rss += kB(dir+"/status", "VmRSS:")
		pss += kB(dir+"/smaps_rollup", "Pss:")
	}
	return rss, pss, procs
}

func kB(path, field string) int64 {
	data, _ := os.ReadFile(path)
	for line := range strings.SplitSeq(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, field); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return n << 10
		}
	}
	return 0
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }

// systemdCgroup is pid's cgroup in the hierarchy systemd-nspawn uses: the
// named v1 hierarchy "name=systemd" if there is one, else v2.
func systemdCgroup(t *testing.T, pid int) string {
	t.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		t.Fatal(err)
	}
	var v2 string
	for line := range strings.SplitSeq(string(data), "\n") {
		f := strings.SplitN(line, ":", 3)
		switch {
		case len(f) < 3:
		case f[1] == "name=systemd":
			return f[2]
		case f[0] == "0":
			v2 = f[2]
		}
	}
	return v2
}

// mountOptions returns the per-mount options of the mount at dir as pid
// sees it.
func mountOptions(t *testing.T, pid int, dir string) string {
	t.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/mountinfo", pid))
	if err != nil {
		t.Fatal(err)
	}
	opts := ""
	for line := range strings.SplitSeq(string(data), "\n") {
		if f := strings.Fields(line); len(f) > 5 && f[4] == dir {
			opts = f[5] // the last mount at dir is the visible one
		}
	}
	if opts == "" {
		t.Fatalf("no mount at %s in process %d", dir, pid)
	}
	return opts
}

func readTrimmed(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(data))
}

package nodes

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"
)

// stopTimeout bounds an orderly power-off before the node is killed.
const stopTimeout = 30 * time.Second

// Node is one machine of a cluster: systemd, sshd and the users root, deploy
// (passwordless sudo) and operator (sudo with OperatorPassword), each with
// the cluster's client key authorized.
type Node struct {
	Name    string
	Address netip.Addr
	// SSHAddr is "Address:22".
	SSHAddr string
	// ClientKeyFile is the cluster's ClientKeyFile.
	ClientKeyFile string

	sup         *supervisor
	gateway     netip.Addr
	dir, root   string   // root: the node's root, mounted in the cluster's namespace
	cgroups     []string // the node's own cgroup in each hierarchy
	opts        NodeOptions
	nspawnArgs  []string // the options' and Kubelet's
	bootTimeout time.Duration
	hostKeys    []string // "TYPE BASE64" of each host key

	mu      sync.Mutex
	running *boot // nil while stopped
}

// boot is one run of systemd-nspawn.
type boot struct {
	cmd    *exec.Cmd // nsenter, whose child is systemd-nspawn
	exited chan struct{}
	err    error // valid after exited is closed
	nspawn int   // host PIDs
	leader int   // the node's systemd
}

func (c *Cluster) newNode(addr netip.Addr, o NodeOptions, bootTimeout time.Duration) *Node {
	dir := filepath.Join(c.Dir, o.Name)
	n := &Node{
		Name:          o.Name,
		Address:       addr,
		SSHAddr:       netip.AddrPortFrom(addr, 22).String(),
		ClientKeyFile: c.ClientKeyFile,
		sup:           c.sup,
		gateway:       c.Gateway,
		dir:           dir,
		root:          filepath.Join(dir, "root"),
		opts:          o,
		bootTimeout:   bootTimeout,
	}
	for _, cg := range c.sup.cgroups {
		n.cgroups = append(n.cgroups, filepath.Join(cg, o.Name))
	}
	return n
}

// prepare mounts the node's overlay root in the cluster's mount namespace and
// writes what makes the node itself: hostname, machine ID, address, host
// keys, authorized keys and the options' files.
func (n *Node) prepare(lower string, b base) error {
	upper, work := filepath.Join(n.dir, "upper"), filepath.Join(n.dir, "work")
	for _, d := range []string{upper, work, n.root} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	if err := n.sup.run("", "mount", "-t", "overlay", "overlay",
		"-o", "lowerdir="+lower+",upperdir="+upper+",workdir="+work, n.root); err != nil {
		return fmt.Errorf("%s: %w (the upper directory must not be on overlayfs itself: point TMPDIR at ext4, xfs or tmpfs)", n.Name, err)
	}
	root, err := openRoot(n.sup.path(n.root))
	if err != nil {
		return err
	}
	defer root.Close()
	if err := n.writeIdentity(root, b); err != nil {
		return fmt.Errorf("%s: %w", n.Name, err)
	}
	for path, content := range n.opts.Files {
		if err := root.writeFile(path, content, 0o644, 0, 0); err != nil {
			return fmt.Errorf("%s: %w", n.Name, err)
		}
	}
	n.nspawnArgs = n.opts.NspawnArgs
	if n.opts.Kubelet {
		args, err := n.prepareKubelet(root)
		if err != nil {
			return fmt.Errorf("%s: %w", n.Name, err)
		}
		n.nspawnArgs = append(args, n.nspawnArgs...)
	}
	return n.makeHostKeys(root)
}

func (n *Node) writeIdentity(root *rootDir, b base) error {
	files := []struct{ path, content string }{
		{"/etc/hostname", n.Name + "\n"},
		{"/etc/hosts", b.hosts},
		{"/etc/machine-id", randomHex(16) + "\n"},
		{"/etc/systemd/network/10-host0.network", "[Match]\nName=host0\n\n[Network]\n" +
			"Address=" + netip.PrefixFrom(n.Address, 24).String() + "\n" +
			"Gateway=" + n.gateway.String() + "\n" +
			"LinkLocalAddressing=no\nIPv6AcceptRA=no\n"},
	}
	for _, f := range files {
		if err := root.writeFile(f.path, f.content, 0o644, 0, 0); err != nil {
			return err
		}
	}
	for _, name := range []string{"root", "deploy", "operator"} {
		u := b.users[name]
		if err := root.mkdir(u.home+"/.ssh", 0o700, u.uid, u.gid); err != nil {
			return err
		}
		if err := root.writeFile(u.home+"/.ssh/authorized_keys", b.clientKey, 0o600, u.uid, u.gid); err != nil {
			return err
		}
	}
	return nil
}

// makeHostKeys generates the node's RSA, ECDSA and Ed25519 host keys, in
// parallel (RSA 2048: ssh-keygen -A's 3072 bits take up to a second).
func (n *Node) makeHostKeys(root *rootDir) error {
	types := []string{"rsa", "ecdsa", "ed25519"}
	bits := map[string]string{"rsa": "2048", "ecdsa": "256", "ed25519": "256"}
	var g errgroup.Group
	for _, typ := range types {
		g.Go(func() error {
			key := n.sup.path(n.root + "/etc/ssh/ssh_host_" + typ + "_key")
			out, err := exec.Command("ssh-keygen", "-q", "-t", typ, "-b", bits[typ], "-N", "", "-C", "root@"+n.Name, "-f", key).CombinedOutput()
			if err != nil {
				return fmt.Errorf("%s: ssh-keygen -t %s: %w: %s", n.Name, typ, err, out)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	for _, typ := range types {
		pub, err := root.readFile("/etc/ssh/ssh_host_" + typ + "_key.pub")
		if err != nil {
			return fmt.Errorf("%s: %w", n.Name, err)
		}
		f := strings.Fields(string(pub))
		if len(f) < 2 {
			return fmt.Errorf("%s: bad %s host key %q", n.Name, typ, pub)
		}
		n.hostKeys = append(n.hostKeys, f[0]+" "+f[1])
	}
	return nil
}

// KnownHosts returns the node's known_hosts lines, one per host key.
func (n *Node) KnownHosts() []string {
	lines := make([]string, len(n.hostKeys))
	for i, k := range n.hostKeys {
		lines[i] = n.Address.String() + " " + k
	}
	return lines
}

// boot starts systemd-nspawn and waits until the node's sshd answers.
func (n *Node) boot(ctx context.Context) error {
	b, err := n.spawn()
	if err != nil {
		return fmt.Errorf("%s: %w", n.Name, err)
	}
	n.mu.Lock()
	n.running = b
	n.mu.Unlock()
	return n.waitSSH(ctx, b)
}

// joinCgroups moves the shell into the cgroups whose cgroup.procs files are
// listed in $CGROUPS, then becomes the command: systemd-nspawn keeps the
// cgroup it starts in (--keep-unit) and puts the container below it.
const joinCgroups = `IFS=:; for f in $CGROUPS; do echo $$ > "$f" || exit 1; done; unset IFS CGROUPS; exec "$@"`

// spawn starts systemd-nspawn in the node's cgroups and waits until the
// node's systemd runs.
func (n *Node) spawn() (*boot, error) {
	console, err := os.OpenFile(n.consolePath(), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return nil, err
	}
	defer console.Close()
	cmd, err := n.nspawnCommand(console)
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	b := &boot{cmd: cmd, exited: make(chan struct{})}
	go func() { b.err = cmd.Wait(); close(b.exited) }()
	if err := b.findPIDs(n.bootTimeout); err != nil {
		n.kill(b)
		return nil, fmt.Errorf("systemd-nspawn did not start the node's init: %v; console:\n%s", err, n.consoleTail(30))
	}
	return b, nil
}

func (n *Node) nspawnCommand(console *os.File) (*exec.Cmd, error) {
	var procs []string
	for _, cg := range n.cgroups {
		if err := makeCgroup(cg); err != nil {
			return nil, err
		}
		procs = append(procs, filepath.Join(cg, "cgroup.procs"))
	}
	args := append([]string{"sh", "-c", joinCgroups, "sh",
		"systemd-nspawn",
		"--directory=" + n.root,
		"--machine=" + n.Name,
		"--boot",
		// No systemd or machined on the host to register with or to ask
		// for a scope: nspawn fails with "Failed to open system bus".
		"--register=no", "--keep-unit",
		"--network-bridge=" + bridge,
		// Stop sends nspawn SIGTERM; it passes this on to the node's systemd.
		"--kill-signal=SIGRTMIN+4", // poweroff
		"--console=read-only",
		"--resolv-conf=off", "--timezone=off", "--link-journal=no",
	}, n.nspawnArgs...)
	cmd := n.sup.command(args...)
	cmd.Env = []string{
		"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		"CGROUPS=" + strings.Join(procs, ":"),
		"TERM=dumb", "SYSTEMD_COLORS=0",
	}
	cmd.Stdout, cmd.Stderr = console, console
	return cmd, nil
}

// findPIDs finds systemd-nspawn, the child of nsenter, and the node's
// systemd, the child of nspawn that is PID 1 of a namespace.
func (b *boot) findPIDs(timeout time.Duration) error {
	var err error
	b.nspawn, err = waitFor(10*time.Second, b.exited, func() (int, bool) {
		for _, pid := range childPIDs(b.cmd.Process.Pid) {
			if comm(pid) == "systemd-nspawn" {
				return pid, true
			}
		}
		return 0, false
	})
	if err != nil {
		return err
	}
	b.leader, err = waitFor(timeout, b.exited, func() (int, bool) {
		for _, pid := range childPIDs(b.nspawn) {
			if isNamespaceInit(pid) {
				return pid, true
			}
		}
		return 0, false
	})
	return err
}

// waitSSH waits until sshd greets from the node's address.
func (n *Node) waitSSH(ctx context.Context, b *boot) error {
	deadline := time.Now().Add(n.bootTimeout)
	for {
		// Short tries: an attempt made before the node's network is up
		// waits in vain for ARP, 3 seconds.
		banner, err := sshBanner(n.SSHAddr, 250*time.Millisecond)
		if err == nil && strings.HasPrefix(banner, "SSH-2.0-") {
			return nil
		}
		if err == nil {
			err = fmt.Errorf("banner %q", banner)
		}
		select {
		case <-b.exited:
			return fmt.Errorf("%s: systemd-nspawn exited (%v) before sshd answered at %s; console:\n%s",
				n.Name, b.err, n.SSHAddr, n.consoleTail(30))
		case <-ctx.Done():
			return fmt.Errorf("%s: waiting for sshd at %s: %w", n.Name, n.SSHAddr, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: sshd did not answer at %s within %s (%v); console:\n%s\njournalctl --unit=ssh.service:\n%s",
				n.Name, n.SSHAddr, n.bootTimeout, err, n.consoleTail(30), n.sshJournal(ctx))
		}
	}
}

// sshJournal is the end of sshd's log on the node.
func (n *Node) sshJournal(ctx context.Context) string {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	out, _ := n.Command(ctx, "journalctl", "--unit=ssh.service", "--lines=20", "--no-pager").CombinedOutput()
	return strings.TrimSpace(string(out))
}

// sshBanner reads the first line an SSH server sends.
func sshBanner(addr string, timeout time.Duration) (string, error) {
	conn, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	_ = conn.SetReadDeadline(time.Now().Add(timeout))
	buf := make([]byte, 256)
	m, err := conn.Read(buf)
	if m == 0 {
		return "", err
	}
	line, _, _ := strings.Cut(string(buf[:m]), "\n")
	return strings.TrimSpace(line), nil
}

// PID returns the host PID of the node's systemd, or 0 while it is stopped.
func (n *Node) PID() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.running == nil {
		return 0
	}
	return n.running.leader
}

// Stop powers the node off and waits until it is down; a node that does not
// stop within 30 seconds is killed and the test fails. Its root file system
// stays (ReadFile, FileTree) until Restart or the end of the cluster.
func (n *Node) Stop(t testing.TB) {
	t.Helper()
	if err := n.stop(); err != nil {
		t.Fatalf("nodes: %v", err)
	}
}

// Restart stops the node if it runs, boots it again on the same root file
// system and waits for its sshd.
func (n *Node) Restart(t testing.TB) {
	t.Helper()
	if err := n.stop(); err != nil {
		t.Fatalf("nodes: %v", err)
	}
	if err := n.boot(t.Context()); err != nil {
		t.Fatalf("nodes: %v", err)
	}
}

func (n *Node) stop() error {
	n.mu.Lock()
	b := n.running
	n.running = nil
	n.mu.Unlock()
	if b == nil {
		return nil
	}
	// nspawn powers the node off (--kill-signal) and exits.
	_ = syscall.Kill(b.nspawn, syscall.SIGTERM)
	select {
	case <-b.exited:
	case <-time.After(stopTimeout):
		n.kill(b)
		return fmt.Errorf("%s did not power off within %s; console:\n%s", n.Name, stopTimeout, n.consoleTail(30))
	}
	if b.err != nil {
		return fmt.Errorf("%s: systemd-nspawn: %w; console:\n%s", n.Name, b.err, n.consoleTail(30))
	}
	return nil
}

// kill ends a boot at once: the node's init first (the kernel kills the rest
// of its PID namespace), then nspawn.
func (n *Node) kill(b *boot) {
	for _, pid := range []int{b.leader, b.nspawn, b.cmd.Process.Pid} {
		if pid > 0 {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	<-b.exited
}

// Console returns what the node printed on its console so far, every boot.
func (n *Node) Console() string {
	data, _ := os.ReadFile(n.consolePath())
	return string(data)
}

func (n *Node) consolePath() string { return filepath.Join(n.dir, "console.log") }

func (n *Node) consoleTail(lines int) string {
	s := tail(n.consolePath(), lines)
	if s == "" {
		return "(empty)"
	}
	return s
}

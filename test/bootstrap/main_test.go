package bootstrap

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gitsync-io/gitsync/test/aptrepo"
	"github.com/gitsync-io/gitsync/test/gitsyncbin"
	"github.com/gitsync-io/gitsync/test/images"
	"github.com/gitsync-io/gitsync/test/nodes"
	"github.com/gitsync-io/gitsync/test/releases"
)

// binary builds gitsync once per run (see gitsyncbin).
func binary() (string, error) { return gitsyncbin.Build("test-bootstrap") }

// result is one gitsync invocation.
type result = gitsyncbin.Result

// gitsync runs the binary with args, stdin and a clean environment, in a directory of its own.
func gitsync(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	return gitsyncIn(t, "", stdin, args...)
}

// gitsyncIn is gitsync run in dir.
func gitsyncIn(t *testing.T, dir, stdin string, args ...string) result {
	t.Helper()
	bin, err := binary()
	if err != nil {
		t.Fatal(err)
	}
	return gitsyncbin.Run(t, bin, gitsyncbin.Options{Dir: dir, Stdin: stdin}, args...)
}

// unreachableRepo is the fixture's default gitops.repo: nothing listens there.
const unreachableRepo = "http://127.0.0.1:9/ops/cluster.git"

// fixture is a set of test nodes and a cluster file describing them.
type fixture struct {
	t     *testing.T
	nodes *nodes.Cluster
	file  string // the cluster file
	log   string // the bootstrap log
	user  string
	known string // known_hosts
	extra string // appended to the cluster file
	// gitops is the repository the cluster is handed over to; the default, on loopback,
	// refuses connections, so runs stop at the handover's first step.
	gitops string
	roles  []string
	names  []string
}

// newFixture boots one node per role; the cluster file names them cp-1, worker-1, … so the
// hostname step has something to do.
func newFixture(t *testing.T, roles ...string) *fixture {
	t.Helper()
	opts := nodes.Options{}
	f := &fixture{t: t, user: "deploy", roles: roles}
	for i, role := range roles {
		opts.Nodes = append(opts.Nodes, nodes.NodeOptions{Name: fmt.Sprintf("node%d", i+1), Kubelet: true})
		kind := "cp"
		if role == "worker" {
			kind = "worker"
		}
		f.names = append(f.names, fmt.Sprintf("%s-%d", kind, i+1))
	}
	f.nodes = nodes.Start(t, opts)
	t.Cleanup(f.logKubeletOnFailure) // before the nodes go: cleanups run last first
	f.known = f.nodes.KnownHostsFile(t)
	// The Kubernetes packages from a repository the nodes reach on the gateway; containerd
	// from a mirror on loopback, since gitsync downloads it and uploads it to the nodes.
	repo := aptrepo.Serve(t, f.nodes.Gateway, aptrepo.Repository{Minor: "v1.37",
		Debs: aptrepo.KubernetesDebs(t, "1.37.2", "1.1"), Signer: aptrepo.NewKey(t, "test")})
	containerd := releases.Serve(t)
	// kubeadm's images, built from source, from a registry on the gateway, over plain HTTP
	// as the mirror of registry.k8s.io: nothing is pulled from elsewhere.
	imgs := images.Kubernetes(t, "v1.37.2")
	registry := images.ServeRegistry(t, f.nodes.Gateway)
	images.Push(t, registry, imgs)
	var mirrors []string
	for _, r := range images.Registries(imgs) {
		mirrors = append(mirrors, fmt.Sprintf("%q: \"http://%s\"", r, registry))
	}
	// The nodes boot cgroup v1 and cannot lower an oom_score_adj (nodes.KubeletSettings).
	f.extra = fmt.Sprintf("kubernetesVersion: v1.37.2\ncontainerd: {version: %s, restrictOOMScoreAdj: true}\n%s"+
		"mirrors: {kubernetes: %s, containerd: %s, registries: {%s}}\n",
		containerd.Version, nodes.KubeletSettings, repo.URL, containerd.URL, strings.Join(mirrors, ", "))
	dir := t.TempDir()
	f.file, f.log = filepath.Join(dir, "cluster.yaml"), filepath.Join(dir, "bootstrap.log")
	f.write()
	return f
}

// logKubeletOnFailure logs, when the test failed, how each node's kubelet
// fared: how often systemd restarted it and how it last exited, systemd's
// lines about it, the kubelet's last error lines, and the journal's end. A
// kubeadm init or join that timed out waiting for the kubelet says only
// that it did not answer, and the journal's end is one start of a kubelet
// that systemd may have restarted every 10 s: why it exited came earlier.
// A healthy kubelet logs errors too (a node not registered yet), so
// systemd's lines, which say when it exited, are kept apart from them.
func (f *fixture) logKubeletOnFailure() {
	if !f.t.Failed() {
		return
	}
	run := func(n *nodes.Node, args ...string) string {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		out, err := n.Command(ctx, args...).CombinedOutput()
		if err != nil {
			return fmt.Sprintf("%s(%v)\n", out, err)
		}
		return string(out)
	}
	for _, n := range f.nodes.Nodes {
		state := run(n, "systemctl", "show", "kubelet.service", "--property=NRestarts,ExecMainStatus,ExecMainExitTimestamp,ActiveState")
		journal := run(n, "journalctl", "--unit=kubelet.service", "--no-pager", "--output=short-precise")
		var unit, errs []string
		for line := range strings.Lines(journal) {
			switch {
			case systemdOnKubelet.MatchString(line):
				unit = append(unit, line)
			case kubeletError.MatchString(line):
				errs = append(errs, line)
			}
		}
		lines := strings.SplitAfter(journal, "\n")
		f.t.Logf("%s: kubelet.service:\n%s\nsystemd's lines about it (the last 100):\n%s\nits error lines (the last 30):\n%s\nthe journal's last 40 lines:\n%s",
			n.Name, state, last(unit, 100), last(errs, 30), strings.Join(lines[max(0, len(lines)-41):], ""))
	}
}

// systemdOnKubelet matches systemd's journal lines about the kubelet's unit
// (started, exited and how, restart scheduled); kubeletError the kubelet's
// own error and fatal lines ("E1207 13:41:34.123456 ...").
var (
	systemdOnKubelet = regexp.MustCompile(`systemd\[1\]: .*kubelet\.service`)
	kubeletError     = regexp.MustCompile(`\]: [EF]\d{4} `)
)

// last joins the last n lines.
func last(lines []string, n int) string { return strings.Join(lines[max(0, len(lines)-n):], "") }

func (f *fixture) write() {
	var b strings.Builder
	fmt.Fprintf(&b, "apiVersion: gitsync.io/v1alpha1\nkind: Cluster\nname: test\n")
	fmt.Fprintf(&b, "ssh: {user: %s, keyFile: %s, knownHostsFile: %s}\nnodes:\n", f.user, f.nodes.ClientKeyFile, f.known)
	for i, n := range f.nodes.Nodes {
		fmt.Fprintf(&b, "- {name: %s, address: %s, role: %s}\n", f.names[i], n.Address, f.roles[i])
	}
	gitops := f.gitops
	if gitops == "" {
		gitops = unreachableRepo
	}
	fmt.Fprintf(&b, "gitops: {repo: %s}\n", gitops)
	b.WriteString(f.extra)
	if err := os.WriteFile(f.file, []byte(b.String()), 0o600); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) bootstrap(args ...string) result {
	f.t.Helper()
	return gitsync(f.t, "", append([]string{"bootstrap", "--config", f.file, "--log", f.log}, args...)...)
}

// lines returns the output lines of step on node.
func lines(out, node, step string) []string {
	var found []string
	for _, l := range strings.Split(out, "\n") {
		if fs := strings.Fields(l); len(fs) >= 2 && fs[0] == node && fs[1] == step {
			found = append(found, l)
		}
	}
	return found
}

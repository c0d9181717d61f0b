package bootstrap

import (
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gitsync-io/gitsync/test/nodes"
)

// nodeSteps are the steps every node goes through so far, in order; the first control plane
// then gets kubeadm's configuration.
var nodeSteps = []string{"hostname", "hosts", "time", "swap", "kernel", "packages", "containerd"}

const notImplemented = "the steps after that (kubeadm init, join, calico, gitsync) are not implemented yet"

// TestPrepare takes fresh nodes through the operating-system steps: a dry run changes nothing,
// a run applies every step and verifies it, a second run finds everything done and changes
// nothing.
func TestPrepare(t *testing.T) {
	f := newFixture(t, "control-plane", "worker")
	trees := func() map[string]map[string]string {
		out := map[string]map[string]string{}
		for _, n := range f.nodes.Nodes {
			out[n.Name] = nodes.FileTree(t, n, "/etc")
		}
		return out
	}
	before := trees()

	t.Run("a dry run connects, says what would run, and changes nothing", func(t *testing.T) {
		r := f.bootstrap("--dry-run")
		for _, node := range f.names {
			if got := lines(r.stdout, node, "facts"); len(got) == 0 || !strings.Contains(got[len(got)-1], "done: debian 12 amd64") {
				t.Errorf("%s facts: %q", node, got)
			}
			for _, step := range []string{"hostname", "hosts", "kernel", "packages", "containerd"} {
				if got := lines(r.stdout, node, step); len(got) != 1 || !strings.Contains(got[0], "would run") {
					t.Errorf("%s %s: %q, want one line saying it would run\n%s", node, step, got, r)
				}
			}
			if got := lines(r.stdout, node, "time"); len(got) != 1 || !strings.Contains(got[0], "done: a systemd-nspawn container keeps its host's clock") {
				t.Errorf("%s time: %q", node, got)
			}
		}
		if !strings.Contains(r.stdout, "    hostnamectl set-hostname 'cp-1'") {
			t.Errorf("the dry run does not show the commands:\n%s", r.stdout)
		}
		if diff := cmp.Diff(before, trees()); diff != "" {
			t.Errorf("the dry run changed files on the nodes (-before +after):\n%s", diff)
		}
	})

	t.Run("a run applies every step on every node", func(t *testing.T) {
		r := f.bootstrap()
		if r.code == 0 || !strings.Contains(r.stderr, notImplemented) {
			t.Errorf("want the run to stop after the OS steps, saying what is not implemented:\n%s", r)
		}
		for i, node := range f.names {
			for _, step := range []string{"hostname", "hosts", "kernel", "packages", "containerd"} {
				if got := lines(r.stdout, node, step); len(got) != 2 || !strings.Contains(got[1], "applied") {
					t.Errorf("%s %s: %q, want applying then applied\n%s", node, step, got, r)
				}
			}
			n := f.nodes.Nodes[i]
			if got := strings.TrimSpace(n.Exec(t, "hostname")); got != node {
				t.Errorf("hostname of %s is %q, want %q", n.Name, got, node)
			}
			hosts := strings.Join(strings.Fields(n.Exec(t, "getent", "hosts", f.names[0], f.names[1])), " ")
			if !strings.Contains(hosts, f.nodes.Nodes[0].Address.String()+" "+f.names[0]) ||
				!strings.Contains(hosts, f.nodes.Nodes[1].Address.String()+" "+f.names[1]) {
				t.Errorf("%s resolves the nodes as %q", node, hosts)
			}
			if got := strings.TrimSpace(n.Exec(t, "sysctl", "-n", "net.ipv4.ip_forward")); got != "1" {
				t.Errorf("%s net.ipv4.ip_forward = %s, want 1", node, got)
			}
			if got := string(n.ReadFile(t, "/etc/modules-load.d/kubernetes.conf")); !strings.Contains(got, "br_netfilter") {
				t.Errorf("%s modules-load.d: %q", node, got)
			}
			if got := strings.TrimSpace(n.Exec(t, "kubeadm", "version", "-o", "short")); got != "v1.37.2" {
				t.Errorf("%s kubeadm version %q", node, got)
			}
			if got := n.Exec(t, "apt-mark", "showhold"); strings.Count(got, "kube") != 3 {
				t.Errorf("%s holds %q, want kubeadm, kubectl and kubelet", node, got)
			}
			if got := strings.TrimSpace(n.Exec(t, "systemctl", "is-active", "containerd")); got != "active" {
				t.Errorf("%s containerd is %s", node, got)
			}
		}
		if got := lines(r.stdout, "cp-1", "kubeadm-config"); len(got) != 2 || !strings.Contains(got[1], "applied") {
			t.Errorf("kubeadm-config on cp-1: %q", got)
		}
		if got := lines(r.stdout, f.names[1], "kubeadm-config"); len(got) != 0 {
			t.Errorf("kubeadm-config ran on a worker: %q", got)
		}
		cp := f.nodes.Nodes[0]
		secrets := string(cp.ReadFile(t, "/etc/kubernetes/gitsync/secrets"))
		token, _, _ := strings.Cut(strings.TrimPrefix(secrets, "token="), "\n")
		if mode := strings.TrimSpace(cp.Exec(t, "stat", "-c", "%a", "/etc/kubernetes/gitsync/kubeadm.yaml", "/etc/kubernetes/gitsync/secrets")); mode != "600\n600" {
			t.Errorf("kubeadm.yaml and secrets have modes %q, want 600", mode)
		}
		if log := readFile(t, f.log); len(token) != 23 || strings.Contains(log, token) || strings.Contains(r.stdout+r.stderr, token) {
			t.Errorf("the bootstrap token %q is in the log or the output, or malformed", token)
		}
		if out := cp.Exec(t, "kubeadm", "config", "validate", "--config", "/etc/kubernetes/gitsync/kubeadm.yaml"); !strings.Contains(out, "ok") {
			t.Errorf("kubeadm config validate on cp-1: %s", out)
		}
		if log, err := os.ReadFile(f.log); err != nil || !strings.Contains(string(log), "hostnamectl set-hostname") {
			t.Errorf("the log %s does not hold the commands run: %v", f.log, err)
		}
	})

	t.Run("a second run finds every step done and changes nothing", func(t *testing.T) {
		applied := trees()
		r := f.bootstrap()
		if got := lines(r.stdout, "cp-1", "kubeadm-config"); len(got) != 1 || !strings.Contains(got[0], " done") {
			t.Errorf("kubeadm-config on the second run: %q, want done", got)
		}
		for _, node := range f.names {
			for _, step := range nodeSteps {
				if got := lines(r.stdout, node, step); len(got) != 1 || !strings.Contains(got[0], " done") {
					t.Errorf("%s %s: %q, want done\n%s", node, step, got, r)
				}
			}
		}
		if diff := cmp.Diff(applied, trees()); diff != "" {
			t.Errorf("the second run changed files (-before +after):\n%s", diff)
		}
	})
}

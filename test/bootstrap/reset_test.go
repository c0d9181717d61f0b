package bootstrap

import (
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gitsync-io/gitsync/test/nodes"
)

// TestReset tears down real kubeadm state: nodes prepared by gitsync bootstrap, then, with the
// node's own kubeadm, a control plane's certificates, kubeconfigs and static pod manifests;
// and the rest a cluster leaves (CNI configuration, root's kubeconfig, kube-proxy's and
// Calico's iptables chains, Calico's links, etcd data). A dry run changes nothing; --node
// resets only that node; a reset leaves nothing of the cluster but keeps the machine's own
// firewall rule, containerd and the packages, and removes the local admin kubeconfig; a
// second reset finds every node done.
func TestReset(t *testing.T) {
	f := newFixture(t, "control-plane", "worker")
	stopsAtRepository(t, f.bootstrap()) // a real cluster, not handed over
	cp, worker := f.nodes.Nodes[0], f.nodes.Nodes[1]
	quiesce(t, cp)
	quiesce(t, worker)
	addCalico(t, cp)
	addCalico(t, worker)
	for _, tc := range []struct {
		node *nodes.Node
		want []string
	}{{cp, controlPlaneLeftovers}, {worker, workerLeftovers}} {
		if missing := missingFrom(leftovers(t, tc.node), tc.want); len(missing) > 0 {
			t.Fatalf("%s before the reset lacks %q; it has:\n%s", tc.node.Name, missing, strings.Join(leftovers(t, tc.node), "\n"))
		}
	}
	dir := t.TempDir() // the working directory, holding the admin kubeconfig bootstrap would write
	kubeconfig := filepath.Join(dir, "test.kubeconfig")
	if err := os.WriteFile(kubeconfig, cp.ReadFile(t, "/etc/kubernetes/admin.conf"), 0o600); err != nil {
		t.Fatal(err)
	}
	packages := installed(t, cp) + installed(t, worker)

	t.Run("an unknown node is refused, named, before anything connects", func(t *testing.T) {
		log := filepath.Join(t.TempDir(), "reset.log")
		r := f.reset(dir, "--node", "worker-2", "--node", "worker-9", "--log", log)
		if r.Code == 0 || !strings.Contains(r.Stderr, "--node: no node named worker-9 in the cluster file, whose nodes are cp-1, worker-2") {
			t.Errorf("want an error naming worker-9 and the cluster file's nodes:\n%s", r)
		}
		if _, err := os.Stat(log); !errors.Is(err, os.ErrNotExist) || r.Stdout != "" || strings.Contains(r.Stderr, "connect") {
			t.Errorf("it went on to connect (log %s: %v):\n%s", log, err, r)
		}
	})

	t.Run("a dry run says what would run on every node and changes nothing", func(t *testing.T) {
		before := map[string]map[string]string{"cp": state(t, cp), "worker": state(t, worker)}
		r := f.reset(dir, "--dry-run")
		if r.Code != 0 {
			t.Errorf("the dry run failed:\n%s", r)
		}
		for _, node := range f.names {
			if got := lines(r.Stdout, node, "reset"); len(got) != 1 || !strings.Contains(got[0], "would run: left: ") {
				t.Errorf("%s reset: %q, want one line saying it would run and what is left\n%s", node, got, r)
			}
		}
		for _, want := range []string{"    if command -v kubeadm >/dev/null; then kubeadm reset --force --cri-socket unix:///var/run/containerd/containerd.sock; fi",
			"-restore -c", "ip link delete $link", "would remove the administrator's kubeconfig test.kubeconfig"} {
			if !strings.Contains(r.Stdout, want) {
				t.Errorf("the dry run does not say %q:\n%s", want, r.Stdout)
			}
		}
		after := map[string]map[string]string{"cp": state(t, cp), "worker": state(t, worker)}
		if diff := cmp.Diff(before, after); diff != "" {
			t.Errorf("the dry run changed the nodes (-before +after):\n%s", diff)
		}
		if _, err := os.Stat(kubeconfig); err != nil {
			t.Errorf("the dry run removed the local kubeconfig: %v", err)
		}
	})

	t.Run("--node resets only the node named", func(t *testing.T) {
		before := state(t, cp)
		r := f.reset(dir, "--node", "worker-2")
		if got := lines(r.Stdout, "worker-2", "reset"); r.Code != 0 || len(got) != 2 || !strings.Contains(got[0], "applying") || !strings.Contains(got[1], "applied") {
			t.Errorf("worker-2 reset: %q, want applying then applied\n%s", got, r)
		}
		if got := lines(r.Stdout, "cp-1", "reset"); len(got) != 0 {
			t.Errorf("cp-1 was reset: %q", got)
		}
		if got := leftovers(t, worker); len(got) != 0 {
			t.Errorf("left on worker-2: %q", got)
		}
		if diff := cmp.Diff(before, state(t, cp)); diff != "" {
			t.Errorf("cp-1 changed (-before +after):\n%s", diff)
		}
		if _, err := os.Stat(kubeconfig); err != nil || strings.Contains(r.Stdout, "administrator's kubeconfig") {
			t.Errorf("a reset of one node touched the local kubeconfig (%v):\n%s", err, r.Stdout)
		}
	})

	// worker-2 again, so the whole reset resets both nodes.
	worker.Exec(t, "sh", "-c", `mkdir -p /etc/kubernetes && printf 'apiVersion: v1\nkind: Config\n' > /etc/kubernetes/kubelet.conf`)
	t.Run("a reset leaves nothing of the cluster, resets workers first, keeps the rest and removes the local kubeconfig", func(t *testing.T) {
		containerdConfig := nodes.FileTree(t, cp, "/etc/containerd")
		r := f.reset(dir)
		if r.Code != 0 {
			t.Errorf("the reset failed:\n%s", r)
		}
		for _, node := range f.names {
			if got := lines(r.Stdout, node, "reset"); len(got) != 2 || !strings.Contains(got[0], "applying") || !strings.Contains(got[1], "applied") {
				t.Errorf("%s reset: %q, want applying then applied\n%s", node, got, r)
			}
		}
		if w, c := lines(r.Stdout, "worker-2", "reset"), lines(r.Stdout, "cp-1", "reset"); len(w) == 2 && len(c) == 2 &&
			strings.Index(r.Stdout, w[1]) > strings.Index(r.Stdout, c[0]) {
			t.Errorf("cp-1 was reset before worker-2 was done:\n%s", r.Stdout)
		}
		for _, n := range f.nodes.Nodes {
			if got := leftovers(t, n); len(got) != 0 {
				t.Errorf("left on %s: %q", n.Name, got)
			}
		}
		for _, save := range []string{"iptables-save", "ip6tables-save"} {
			if got := cp.Exec(t, save); !strings.Contains(got, "-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT") {
				t.Errorf("the machine's own rule letting SSH in is gone from %s:\n%s", save, got)
			}
		}
		if diff := cmp.Diff(containerdConfig, nodes.FileTree(t, cp, "/etc/containerd")); diff != "" {
			t.Errorf("containerd's configuration changed (-before +after):\n%s", diff)
		}
		if got := installed(t, cp) + installed(t, worker); got != packages {
			t.Errorf("the packages changed:\n%s\nwant:\n%s", got, packages)
		}
		if got := strings.TrimSpace(cp.Exec(t, "kubeadm", "version", "-o", "short")); got != "v1.37.2" {
			t.Errorf("kubeadm version %q after the reset", got)
		}
		if log := readFile(t, f.log); !strings.Contains(log, "["+f.user+"@"+cp.SSHAddr+"]   out| [reset] Deleting contents of directories: [/etc/kubernetes/manifests /var/lib/kubelet /etc/kubernetes/pki]") {
			t.Errorf("kubeadm reset did not run on cp-1; the log:\n%s", log)
		}
		if _, err := os.Stat(kubeconfig); !errors.Is(err, os.ErrNotExist) || !strings.Contains(r.Stdout, "removed the administrator's kubeconfig test.kubeconfig") {
			t.Errorf("the local kubeconfig (%v):\n%s", err, r.Stdout)
		}
	})

	t.Run("a second reset finds every node done and changes nothing", func(t *testing.T) {
		before := map[string]map[string]string{"cp": state(t, cp), "worker": state(t, worker)}
		r := f.reset(dir)
		if r.Code != 0 || !strings.Contains(r.Stdout, "no administrator's kubeconfig test.kubeconfig to remove") {
			t.Errorf("the second reset:\n%s", r)
		}
		for _, node := range f.names {
			if got := lines(r.Stdout, node, "reset"); len(got) != 1 || !strings.HasSuffix(got[0], " done") {
				t.Errorf("%s reset: %q, want done", node, got)
			}
		}
		after := map[string]map[string]string{"cp": state(t, cp), "worker": state(t, worker)}
		if diff := cmp.Diff(before, after); diff != "" {
			t.Errorf("the second reset changed the nodes (-before +after):\n%s", diff)
		}
	})
}

// quiesce stops what changes a node between two looks: the kubelet (masked until the node
// reboots) and every pod, etcd and kube-proxy included. What the cluster left stays. It first
// waits for the kubelet's chain KUBE-FIREWALL, which a reset must remove: a worker's kubelet
// makes it some seconds after the join (CI once masked the kubelet before).
func quiesce(t *testing.T, n *nodes.Node) {
	t.Helper()
	n.Exec(t, "sh", "-c", `for i in $(seq 600); do iptables -S KUBE-FIREWALL >/dev/null 2>&1 && exit 0; sleep 0.2; done
echo "the kubelet made no chain KUBE-FIREWALL in 2 minutes" >&2; exit 1`)
	n.Exec(t, "systemctl", "mask", "--runtime", "--now", "kubelet")
	n.Exec(t, "sh", "-c", `for task in $(ctr -n k8s.io tasks ls -q); do ctr -n k8s.io tasks kill -s SIGKILL $task; done
for i in $(seq 100); do ctr -n k8s.io tasks ls | grep -q RUNNING || exit 0; sleep 0.1; done; echo "tasks still running" >&2; exit 1`)
}

// addCalico adds what Calico leaves on a node and the pod network of these nodes does not
// (the handover stops before any CNI), and the machine's own firewall rule letting SSH in,
// which a reset must keep.
func addCalico(t *testing.T, n *nodes.Node) {
	t.Helper()
	n.Exec(t, "sh", "-c", `set -e
mkdir -p /etc/cni/net.d /root/.kube
echo '{"name": "k8s-pod-network", "cniVersion": "0.3.1", "plugins": [{"type": "calico"}]}' > /etc/cni/net.d/10-calico.conflist
if [ -f /etc/kubernetes/admin.conf ]; then cp /etc/kubernetes/admin.conf /root/.kube/config; fi
iptables -A INPUT -p tcp --dport 22 -j ACCEPT
iptables -N cali-INPUT
iptables -A INPUT -m comment --comment cali:Cz_u1IQiXIMmKD4c -j cali-INPUT
ip6tables -A INPUT -p tcp --dport 22 -j ACCEPT
ip6tables -N KUBE-FIREWALL-TEST
ip6tables -A OUTPUT -j KUBE-FIREWALL-TEST
ip link add vxlan.calico type vxlan id 4096 dstport 4789
ip link add cni0 type bridge
ip link set cni0 up
ip link add cali0123456789a type veth peer name pod0
ip route add 10.244.99.0/24 dev cni0`)
}

// Some of what each node holds before a reset, as leftovers lists it: kubeadm's files, the
// kubelet's chains, and addCalico's.
var (
	controlPlaneLeftovers = sorted(
		"/etc/kubernetes/admin.conf", "/etc/kubernetes/super-admin.conf", "/etc/kubernetes/kubelet.conf",
		"/etc/kubernetes/controller-manager.conf", "/etc/kubernetes/scheduler.conf", "/etc/kubernetes/pki",
		"/etc/kubernetes/gitsync", "/var/lib/kubelet/config.yaml", "/root/.kube/config",
		"/etc/kubernetes/manifests/etcd.yaml", "/etc/kubernetes/manifests/kube-apiserver.yaml",
		"/etc/kubernetes/manifests/kube-controller-manager.yaml", "/etc/kubernetes/manifests/kube-scheduler.yaml",
		"/var/lib/etcd/member", "/etc/cni/net.d/10-calico.conflist",
		"iptables :KUBE-FIREWALL - ", "iptables :cali-INPUT - ",
		`iptables -A INPUT -m comment --comment "cali:Cz_u1IQiXIMmKD4c" -j cali-INPUT`,
		"ip6tables :KUBE-FIREWALL-TEST - ", "ip6tables -A OUTPUT -j KUBE-FIREWALL-TEST",
		"link vxlan.calico", "link cni0", "link cali0123456789a", "route 10.244.99.0/24",
	)
	workerLeftovers = sorted("/etc/kubernetes/kubelet.conf", "/etc/cni/net.d/10-calico.conflist", "iptables :KUBE-FIREWALL - ", "link cni0")
)

// missingFrom returns the entries of want that have lacks.
func missingFrom(have, want []string) []string {
	var missing []string
	for _, w := range want {
		if !slices.Contains(have, w) {
			missing = append(missing, w)
		}
	}
	return missing
}

func sorted(s ...string) []string { slices.Sort(s); return s }

// leftovers lists, sorted, what is left of a cluster on node n: files, the entries of the
// directories that must be empty, the iptables and ip6tables chains named KUBE-* or cali-*,
// their rules and the rules jumping to them, Calico's and the bridge plugin's links, and the
// routes into the pod subnet.
func leftovers(t *testing.T, n *nodes.Node) []string {
	t.Helper()
	out := n.Exec(t, "sh", "-c", `
for f in /etc/kubernetes/admin.conf /etc/kubernetes/super-admin.conf /etc/kubernetes/kubelet.conf \
  /etc/kubernetes/controller-manager.conf /etc/kubernetes/scheduler.conf /etc/kubernetes/pki \
  /etc/kubernetes/gitsync /var/lib/kubelet/config.yaml /root/.kube/config; do
  if [ -e $f ]; then echo $f; fi
done
for d in /etc/kubernetes/manifests /var/lib/etcd /etc/cni/net.d; do
  if [ -d $d ]; then find $d -mindepth 1 -maxdepth 1; fi
done
for t in iptables ip6tables; do
  $t-save | grep -E -e '^:(KUBE|cali)-' -e '^-A (KUBE|cali)-' -e ' -[jg] (KUBE|cali)-' | sed "s/^/$t /"
done
ip -o link show | awk -F': ' '{sub(/@.*/, "", $2); print "link " $2}' | grep -E '^link (vxlan\.calico|tunl0|cni0|cali)'
ip -o route show to root 10.244.0.0/16 | awk '{print "route " $1}'
true`)
	var found []string
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if l != "" {
			found = append(found, counters.ReplaceAllString(l, ""))
		}
	}
	return sorted(found...)
}

// counters are iptables' packet and byte counts, which traffic changes.
var counters = regexp.MustCompile(`\[\d+:\d+\]`)

// state describes node n as a reset could change it: the files of /etc, /root and the
// directories kubeadm and the CNI keep state in, the iptables and ip6tables rules, and the
// network links.
func state(t *testing.T, n *nodes.Node) map[string]string {
	t.Helper()
	dirs := []string{"/etc", "/root"}
	for _, d := range []string{"/var/lib/etcd", "/var/lib/kubelet", "/var/lib/cni"} {
		if strings.TrimSpace(n.Exec(t, "sh", "-c", "[ -d "+d+" ] && echo yes || true")) == "yes" {
			dirs = append(dirs, d)
		}
	}
	s := nodes.FileTree(t, n, dirs...)
	for _, save := range []string{"iptables-save", "ip6tables-save"} {
		var rules []string
		for _, l := range strings.Split(n.Exec(t, save), "\n") {
			if !strings.HasPrefix(l, "#") {
				rules = append(rules, counters.ReplaceAllString(l, ""))
			}
		}
		s[save] = strings.Join(rules, "\n")
	}
	links := strings.Fields(n.Exec(t, "sh", "-c", `ip -o link show | awk -F': ' '{print $2}'`))
	slices.Sort(links)
	s["links"] = strings.Join(links, " ")
	return s
}

// reset runs `gitsync bootstrap reset` on the fixture's cluster with dir as its working
// directory, where a reset of the whole cluster removes the admin kubeconfig.
func (f *fixture) reset(dir string, args ...string) result {
	f.t.Helper()
	return gitsyncIn(f.t, dir, "", append([]string{"bootstrap", "reset", "--config", f.file, "--log", f.log}, args...)...)
}

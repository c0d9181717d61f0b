package bootstrap

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"

	gbootstrap "github.com/gitsync-io/gitsync/pkg/bootstrap"
	"github.com/gitsync-io/gitsync/test/nodes"
)

// nodeSteps are the steps every node goes through so far, in order; the first control plane
// then gets kubeadm's configuration.
var nodeSteps = []string{"hostname", "hosts", "time", "swap", "kernel", "packages", "containerd"}

// stopsAtRepository checks that the run made the cluster, kubeadm init on cp-1 and the
// joins, for real, and went on to hand it over, which stopped at its first step: the
// fixture's repository refuses connections.
func stopsAtRepository(t *testing.T, r result) {
	t.Helper()
	got := lines(r.Stdout, "cp-1", "kubeadm-init")
	if r.Code == 0 || len(got) == 0 || !regexp.MustCompile(` (applied|done)`).MatchString(got[len(got)-1]) ||
		!strings.Contains(r.Stderr, "step repository: ") || !strings.Contains(r.Stderr, unreachableRepo) || !strings.Contains(r.Stderr, "connection refused") {
		t.Fatalf("want kubeadm init done on cp-1 and the run stopped at the handover's repository step:\n%s", r)
	}
	if got := lines(r.Stdout, "cluster", "kubeconfig"); len(got) != 1 {
		t.Errorf("kubeconfig: %q, want the administrator's kubeconfig written\n%s", got, r)
	}
}

func hostCgroupV2(t *testing.T) bool {
	var st syscall.Statfs_t
	if err := syscall.Statfs("/sys/fs/cgroup", &st); err != nil {
		t.Fatal(err)
	}
	return st.Type == 0x63677270 // CGROUP2_SUPER_MAGIC
}

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
			if got := lines(r.Stdout, node, "facts"); !slices.ContainsFunc(got, func(l string) bool { return strings.Contains(l, "done: debian 12 amd64") }) {
				t.Errorf("%s facts: %q", node, got)
			}
			for _, step := range []string{"hostname", "hosts", "kernel", "packages", "containerd"} {
				if got := lines(r.Stdout, node, step); len(got) != 1 || !strings.Contains(got[0], "would run") {
					t.Errorf("%s %s: %q, want one line saying it would run\n%s", node, step, got, r)
				}
			}
			if got := lines(r.Stdout, node, "time"); len(got) != 1 || !strings.Contains(got[0], "done: a systemd-nspawn container keeps its host's clock") {
				t.Errorf("%s time: %q", node, got)
			}
		}
		if !strings.Contains(r.Stdout, "    hostnamectl set-hostname 'cp-1'") {
			t.Errorf("the dry run does not show the commands:\n%s", r.Stdout)
		}
		for node, steps := range map[string][]string{"cp-1": {"images", "kubeadm-config", "kubeadm-init"}, "worker-2": {"kubeadm-join"},
			"cluster": {"kubeconfig", "repository", "calico", "nodes", "gitsync", "gitsync-leads"}} {
			for _, step := range steps {
				if got := lines(r.Stdout, node, step); len(got) != 1 || !strings.Contains(got[0], "would run") {
					t.Errorf("%s %s: %q, want one line saying it would run", node, step, got)
				}
			}
		}
		for _, cmd := range []string{"    kubeadm init --config /etc/kubernetes/gitsync/kubeadm.yaml", "    kubeadm join --config /etc/kubernetes/gitsync/join.yaml",
			"    gitsync sync --repo " + unreachableRepo + " --ref main --path manifests/calico --name calico -n gitsync-system"} {
			if !strings.Contains(r.Stdout, cmd) {
				t.Errorf("the dry run does not show %q:\n%s", cmd, r.Stdout)
			}
		}
		if diff := cmp.Diff(before, trees()); diff != "" {
			t.Errorf("the dry run changed files on the nodes (-before +after):\n%s", diff)
		}
	})

	t.Run("a run applies every step on every node", func(t *testing.T) {
		r := f.bootstrap()
		stopsAtRepository(t, r)
		if got := lines(r.Stdout, "cp-1", "kubeadm-init"); len(got) != 2 || !strings.Contains(got[1], "applied") {
			t.Errorf("kubeadm-init: %q, want applying then applied", got)
		}
		if got := lines(r.Stdout, "worker-2", "kubeadm-join"); len(got) != 2 || !strings.Contains(got[1], "applied") {
			t.Errorf("kubeadm-join on worker-2: %q, want applying then applied", got)
		}
		for i, node := range f.names {
			for _, step := range []string{"hostname", "hosts", "kernel", "packages", "containerd"} {
				if got := lines(r.Stdout, node, step); len(got) != 2 || !strings.Contains(got[1], "applied") {
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
		if got := lines(r.Stdout, "cp-1", "kubeadm-config"); len(got) != 2 || !strings.Contains(got[1], "applied") {
			t.Errorf("kubeadm-config on cp-1: %q", got)
		}
		// kubeadm pulled its images through the CRI, from the registry mirror.
		if got := lines(r.Stdout, "cp-1", "images"); len(got) != 2 || !strings.Contains(got[0], "applying: missing: ") || !strings.Contains(got[1], "applied") {
			t.Errorf("images on cp-1: %q, want the missing images pulled", got)
		}
		if got := f.nodes.Nodes[0].Exec(t, "ctr", "-n", "k8s.io", "images", "ls", "-q"); strings.Count(got, "registry.k8s.io/") < 7 {
			t.Errorf("cp-1 holds the images %q, want kubeadm's seven", got)
		}
		if got := lines(r.Stdout, f.names[1], "images"); len(got) != 0 {
			t.Errorf("a worker pulled the control-plane images: %q", got)
		}
		if got := lines(r.Stdout, f.names[1], "kubeadm-config"); len(got) != 0 {
			t.Errorf("kubeadm-config ran on a worker: %q", got)
		}
		cp := f.nodes.Nodes[0]
		secrets := string(cp.ReadFile(t, "/etc/kubernetes/gitsync/secrets"))
		token, _, _ := strings.Cut(strings.TrimPrefix(secrets, "token="), "\n")
		if mode := strings.TrimSpace(cp.Exec(t, "stat", "-c", "%a", "/etc/kubernetes/gitsync/kubeadm.yaml", "/etc/kubernetes/gitsync/secrets")); mode != "600\n600" {
			t.Errorf("kubeadm.yaml and secrets have modes %q, want 600", mode)
		}
		if log := readFile(t, f.log); len(token) != 23 || strings.Contains(log, token) || strings.Contains(r.Stdout+r.Stderr, token) {
			t.Errorf("the bootstrap token %q is in the log or the output, or malformed", token)
		}
		if out := cp.Exec(t, "kubeadm", "config", "validate", "--config", "/etc/kubernetes/gitsync/kubeadm.yaml"); !strings.Contains(out, "ok") {
			t.Errorf("kubeadm config validate on cp-1: %s", out)
		}
		if log, err := os.ReadFile(f.log); err != nil || !strings.Contains(string(log), "hostnamectl set-hostname") {
			t.Errorf("the log %s does not hold the commands run: %v", f.log, err)
		}
	})

	t.Run("kubeadm init --dry-run with the node's configuration makes the cluster of the cluster file", func(t *testing.T) {
		cp := f.nodes.Nodes[0]
		dir := "/var/lib/kubeadm-init-dry-run" // not /tmp: a tmpfs of the node, which ReadFile does not see
		t.Cleanup(func() { _ = cp.Command(context.Background(), "rm", "-rf", dir).Run() })
		// The node runs that cluster already: preflight finds its ports and files taken, so
		// every check is skipped, with a copy of the file without the checks it skips itself.
		// certificatesDir elsewhere, or the dry run would use the cluster's own certificates.
		cp.Exec(t, "sh", "-c", "mkdir -p "+dir+" && sed -e '/ignorePreflightErrors:/,+1d' -e 's|^kind: ClusterConfiguration$|&\\ncertificatesDir: "+dir+"/pki|' "+
			"/etc/kubernetes/gitsync/kubeadm.yaml >"+dir+"/kubeadm.yaml")
		args := []string{"env", "KUBEADM_INIT_DRYRUN_DIR=" + dir, "kubeadm", "init", "--dry-run", "--config", dir + "/kubeadm.yaml",
			"--ignore-preflight-errors=all"}
		out, err := cp.Command(t.Context(), args...).CombinedOutput()
		if err != nil {
			t.Fatalf("kubeadm init --dry-run: %v\n%s", err, out)
		}
		address := cp.Address.String()
		if want := "signed for DNS names [cp-1 kubernetes kubernetes.default kubernetes.default.svc kubernetes.default.svc.cluster.local] and IPs [10.96.0.1 " + address + "]"; !strings.Contains(string(out), want) {
			t.Errorf("the API server's certificate is not %s:\n%s", want, out)
		}
		for file, flags := range map[string][]string{
			"kube-controller-manager.yaml": {"--cluster-cidr=10.244.0.0/16", "--service-cluster-ip-range=10.96.0.0/12", "--cluster-name=test"},
			"kube-apiserver.yaml":          {"--advertise-address=" + address, "--service-cluster-ip-range=10.96.0.0/12"},
		} {
			manifest := string(cp.ReadFile(t, dir+"/"+file))
			for _, flag := range flags {
				if !strings.Contains(manifest, "- "+flag+"\n") {
					t.Errorf("%s lacks %s", file, flag)
				}
			}
		}
		// gitsync computes the discovery hash of the CA kubeadm makes; openssl agrees.
		ca := cp.ReadFile(t, dir+"/ca.crt")
		hash, err := gbootstrap.CACertHash(ca)
		if err != nil {
			t.Fatal(err)
		}
		if want := "sha256:" + opensslPublicKeyHash(t, ca); hash != want {
			t.Errorf("gitsync's CA hash %s, openssl's %s", hash, want)
		}
	})

	t.Run("a second run finds every step done and changes nothing", func(t *testing.T) {
		applied := trees()
		r := f.bootstrap()
		stopsAtRepository(t, r)
		for _, step := range []string{"images", "kubeadm-config", "kubeadm-init"} {
			if got := lines(r.Stdout, "cp-1", step); len(got) != 1 || !strings.Contains(got[0], " done") {
				t.Errorf("%s on the second run: %q, want done", step, got)
			}
		}
		for _, node := range f.names {
			for _, step := range nodeSteps {
				if got := lines(r.Stdout, node, step); len(got) != 1 || !strings.Contains(got[0], " done") {
					t.Errorf("%s %s: %q, want done\n%s", node, step, got, r)
				}
			}
		}
		if got := lines(r.Stdout, "worker-2", "kubeadm-join"); len(got) != 1 || !strings.Contains(got[0], " done") {
			t.Errorf("kubeadm-join on worker-2: %q, want done", got)
		}
		if diff := cmp.Diff(applied, trees()); diff != "" {
			t.Errorf("the second run changed files (-before +after):\n%s", diff)
		}
	})

	t.Run("kubeadm init is not run over one that stopped half-way; after the reset it names, it runs afresh", func(t *testing.T) {
		cp := f.nodes.Nodes[0]
		if r := f.reset(t.TempDir(), "--node", "cp-1"); r.Code != 0 {
			t.Fatalf("reset cp-1 before the half-way init:\n%s", r)
		}
		cp.Exec(t, "kubeadm", "init", "phase", "certs", "ca") // the reset removed gitsync's kubeadm.yaml
		t.Cleanup(func() { _ = cp.Command(context.Background(), "rm", "-rf", "/etc/kubernetes/pki").Run() })
		r := f.bootstrap()
		got := lines(r.Stdout, "cp-1", "kubeadm-init")
		if r.Code == 0 || len(got) != 1 || !strings.Contains(got[0], "failed: check: an earlier kubeadm init stopped half-way") ||
			!strings.Contains(got[0], "run `gitsync bootstrap reset --config <cluster file> --node cp-1`, then bootstrap again") {
			t.Errorf("kubeadm-init: %q, want a refusal naming the reset\n%s", got, r)
		}
		if r := f.reset(t.TempDir(), "--node", "cp-1"); r.Code != 0 {
			t.Fatalf("the reset the error names:\n%s", r)
		}
		r = f.bootstrap()
		if got := lines(r.Stdout, "cp-1", "kubeadm-config"); len(got) != 2 || !strings.Contains(got[1], "applied") {
			t.Errorf("kubeadm-config after the reset: %q, want it written again", got)
		}
		if got := lines(r.Stdout, "cp-1", "kubeadm-init"); len(got) != 2 || !strings.Contains(got[1], "applied") {
			t.Errorf("kubeadm-init after the reset: %q, want it run afresh\n%s", got, r)
		}
	})
}

// opensslPublicKeyHash is the hex sha256 of a PEM certificate's public key, the way kubeadm's
// documentation computes the discovery hash.
func opensslPublicKeyHash(t *testing.T, certPEM []byte) string {
	t.Helper()
	script := "openssl x509 -pubkey -noout | openssl pkey -pubin -outform der | sha256sum | cut -d' ' -f1"
	cmd := exec.CommandContext(t.Context(), "sh", "-c", script)
	cmd.Stdin = bytes.NewReader(certPEM)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s: %v", script, err)
	}
	return strings.TrimSpace(string(out))
}

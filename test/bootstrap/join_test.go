package bootstrap

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/yaml"

	"github.com/gitsync-io/gitsync/test/gitserver"
	"github.com/gitsync-io/gitsync/test/nodes"
	"github.com/gitsync-io/gitsync/test/testenv"
)

// TestJoin runs the steps after kubeadm init against a real API server on the first control
// plane. kubeadm init cannot finish on the test nodes (the kubelet refuses this host's cgroup
// v1, so the static pods never run), so the test does the kubelet's part: it has the node's
// kubeadm write the certificates, kubeconfigs and the API server's manifest, runs that
// manifest's command in the node (with an etcd on loopback instead of kubeadm's), and has
// kubeadm upload its configuration and make the bootstrap token, as kubeadm init would.
// Then gitsync bootstrap finds kubeadm init done, uploads the certificates for the second
// control plane with its own certificate key, and joins that control plane with the CA hash
// it computed, until kubeadm join's preflight stops on the cgroup v1 host as init's did.
func TestJoin(t *testing.T) {
	f := newFixture(t, "control-plane", "control-plane", "worker")
	cp := f.nodes.Nodes[0]
	f.extra += "controlPlaneEndpoint: " + cp.Address.String() + "\n"
	f.write()
	initFails(t, f.bootstrap())
	runAPIServer(t, cp)
	secrets := string(cp.ReadFile(t, "/etc/kubernetes/gitsync/secrets"))
	token, key := secretValue(secrets, "token"), secretValue(secrets, "certificateKey")
	tokenSecret := "bootstrap-token-" + strings.Split(token, ".")[0]

	t.Run("the certificates are uploaded under gitsync's key and the next control plane joins with the CA hash", func(t *testing.T) {
		r := f.bootstrap()
		if got := lines(r.Stdout, "cp-1", "kubeadm-init"); len(got) != 1 || !strings.Contains(got[0], "done: the API server answers") {
			t.Errorf("kubeadm-init: %q, want done\n%s", got, r)
		}
		if got := lines(r.Stdout, "cp-1", "join-secrets"); len(got) != 2 || !strings.Contains(got[0], "applying: the control-plane certificates are not uploaded") ||
			!strings.Contains(got[1], "applied") {
			t.Errorf("join-secrets: %q, want the certificates uploaded\n%s", got, r)
		}
		kubectl(t, cp, "-n", "kube-system", "get", "secret", "kubeadm-certs")
		got := lines(r.Stdout, "cp-2", "kubeadm-join")
		if len(got) != 2 || !strings.Contains(got[1], "failed: ") || !strings.Contains(r.Stdout, "sh -c 'kubeadm join --config /etc/kubernetes/gitsync/join.yaml' exited with status 1") {
			t.Fatalf("kubeadm-join on cp-2: %q, want it run and stopped by kubeadm\n%s", got, r)
		}
		if !hostCgroupV2(t) && !strings.Contains(r.Stdout, "[ERROR SystemVerification]: cgroups v1") {
			t.Errorf("on this cgroup v1 host, want kubeadm join's preflight to refuse cgroup v1:\n%s", r)
		}
		if got := lines(r.Stdout, "worker-3", "kubeadm-join"); len(got) != 0 {
			t.Errorf("a worker joined before every control plane had: %q", got)
		}

		var join struct {
			Discovery struct {
				BootstrapToken struct {
					APIServerEndpoint string   `json:"apiServerEndpoint"`
					Token             string   `json:"token"`
					CACertHashes      []string `json:"caCertHashes"`
				} `json:"bootstrapToken"`
			} `json:"discovery"`
			ControlPlane struct {
				CertificateKey string `json:"certificateKey"`
			} `json:"controlPlane"`
		}
		cp2 := f.nodes.Nodes[1]
		if err := yaml.Unmarshal(cp2.ReadFile(t, "/etc/kubernetes/gitsync/join.yaml"), &join); err != nil {
			t.Fatal(err)
		}
		d := join.Discovery.BootstrapToken
		wantHash := "sha256:" + opensslPublicKeyHash(t, cp.ReadFile(t, "/etc/kubernetes/pki/ca.crt"))
		if d.APIServerEndpoint != cp.Address.String()+":6443" || d.Token != token || len(d.CACertHashes) != 1 || d.CACertHashes[0] != wantHash ||
			join.ControlPlane.CertificateKey != key {
			t.Errorf("join.yaml on cp-2: %+v, certificate key %q; want endpoint %s:6443, the token, CA hash %s and the key",
				d, join.ControlPlane.CertificateKey, cp.Address, wantHash)
		}
		if mode := strings.TrimSpace(cp2.Exec(t, "stat", "-c", "%a", "/etc/kubernetes/gitsync/join.yaml")); mode != "600" {
			t.Errorf("join.yaml has mode %s, want 600", mode)
		}
		if log := readFile(t, f.log); strings.Contains(log, token) || strings.Contains(log, key) || strings.Contains(r.Stdout+r.Stderr, token) {
			t.Error("the token or the certificate key is in the log or the output")
		}
	})

	t.Run("an expired bootstrap token is made again, with the same value", func(t *testing.T) {
		kubectl(t, cp, "-n", "kube-system", "delete", "secret", tokenSecret)
		r := f.bootstrap()
		if got := lines(r.Stdout, "cp-1", "join-secrets"); len(got) != 2 || !strings.Contains(got[0], "applying: the bootstrap token has expired or was deleted") ||
			!strings.Contains(got[1], "applied") {
			t.Errorf("join-secrets: %q, want the token made again\n%s", got, r)
		}
		data := kubectl(t, cp, "-n", "kube-system", "get", "secret", tokenSecret, "-o", "jsonpath={.data.token-secret}")
		secret, err := base64.StdEncoding.DecodeString(data)
		if want := strings.Split(token, ".")[1]; err != nil || string(secret) != want {
			t.Error("the bootstrap token made again has another secret")
		}
	})

	t.Run("a dry run on the running control plane says what it would join and changes nothing", func(t *testing.T) {
		before := nodes.FileTree(t, f.nodes.Nodes[2], "/etc")
		r := f.bootstrap("--dry-run")
		if got := lines(r.Stdout, "cp-1", "join-secrets"); len(got) != 1 || !strings.Contains(got[0], " done") {
			t.Errorf("join-secrets: %q, want done", got)
		}
		for _, node := range []string{"cp-2", "worker-3"} {
			if got := lines(r.Stdout, node, "kubeadm-join"); len(got) != 1 || !strings.Contains(got[0], "would run: not in the cluster") {
				t.Errorf("%s kubeadm-join: %q, want would run\n%s", node, got, r)
			}
		}
		if after := nodes.FileTree(t, f.nodes.Nodes[2], "/etc"); fmt.Sprint(after) != fmt.Sprint(before) {
			t.Error("the dry run changed files on worker-3")
		}
	})

	t.Run("a node reset alone leaves the cluster: drained before, its Node object deleted after", func(t *testing.T) {
		create := cp.Command(t.Context(), "kubectl", "--kubeconfig", "/etc/kubernetes/admin.conf", "create", "-f", "-")
		create.Stdin = strings.NewReader(`{"apiVersion": "v1", "kind": "Node", "metadata": {"name": "worker-3"}}`)
		if out, err := create.CombinedOutput(); err != nil {
			t.Fatalf("create Node worker-3: %v\n%s", err, out)
		}
		r := f.reset(t.TempDir(), "--node", "worker-3", "--dry-run")
		for _, step := range []string{"drain", "delete-node"} { // reset is done: worker-3 never joined
			if got := lines(r.Stdout, "worker-3", step); len(got) != 1 || !strings.Contains(got[0], "would run") {
				t.Errorf("dry run, %s: %q, want would run\n%s", step, got, r)
			}
		}
		if got := kubectl(t, cp, "get", "node", "worker-3", "-o", "jsonpath={.spec.unschedulable}"); got != "" {
			t.Errorf("the dry run cordoned worker-3 (unschedulable %q)", got)
		}

		r = f.reset(t.TempDir(), "--node", "worker-3")
		if r.Code != 0 {
			t.Fatalf("reset --node worker-3:\n%s", r)
		}
		want := map[string]string{"drain": "applied", "reset": "", "delete-node": "applied"}
		var order []string
		for _, l := range strings.Split(r.Stdout, "\n") {
			if fs := strings.Fields(l); len(fs) >= 3 && fs[0] == "worker-3" {
				order = append(order, fs[1])
			}
		}
		if got := strings.Join(slices.Compact(order), " "); got != "drain reset delete-node" {
			t.Errorf("steps ran in the order %q, want drain, reset, delete-node\n%s", got, r)
		}
		for step, kind := range want {
			if got := lines(r.Stdout, "worker-3", step); kind != "" && !strings.Contains(got[len(got)-1], kind) {
				t.Errorf("%s: %q, want %s", step, got, kind)
			}
		}
		if got := kubectl(t, cp, "get", "node", "worker-3", "--ignore-not-found", "-o", "name"); got != "" {
			t.Errorf("Node worker-3 is still in the cluster: %q", got)
		}
		if lines(r.Stdout, "cp-1", "reset") != nil || lines(r.Stdout, "cp-2", "reset") != nil {
			t.Errorf("a reset of worker-3 touched the control planes:\n%s", r)
		}
	})
}

// runAPIServer does on cp what kubeadm init and the kubelet would: the node's kubeadm writes
// the certificates, the kubeconfigs and the API server's static pod manifest; the manifest's
// command runs as a service of the node, against an etcd on the node's loopback; kubeadm
// then uploads its configuration and makes the bootstrap token, RBAC rules and cluster-info
// the joining nodes read.
func runAPIServer(t *testing.T, cp *nodes.Node) {
	t.Helper()
	const config = "/etc/kubernetes/gitsync/kubeadm.yaml"
	for _, phase := range [][]string{{"certs", "all"}, {"kubeconfig", "all"}, {"control-plane", "apiserver"}} {
		cp.Exec(t, append(append([]string{"kubeadm", "init", "phase"}, phase...), "--config", config)...)
	}
	bin, err := testenv.BinDir()
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"etcd", "kube-apiserver"} {
		install(t, cp, filepath.Join(bin, name), "/usr/local/bin/"+name)
	}
	var pod corev1.Pod
	if err := yaml.Unmarshal(cp.ReadFile(t, "/etc/kubernetes/manifests/kube-apiserver.yaml"), &pod); err != nil {
		t.Fatal(err)
	}
	args := []string{"/usr/local/bin/kube-apiserver"}
	for _, a := range pod.Spec.Containers[0].Command[1:] {
		switch name, _, _ := strings.Cut(a, "="); name {
		case "--etcd-cafile", "--etcd-certfile", "--etcd-keyfile":
		case "--etcd-servers":
			args = append(args, "--etcd-servers=http://127.0.0.1:2379")
		default:
			args = append(args, a)
		}
	}
	cp.Exec(t, "systemd-run", "--unit=test-etcd", "/usr/local/bin/etcd", "-data-dir", "/var/lib/test-etcd",
		"-listen-client-url", "http://127.0.0.1:2379", "-listen-peer-url", "http://127.0.0.1:2380")
	cp.Exec(t, append([]string{"systemd-run", "--unit=test-kube-apiserver"}, args...)...)
	deadline := time.Now().Add(2 * time.Minute)
	for {
		err := cp.Command(t.Context(), "kubectl", "--kubeconfig", "/etc/kubernetes/admin.conf", "get", "--raw", "/readyz").Run()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the API server on %s is not ready: %v\n%s", cp.Name, err, cp.Exec(t, "journalctl", "-u", "test-kube-apiserver", "-n", "30", "--no-pager"))
		}
		time.Sleep(time.Second)
	}
	for _, phase := range [][]string{{"upload-config", "all"}, {"bootstrap-token"}} {
		cp.Exec(t, append(append([]string{"kubeadm", "init", "phase"}, phase...), "--config", config)...)
	}
}

// install copies the host's file src to dst in the node, executable.
func install(t *testing.T, n *nodes.Node, src, dst string) {
	t.Helper()
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	cmd := n.Command(t.Context(), "sh", "-c", `cat > "$1" && chmod 755 "$1"`, "sh", dst)
	cmd.Stdin = in
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("install %s on %s: %v\n%s", dst, n.Name, err, out)
	}
}

// kubectl runs kubectl as the cluster's administrator on n.
func kubectl(t *testing.T, n *nodes.Node, args ...string) string {
	t.Helper()
	return n.Exec(t, append([]string{"kubectl", "--kubeconfig", "/etc/kubernetes/admin.conf"}, args...)...)
}

func secretValue(file, key string) string {
	for _, line := range strings.Split(file, "\n") {
		if k, v, ok := strings.Cut(line, "="); ok && k == key {
			return v
		}
	}
	return ""
}

// TestHandOverToTheCluster takes a one-node cluster whose API server runs (as in TestJoin)
// past kubeadm: the administrator's kubeconfig is fetched and written here, and gitsync's
// applier installs Calico into the cluster from the repository, then waits for the operator,
// which cannot run without a kubelet: the Calico step fails when --timeout runs out, naming
// what it waited for.
func TestHandOverToTheCluster(t *testing.T) {
	f := newFixture(t, "control-plane")
	cp := f.nodes.Nodes[0]
	repo := gitserver.NewRepo(t)
	files := gitserver.Tree(t, "../..", "manifests")
	for path, content := range gitserver.Tree(t, "../..", "overlays") {
		files[path] = content
	}
	config := "overlays/cluster/config.yaml" // the gitsync it installs syncs this repository
	files[config] = strings.Replace(files[config], "https://git.example.org/ops/cluster.git", repo.URL(), 1)
	repo.Commit(t, "the cluster", files)
	f.gitops = repo.URL()
	f.write()
	initFails(t, f.bootstrap())
	runAPIServer(t, cp)
	upstream := httptest.NewServer(http.FileServer(http.Dir("../manifests/testdata/calico-upstream")))
	t.Cleanup(upstream.Close)

	dir := t.TempDir()
	kubeconfig := filepath.Join(dir, "test.kubeconfig")
	handOver := func() result {
		return gitsyncIn(t, dir, "", "bootstrap", "--config", f.file, "--log", f.log, "--timeout", "5s",
			"--cache-dir", t.TempDir(), "--mirror", "https://raw.githubusercontent.com/="+upstream.URL+"/")
	}
	r := handOver()
	t.Logf("the run:\n%s", r)
	server := "https://" + cp.Address.String() + ":6443"
	if got := lines(r.Stdout, "cluster", "kubeconfig"); len(got) != 1 || !strings.Contains(got[0], "applied: test.kubeconfig (mode 600), server "+server) {
		t.Errorf("kubeconfig: %q\n%s", got, r)
	}
	if fi, err := os.Stat(kubeconfig); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("%s: %v %v, want mode 600", kubeconfig, fi, err)
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil || cfg.Host != server {
		t.Fatalf("the kubeconfig's server is %v (%v), want %s", cfg, err, server)
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cs.CoreV1().Namespaces().Get(t.Context(), "gitsync-system", metav1.GetOptions{}); err != nil {
		t.Errorf("with the kubeconfig written here, namespace gitsync-system: %v", err)
	}
	if got := lines(r.Stdout, "cluster", "repository"); len(got) != 2 || !strings.Contains(got[1], "done: overlays/cluster at ") {
		t.Errorf("repository: %q, want the install's configuration found syncing the repository", got)
	}
	got := lines(r.Stdout, "cluster", "calico")
	if r.Code == 0 || len(got) != 2 || !strings.Contains(r.Stderr, "step calico: sync calico (manifests/calico at main)") ||
		!strings.Contains(r.Stderr, "TigeraStatus.operator.tigera.io calico: NotFound: not seen yet") {
		t.Errorf("calico: %q, want it applied and then waiting for the operator's status\n%s", got, r)
	}
	if out := kubectl(t, cp, "get", "deployment", "-n", "tigera-operator", "tigera-operator", "-o", "name"); strings.TrimSpace(out) != "deployment.apps/tigera-operator" {
		t.Errorf("the operator's Deployment is not in the cluster: %q", out)
	}

	r = handOver()
	if got := lines(r.Stdout, "cluster", "kubeconfig"); len(got) != 1 || !strings.Contains(got[0], " done: ") {
		t.Errorf("kubeconfig on the second run: %q, want done", got)
	}
}

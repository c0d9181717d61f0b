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

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/yaml"

	"github.com/gitsync-io/gitsync/test/gitserver"
	"github.com/gitsync-io/gitsync/test/nodes"
)

// TestJoin bootstraps two control planes behind an endpoint (the first one's address) and a
// worker, for real: kubeadm init on cp-1, the control-plane certificates uploaded under
// gitsync's own certificate key, cp-2 joining with the CA hash gitsync computed (a second
// etcd member), and only then the worker. The run stops at the handover: the fixture's
// repository is unreachable.
func TestJoin(t *testing.T) {
	f := newFixture(t, "control-plane", "control-plane", "worker")
	cp := f.nodes.Nodes[0]
	f.extra += "controlPlaneEndpoint: " + cp.Address.String() + "\n"
	f.write()
	r := f.bootstrap()
	stopsAtRepository(t, r)
	secrets := string(cp.ReadFile(t, "/etc/kubernetes/gitsync/secrets"))
	token, key := secretValue(secrets, "token"), secretValue(secrets, "certificateKey")
	tokenSecret := "bootstrap-token-" + strings.Split(token, ".")[0]

	t.Run("the certificates are uploaded under gitsync's key, the next control plane joins with the CA hash, then the worker", func(t *testing.T) {
		// kubeadm init uploaded them (--upload-certs with gitsync's key): nothing left to do.
		if got := lines(r.Stdout, "cp-1", "join-secrets"); len(got) != 1 || !strings.Contains(got[0], " done") {
			t.Errorf("join-secrets: %q, want done\n%s", got, r)
		}
		kubectl(t, cp, "-n", "kube-system", "get", "secret", "kubeadm-certs")
		cpJoin, workerJoin := lines(r.Stdout, "cp-2", "kubeadm-join"), lines(r.Stdout, "worker-3", "kubeadm-join")
		if len(cpJoin) != 2 || !strings.Contains(cpJoin[1], "applied") || len(workerJoin) != 2 || !strings.Contains(workerJoin[1], "applied") {
			t.Fatalf("kubeadm-join: cp-2 %q, worker-3 %q, want both applied\n%s", cpJoin, workerJoin, r)
		}
		if strings.Index(r.Stdout, workerJoin[0]) < strings.Index(r.Stdout, cpJoin[1]) {
			t.Errorf("the worker joined before every control plane had:\n%s", r.Stdout)
		}
		// cp-2's kubelet posts its static pods' mirror pods a little after the join.
		for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(time.Second) {
			got := strings.Fields(kubectl(t, cp, "-n", "kube-system", "get", "pods", "-l", "component=etcd", "-o", "name"))
			if len(got) == 2 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("etcd pods %q, want one on each control plane", got)
			}
		}
		if got := kubectl(t, cp, "get", "node", "cp-2", "-o", "jsonpath={.metadata.labels}"); !strings.Contains(got, "node-role.kubernetes.io/control-plane") {
			t.Errorf("cp-2's labels %s, want a control plane's", got)
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

	t.Run("a dry run on the running cluster finds every node joined and changes nothing", func(t *testing.T) {
		before := nodes.FileTree(t, f.nodes.Nodes[2], "/etc")
		r := f.bootstrap("--dry-run")
		if got := lines(r.Stdout, "cp-1", "join-secrets"); len(got) != 1 || !strings.Contains(got[0], " done") {
			t.Errorf("join-secrets: %q, want done", got)
		}
		for _, node := range []string{"cp-2", "worker-3"} {
			if got := lines(r.Stdout, node, "kubeadm-join"); len(got) != 1 || !strings.Contains(got[0], " done") {
				t.Errorf("%s kubeadm-join: %q, want done\n%s", node, got, r)
			}
		}
		if after := nodes.FileTree(t, f.nodes.Nodes[2], "/etc"); fmt.Sprint(after) != fmt.Sprint(before) {
			t.Error("the dry run changed files on worker-3")
		}
	})

	t.Run("a node reset alone leaves the cluster: drained before, its Node object deleted after", func(t *testing.T) {
		r := f.reset(t.TempDir(), "--node", "worker-3", "--dry-run")
		for _, step := range []string{"drain", "reset", "delete-node"} {
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

	t.Run("after the token expired, the node reset alone joins again with the token made again, the same value", func(t *testing.T) {
		kubectl(t, cp, "-n", "kube-system", "delete", "secret", tokenSecret)
		r := f.bootstrap()
		if got := lines(r.Stdout, "cp-1", "join-secrets"); len(got) != 2 || !strings.Contains(got[0], "applying: the bootstrap token has expired or was deleted") ||
			!strings.Contains(got[1], "applied") {
			t.Errorf("join-secrets: %q, want the token made again\n%s", got, r)
		}
		if got := lines(r.Stdout, "worker-3", "kubeadm-join"); len(got) != 2 || !strings.Contains(got[1], "applied") {
			t.Errorf("kubeadm-join on worker-3: %q, want it joined again\n%s", got, r)
		}
		data := kubectl(t, cp, "-n", "kube-system", "get", "secret", tokenSecret, "-o", "jsonpath={.data.token-secret}")
		secret, err := base64.StdEncoding.DecodeString(data)
		if want := strings.Split(token, ".")[1]; err != nil || string(secret) != want {
			t.Error("the bootstrap token made again has another secret")
		}
		if got := kubectl(t, cp, "get", "node", "worker-3", "-o", "name"); strings.TrimSpace(got) != "node/worker-3" {
			t.Errorf("Node worker-3 after the join: %q", got)
		}
	})
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

// TestHandOverToTheCluster takes a one-node cluster past kubeadm: the administrator's
// kubeconfig is fetched and written here, and gitsync's applier installs Calico into the
// cluster from the repository, then waits for the operator, whose image the test's registry
// does not have: the Calico step fails when --timeout runs out, naming what it waited for.
// (test/realcluster hands a cluster over to the end, with a pod network built from source.)
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

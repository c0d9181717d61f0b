package manifests

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/yaml"

	"github.com/gitsync-io/gitsync/pkg/bootstrap"
	"github.com/gitsync-io/gitsync/pkg/sync/render"
	"github.com/gitsync-io/gitsync/test/gitserver"
	"github.com/gitsync-io/gitsync/test/testenv"
)

const (
	calico   = "manifests/calico"
	cluster  = "overlays/cluster"
	upstream = "https://raw.githubusercontent.com/"
)

var (
	installations  = schema.GroupVersionResource{Group: "operator.tigera.io", Version: "v1", Resource: "installations"}
	tigeraStatuses = schema.GroupVersionResource{Group: "operator.tigera.io", Version: "v1", Resource: "tigerastatuses"}
)

// calicoMirror serves the stand-in of Calico's upstream files (testdata/calico-upstream, laid
// out like the upstream host) and returns the mirror that points gitsync at it, with a count of
// the requests it answered.
func calicoMirror(t *testing.T) (render.Mirror, *atomic.Int32) {
	t.Helper()
	var requests atomic.Int32
	files := http.FileServer(http.Dir("testdata/calico-upstream"))
	server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		files.ServeHTTP(w, r)
	}))
	t.Cleanup(server.Close)
	return render.Mirror{From: upstream, To: server.URL + "/"}, &requests
}

// The pod network is set in three places that must agree: Calico's IP pool, the podSubnet
// gitsync bootstrap gives kubeadm, and kind-config.yaml's.
func TestCalicoPodNetworkIsTheClusterPodSubnet(t *testing.T) {
	mirror, _ := calicoMirror(t)
	res, err := render.New(render.Options{Remote: &render.Remote{CacheDir: t.TempDir(), Mirrors: []render.Mirror{mirror}}}).
		Render(t.Context(), repoRoot(t), calico)
	if err != nil {
		t.Fatal(err)
	}
	installation := find(t, res.Objects, "Installation", "", "default")
	pools, _, _ := unstructured.NestedSlice(installation.Object, "spec", "calicoNetwork", "ipPools")
	if len(pools) != 1 {
		t.Fatalf("Installation has %d IP pools, want 1", len(pools))
	}
	cidr := pools[0].(map[string]any)["cidr"]

	var kind struct {
		Networking struct {
			PodSubnet string `json:"podSubnet"`
		} `json:"networking"`
	}
	data, err := os.ReadFile(filepath.Join(repoRoot(t), "kind-config.yaml"))
	if err == nil {
		err = yaml.Unmarshal(data, &kind)
	}
	if err != nil {
		t.Fatal(err)
	}
	if cidr != kind.Networking.PodSubnet || cidr != bootstrap.DefaultPodSubnet {
		t.Errorf("Calico's pool %v, kind's podSubnet %s, gitsync bootstrap's podSubnet %s: all must be equal",
			cidr, kind.Networking.PodSubnet, bootstrap.DefaultPodSubnet)
	}
}

// TestCalicoSyncWaitsForTheOperator syncs manifests/calico as shipped, its upstream files from
// the stand-in mirror, and plays the operator: the sync must not succeed before the operator
// reports Calico Available in its TigeraStatus objects.
func TestCalicoSyncWaitsForTheOperator(t *testing.T) {
	dc := dynamicClient(t)
	mirror, requests := calicoMirror(t)
	repo := gitserver.NewRepo(t)
	repo.Commit(t, "calico", gitserver.Tree(t, repoRoot(t), calico))
	deleteOwnedAtEnd(t, "default", "calico")
	cache := t.TempDir()
	args := []string{"sync", "--repo", repo.URL(), "--path", calico, "--name", "calico", "--kubeconfig", testenv.Kubeconfig(t),
		"--namespace", "default", "--cache-dir", cache, "--mirror", mirror.From + "=" + mirror.To, "--timeout", "90s"}

	syncing := start(t, args...)
	waitFor(t, "the Installation to be applied", func() (bool, error) {
		_, err := dc.Resource(installations).Get(t.Context(), "default", metav1.GetOptions{})
		return err == nil, err
	})
	time.Sleep(time.Second)
	if syncing.done() {
		t.Fatalf("the sync ended before the operator reported Calico ready:\n%s", syncing.output())
	}
	setTigeraStatus(t, dc, "calico", "True")
	setTigeraStatus(t, dc, "apiserver", "True")
	if err := syncing.wait(); err != nil {
		t.Fatalf("sync: %v\n%s", err, syncing.output())
	}
	if got := requests.Load(); got != 2 {
		t.Errorf("the mirror answered %d requests, want 2: one per upstream file", got)
	}

	t.Run("a second sync fetches nothing and changes nothing", func(t *testing.T) {
		requests.Store(0)
		out := gitsync(t, append(args, "-o", "json")...)
		if requests.Load() != 0 || !strings.Contains(out, `"unchanged":`) || strings.Contains(out, `"configured":`) {
			t.Errorf("requests %d; result %s", requests.Load(), out)
		}
	})
}

// TestClusterOverlay runs overlays/cluster's configuration as the in-cluster gitsync would:
// calico, then gitsync itself, then the apps, each only once the one before is healthy.
func TestClusterOverlay(t *testing.T) {
	dc := dynamicClient(t)
	for _, name := range []string{"calico", "apiserver"} {
		_ = dc.Resource(tigeraStatuses).Delete(t.Context(), name, metav1.DeleteOptions{})
	}
	mirror, _ := calicoMirror(t)
	repo := gitserver.NewRepo(t)
	files := gitserver.Tree(t, repoRoot(t), "manifests")
	for path, content := range gitserver.Tree(t, repoRoot(t), "overlays") {
		files[path] = content
	}
	repo.Commit(t, "the cluster", files)

	data := inClusterConfig(t, repo.URL(), mirror)
	config := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(config, data, 0o600); err != nil {
		t.Fatal(err)
	}
	cs, err := kubernetes.NewForConfig(testenv.Config(t))
	if err != nil {
		t.Fatal(err)
	}
	ns := testenv.Namespace(t) // the syncs' inventories
	deleteOwnedAtEnd(t, ns, "calico", "gitsync", "apps")
	uninstallAtEnd(t, cs, "prod", "tigera-operator")
	running := start(t, "run", "--config", config, "--kubeconfig", testenv.Kubeconfig(t), "--namespace", ns, "--cache-dir", t.TempDir())
	t.Cleanup(func() { running.stop() })

	waitFor(t, "the calico sync to apply the Installation", func() (bool, error) {
		_, err := dc.Resource(installations).Get(t.Context(), "default", metav1.GetOptions{})
		return err == nil, err
	})
	time.Sleep(2 * time.Second)
	for _, o := range []struct{ what, namespace, name string }{{"gitsync", system, "gitsync"}, {"apps", "prod", "nginx"}} {
		_, err := dc.Resource(deployments).Namespace(o.namespace).Get(t.Context(), o.name, metav1.GetOptions{})
		if !apierrors.IsNotFound(err) {
			t.Errorf("the %s sync applied Deployment %s/%s before Calico was ready (err %v)", o.what, o.namespace, o.name, err)
		}
	}
	setTigeraStatus(t, dc, "calico", "True")
	setTigeraStatus(t, dc, "apiserver", "True")
	waitFor(t, "the apps sync to apply Deployment prod/nginx", func() (bool, error) {
		_, err := dc.Resource(deployments).Namespace("prod").Get(t.Context(), "nginx", metav1.GetOptions{})
		return err == nil, err
	})
	if _, err := dc.Resource(deployments).Namespace(system).Get(t.Context(), "gitsync", metav1.GetOptions{}); err != nil {
		t.Errorf("the gitsync sync: %v", err)
	}
	if out := running.output(); strings.Contains(out, "level=ERROR") {
		t.Errorf("the run logged errors:\n%s", out)
	}
}

// uninstallAtEnd removes gitsync's install (and the namespaces named) when the test ends, so
// the next test of the package, on the same control plane, installs into a clean cluster.
func uninstallAtEnd(t *testing.T, cs kubernetes.Interface, namespaces ...string) {
	t.Helper()
	for _, ns := range append([]string{system}, namespaces...) {
		deleteNamespaceAtEnd(t, cs, ns)
	}
	t.Cleanup(func() {
		ctx := context.Background()
		if err := cs.RbacV1().ClusterRoleBindings().Delete(ctx, "gitsync", metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			t.Error(err)
		}
		if err := cs.RbacV1().ClusterRoles().Delete(ctx, "gitsync", metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			t.Error(err)
		}
	})
}

var deployments = schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}

func dynamicClient(t *testing.T) dynamic.Interface {
	t.Helper()
	dc, err := dynamic.NewForConfig(testenv.Config(t))
	if err != nil {
		t.Fatal(err)
	}
	return dc
}

// setTigeraStatus does what the Tigera operator does once a component is up.
func setTigeraStatus(t *testing.T, dc dynamic.Interface, name, available string) {
	t.Helper()
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "operator.tigera.io/v1", "kind": "TigeraStatus", "metadata": map[string]any{"name": name},
	}}
	live, err := dc.Resource(tigeraStatuses).Create(t.Context(), u, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		live, err = dc.Resource(tigeraStatuses).Get(t.Context(), name, metav1.GetOptions{})
	}
	if err != nil {
		t.Fatal(err)
	}
	conditions := []any{
		map[string]any{"type": "Available", "status": available, "reason": "AllObjectsAvailable", "message": "", "lastTransitionTime": "2026-01-01T00:00:00Z"},
		map[string]any{"type": "Degraded", "status": "False", "reason": "AllObjectsAvailable", "message": "", "lastTransitionTime": "2026-01-01T00:00:00Z"},
	}
	if err := unstructured.SetNestedSlice(live.Object, conditions, "status", "conditions"); err != nil {
		t.Fatal(err)
	}
	if _, err := dc.Resource(tigeraStatuses).UpdateStatus(t.Context(), live, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = dc.Resource(tigeraStatuses).Delete(context.Background(), name, metav1.DeleteOptions{}) })
}

// process is a gitsync running in the background.
type process struct {
	cmd    *exec.Cmd
	out    *bytes.Buffer
	exited chan error
}

func start(t *testing.T, args ...string) *process {
	t.Helper()
	bin, err := binary()
	if err != nil {
		t.Fatal(err)
	}
	p := &process{cmd: exec.Command(bin, args...), out: &bytes.Buffer{}, exited: make(chan error, 1)}
	p.cmd.Env = []string{"HOME=" + t.TempDir(), "PATH=" + os.Getenv("PATH")}
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.exited <- p.cmd.Wait() }()
	t.Cleanup(func() { p.stop() })
	return p
}

func (p *process) done() bool {
	select {
	case err := <-p.exited:
		p.exited <- err
		return true
	default:
		return false
	}
}

func (p *process) wait() error {
	err := <-p.exited
	p.exited <- err
	return err
}

func (p *process) stop() {
	if !p.done() {
		_ = p.cmd.Process.Signal(os.Interrupt)
		select {
		case <-p.exited:
		case <-time.After(10 * time.Second):
			_ = p.cmd.Process.Kill()
		}
	}
}

// output is what the process wrote so far; call it only once the process has ended.
func (p *process) output() string { return p.out.String() }

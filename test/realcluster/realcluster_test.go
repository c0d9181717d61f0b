package realcluster

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/gitsync-io/gitsync/test/aptrepo"
	"github.com/gitsync-io/gitsync/test/gitserver"
	"github.com/gitsync-io/gitsync/test/gitsyncbin"
	"github.com/gitsync-io/gitsync/test/images"
	"github.com/gitsync-io/gitsync/test/nodes"
	"github.com/gitsync-io/gitsync/test/releases"
)

const kubernetesVersion = "v1.37.2"

// TestRealCluster takes three fresh nodes (one control plane, two workers) to a working
// cluster with `gitsync bootstrap` and nothing simulated, checks what a user would check,
// pushes an application and reaches it, bootstraps again (nothing to do), then resets the
// cluster and bootstraps it anew.
func TestRealCluster(t *testing.T) {
	f := newFixture(t, "control-plane", "worker", "worker")
	r := f.bootstrap()
	f.phase("bootstrap")
	if r.Code != 0 {
		t.Fatalf("gitsync bootstrap: want exit 0\n%s\nthe cluster:\n%s", r, f.describe())
	}
	t.Logf("gitsync bootstrap:\n%s", r.Stdout)
	cs := f.client()

	t.Run("every node is Ready, and the control plane, kube-proxy and CoreDNS run", func(t *testing.T) {
		f.checkSystem(t, cs)
	})
	t.Run("gitsync runs from its image in the cluster, leads, and every sync is Ready", func(t *testing.T) {
		f.checkGitsync(t, cs)
	})
	f.phase("checks")
	t.Run("a pushed application is applied, answers on a node port, and by name through its Service from another node", func(t *testing.T) {
		f.pushApplication(t, cs)
	})
	f.phase("application")
	t.Run("a second bootstrap finds every step done and changes nothing", func(t *testing.T) {
		before := f.etcTrees(t)
		r := f.bootstrap()
		if r.Code != 0 {
			t.Fatalf("second bootstrap: want exit 0\n%s", r)
		}
		for _, line := range strings.Split(strings.TrimSpace(r.Stdout), "\n") {
			// Steps against the cluster say "checking" first; facts warns about cgroup v1.
			fs := strings.Fields(line)
			if len(fs) < 3 || !(strings.HasPrefix(fs[2], "done") || fs[2] == "checking" || fs[1] == "facts" && fs[2] == "warning:") {
				t.Errorf("second bootstrap: want every step done: %s\n%s", line, r)
			}
		}
		if after := f.etcTrees(t); !maps.EqualFunc(before, after, maps.Equal) {
			for node := range before {
				for path, sum := range after[node] {
					if before[node][path] != sum {
						t.Errorf("second bootstrap changed %s on %s", path, node)
					}
				}
			}
		}
	})
	f.phase("again")
	t.Run("reset, then bootstrap again: a working cluster", func(t *testing.T) {
		if r := f.gitsync("bootstrap", "reset", "--config", f.file, "--log", f.log); r.Code != 0 {
			t.Fatalf("reset: want exit 0\n%s", r)
		}
		f.phase("reset")
		for _, n := range f.nodes.Nodes {
			if routes := n.Exec(t, "ip", "-o", "route", "show", "to", "root", "10.244.0.0/16"); strings.TrimSpace(routes) != "" {
				t.Errorf("after reset, %s still routes into the pod subnet:\n%s", n.Name, routes)
			}
		}
		if r := f.bootstrap(); r.Code != 0 {
			t.Fatalf("bootstrap after reset: want exit 0\n%s\nthe cluster:\n%s", r, f.describe())
		}
		f.phase("rebootstrap")
		cs := f.client()
		f.checkSystem(t, cs)
		f.checkGitsync(t, cs)
	})
	peak, err := f.nodes.PeakMemory()
	if err != nil {
		t.Error(err)
	}
	t.Logf("phases: %s; peak memory of the three nodes together: %d MiB", strings.Join(f.phases, ", "), peak>>20)
}

// fixture is three Kubelet nodes, the servers they pull from, and the cluster file.
type fixture struct {
	t      *testing.T
	nodes  *nodes.Cluster
	repo   repository
	dir    string // gitsync's working directory: the kubeconfig lands here
	file   string // the cluster file
	log    string
	bin    string
	names  []string // the nodes' names in the cluster file
	began  time.Time
	phases []string
}

// newFixture boots one Kubelet node per role, named cp-N or worker-N in the cluster file; more
// lines for the cluster file may follow once the nodes' addresses are known (withFile).
func newFixture(t *testing.T, roles ...string) *fixture {
	return newFixtureWith(t, roles, func(*nodes.Cluster) string { return "" })
}

// newFixtureWith is newFixture with more lines for the cluster file, made from the nodes.
func newFixtureWith(t *testing.T, roles []string, more func(*nodes.Cluster) string) *fixture {
	f := &fixture{t: t, began: time.Now(), dir: t.TempDir()}
	imgs := images.Kubernetes(t, kubernetesVersion)
	imgs = append(imgs, gitsyncImage(t))
	f.phase("images")
	var opts nodes.Options
	for i := range roles {
		opts.Nodes = append(opts.Nodes, nodes.NodeOptions{Name: fmt.Sprintf("node%d", i+1), Kubelet: true})
	}
	f.nodes = nodes.Start(t, opts)
	f.phase("nodes")
	registry := images.ServeRegistry(t, f.nodes.Gateway)
	images.Push(t, registry, imgs)
	var mirrors []string
	for _, r := range images.Registries(imgs) {
		mirrors = append(mirrors, fmt.Sprintf("%q: \"http://%s\"", r, registry))
	}
	apt := aptrepo.Serve(t, f.nodes.Gateway, aptrepo.Repository{Minor: "v1.37",
		Debs: aptrepo.KubernetesDebs(t, "1.37.2", "1.1"), Signer: aptrepo.NewKey(t, "test")})
	containerd := releases.Serve(t)
	f.repo = serveRepository(t, f.nodes.Gateway)
	var err error
	if f.bin, err = gitsyncbin.Build("test-realcluster"); err != nil {
		t.Fatal(err)
	}
	f.phase("servers")

	var b strings.Builder
	fmt.Fprintf(&b, "apiVersion: gitsync.io/v1alpha1\nkind: Cluster\nname: real\nkubernetesVersion: %s\n", kubernetesVersion)
	fmt.Fprintf(&b, "ssh: {user: deploy, keyFile: %s, knownHostsFile: %s}\nnodes:\n", f.nodes.ClientKeyFile, f.nodes.KnownHostsFile(t))
	for i, n := range f.nodes.Nodes {
		name := fmt.Sprintf("worker-%d", i)
		if roles[i] == "control-plane" {
			name = fmt.Sprintf("cp-%d", i+1)
		}
		f.names = append(f.names, name)
		fmt.Fprintf(&b, "- {name: %s, address: %s, role: %s}\n", name, n.Address, roles[i])
	}
	b.WriteString(more(f.nodes))
	// The settings the test nodes need that real machines do not (README: the test bed).
	fmt.Fprintf(&b, "containerd: {version: %s, restrictOOMScoreAdj: true}\n", containerd.Version)
	b.WriteString(nodes.KubeletSettings)
	fmt.Fprintf(&b, "mirrors: {kubernetes: %s, containerd: %s, registries: {%s}}\n", apt.URL, containerd.URL, strings.Join(mirrors, ", "))
	fmt.Fprintf(&b, "gitops: {repo: %s, calicoPath: %s}\n", f.repo.url, podnetPath)
	f.file, f.log = filepath.Join(f.dir, "cluster.yaml"), filepath.Join(f.dir, "bootstrap.log")
	if err := os.WriteFile(f.file, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(f.dir, "git-password"), []byte(gitPassword), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *fixture) phase(name string) {
	d := time.Since(f.began).Round(time.Second)
	f.phases = append(f.phases, fmt.Sprintf("%s %s", name, d))
	f.t.Logf("phase %s: %s", name, d)
	f.began = time.Now()
}

func (f *fixture) gitsync(args ...string) gitsyncbin.Result {
	f.t.Helper()
	return gitsyncbin.Run(f.t, f.bin, gitsyncbin.Options{Dir: f.dir}, args...)
}

func (f *fixture) bootstrap() gitsyncbin.Result {
	f.t.Helper()
	steps := &stepTimes{start: time.Now()}
	r := gitsyncbin.Run(f.t, f.bin, gitsyncbin.Options{Dir: f.dir, Stdout: steps}, "bootstrap", "--config", f.file, "--log", f.log,
		"--username", gitUser, "--password-file", filepath.Join(f.dir, "git-password"), "--timeout", "5m")
	f.t.Logf("bootstrap: %s", steps)
	return r
}

// stepTimes notes when a bootstrap's output first said that kubeadm init was done, that
// the last node had joined, that the pod network was healthy and that gitsync led.
type stepTimes struct {
	start   time.Time
	partial string
	marks   []string
}

func (s *stepTimes) Write(p []byte) (int, error) {
	s.partial += string(p)
	for {
		line, rest, ok := strings.Cut(s.partial, "\n")
		if !ok {
			break
		}
		s.partial = rest
		fs := strings.Fields(line)
		if len(fs) < 3 || !strings.HasPrefix(fs[2], "applied") && !strings.HasPrefix(fs[2], "done") {
			continue
		}
		what := map[string]string{"kubeadm-init": "init", "kubeadm-join": "joined", "calico": "pod network", "gitsync-leads": "gitsync leads"}[fs[1]]
		if what != "" {
			s.marks = append(s.marks, fmt.Sprintf("%s %s at %s", fs[0], what, time.Since(s.start).Round(time.Second)))
		}
	}
	return len(p), nil
}

func (s *stepTimes) String() string { return strings.Join(s.marks, ", ") }

// etcTrees describes /etc of every node (nodes.FileTree).
func (f *fixture) etcTrees(t *testing.T) map[string]map[string]string {
	trees := map[string]map[string]string{}
	for _, n := range f.nodes.Nodes {
		trees[n.Name] = nodes.FileTree(t, n, "/etc")
	}
	return trees
}

// kubeconfig is the administrator's kubeconfig bootstrap wrote, named after the cluster.
func (f *fixture) kubeconfig() string { return filepath.Join(f.dir, "real.kubeconfig") }

func (f *fixture) client() kubernetes.Interface {
	f.t.Helper()
	cfg, err := clientcmd.BuildConfigFromFlags("", f.kubeconfig())
	if err != nil {
		f.t.Fatal(err)
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		f.t.Fatal(err)
	}
	return cs
}

// controlPlanes are the control planes' names, sorted.
func (f *fixture) controlPlanes() []string {
	var cps []string
	for _, n := range f.names {
		if strings.HasPrefix(n, "cp-") {
			cps = append(cps, n)
		}
	}
	slices.Sort(cps)
	return cps
}

// describe is what a control plane's kubectl says about nodes and pods, for failures: the
// first one that answers.
func (f *fixture) describe() string {
	var out []byte
	for _, n := range f.nodes.Nodes {
		if n.PID() == 0 {
			continue
		}
		var err error
		out, err = n.Command(f.t.Context(), "kubectl", "--kubeconfig", "/etc/kubernetes/admin.conf",
			"get", "nodes,pods", "-A", "-o", "wide").CombinedOutput()
		if err == nil {
			break
		}
	}
	return string(out)
}

// eventually polls cond every second until it holds or timeout passes, then fails with
// its last word.
func (f *fixture) eventually(t *testing.T, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, why := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s: %s\nthe cluster:\n%s", what, timeout, why, f.describe())
		}
		time.Sleep(time.Second)
	}
}

func (f *fixture) checkSystem(t *testing.T, cs kubernetes.Interface) {
	ctx := t.Context()
	f.eventually(t, 3*time.Minute, "every node Ready", func() (bool, string) {
		list, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err.Error()
		}
		var ready []string
		for _, n := range list.Items {
			for _, c := range n.Status.Conditions {
				if c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue {
					ready = append(ready, n.Name)
				}
			}
		}
		slices.Sort(ready)
		return slices.Equal(ready, slices.Sorted(slices.Values(f.names))), fmt.Sprintf("Ready: %v", ready)
	})
	f.eventually(t, 3*time.Minute, "kube-system running", func() (bool, string) {
		pods, err := cs.CoreV1().Pods("kube-system").List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err.Error()
		}
		ready := map[string][]string{} // component → nodes with a Ready pod of it
		for _, p := range pods.Items {
			component := p.Labels["component"]
			if component == "" {
				component = p.Labels["k8s-app"]
			}
			if p.Status.Phase == corev1.PodRunning && podReady(&p) {
				ready[component] = append(ready[component], p.Spec.NodeName)
			}
		}
		for _, c := range []string{"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler"} {
			if got := slices.Sorted(slices.Values(ready[c])); !slices.Equal(got, f.controlPlanes()) {
				return false, fmt.Sprintf("%s Ready on %v, want the static pod on %v", c, got, f.controlPlanes())
			}
		}
		if proxies := slices.Sorted(slices.Values(ready["kube-proxy"])); !slices.Equal(proxies, slices.Sorted(slices.Values(f.names))) {
			return false, fmt.Sprintf("kube-proxy Ready on %v, want every node", proxies)
		}
		if len(ready["kube-dns"]) != 2 {
			return false, fmt.Sprintf("CoreDNS Ready on %v, want 2 pods", ready["kube-dns"])
		}
		return true, ""
	})
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func (f *fixture) checkGitsync(t *testing.T, cs kubernetes.Interface) {
	ctx := t.Context()
	d, err := cs.AppsV1().Deployments("gitsync-system").Get(ctx, "gitsync", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := d.Spec.Template.Spec.Containers[0].Image; got != gitsyncRef {
		t.Errorf("gitsync runs image %s, want %s", got, gitsyncRef)
	}
	f.eventually(t, 3*time.Minute, "a gitsync replica holds the Lease", func() (bool, string) {
		l, err := cs.CoordinationV1().Leases("gitsync-system").Get(ctx, "gitsync", metav1.GetOptions{})
		if err != nil || l.Spec.HolderIdentity == nil {
			return false, fmt.Sprint(err)
		}
		p, err := cs.CoreV1().Pods("gitsync-system").Get(ctx, *l.Spec.HolderIdentity, metav1.GetOptions{})
		if err != nil {
			return false, fmt.Sprintf("holder %s: %v", *l.Spec.HolderIdentity, err)
		}
		return p.Status.Phase == corev1.PodRunning && podReady(p), fmt.Sprintf("holder %s is %s", p.Name, p.Status.Phase)
	})
	f.eventually(t, 3*time.Minute, "every sync Ready in gitsync status", func() (bool, string) {
		r := f.gitsync("status", "--kubeconfig", f.kubeconfig(), "-n", "gitsync-system", "-o", "json")
		var statuses []struct {
			Name  string `json:"name"`
			Ready bool   `json:"ready"`
			Error string `json:"error"`
		}
		if err := json.Unmarshal([]byte(r.Stdout), &statuses); err != nil {
			return false, fmt.Sprintf("%v\n%s", err, r)
		}
		var names []string
		for _, s := range statuses {
			if !s.Ready {
				return false, fmt.Sprintf("%s not Ready: %s", s.Name, s.Error)
			}
			names = append(names, s.Name)
		}
		return slices.Equal(names, []string{"apps", "calico", "gitsync"}), fmt.Sprintf("syncs %v", names)
	})
}

// pushApplication commits nginx and its Service into the apps sync's directory, has the
// in-cluster gitsync sync it now, and reaches nginx from outside and from inside.
func (f *fixture) pushApplication(t *testing.T, cs kubernetes.Interface) {
	ctx := t.Context()
	f.repo.repo.Commit(t, "nginx, and its Service", map[string]string{appsPath + "/kustomization.yaml": appsWithNginx})
	if r := f.gitsync("sync", "--now", "apps", "--kubeconfig", f.kubeconfig(), "-n", "gitsync-system"); r.Code != 0 {
		t.Fatalf("sync --now apps: %s", r)
	}
	f.eventually(t, 3*time.Minute, "both nginx pods Running and Ready on the workers", func() (bool, string) {
		pods, err := cs.CoreV1().Pods("web").List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/name=nginx"})
		if err != nil {
			return false, err.Error()
		}
		var on []string
		for _, p := range pods.Items {
			if p.Status.Phase == corev1.PodRunning && podReady(&p) {
				on = append(on, p.Spec.NodeName)
			}
		}
		slices.Sort(on)
		return len(on) == 2 && !slices.Contains(on, "cp-1"), fmt.Sprintf("Ready on %v", on)
	})
	for _, n := range f.nodes.Nodes[1:] {
		url := fmt.Sprintf("http://%s:30080/", n.Address)
		f.eventually(t, time.Minute, "GET "+url, func() (bool, string) {
			resp, err := http.Get(url)
			if err != nil {
				return false, err.Error()
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			return resp.StatusCode == 200 && strings.Contains(string(body), "Welcome to nginx!"), fmt.Sprintf("%s\n%s", resp.Status, body)
		})
	}
	// From the control plane, which runs no nginx: the answer crosses nodes.
	probe := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "probe", Namespace: "web"},
		Spec: corev1.PodSpec{
			NodeName:      "cp-1",
			RestartPolicy: corev1.RestartPolicyNever,
			Tolerations:   []corev1.Toleration{{Operator: corev1.TolerationOpExists}},
			Containers: []corev1.Container{{Name: "probe", Image: images.ProbeRef,
				Args: []string{"http://nginx-http.web.svc.cluster.local/"}}},
		},
	}
	if _, err := cs.CoreV1().Pods("web").Create(ctx, probe, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	f.eventually(t, 2*time.Minute, "the probe pod on cp-1 gets nginx's page by name", func() (bool, string) {
		p, err := cs.CoreV1().Pods("web").Get(ctx, "probe", metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		logs, _ := cs.CoreV1().Pods("web").GetLogs("probe", &corev1.PodLogOptions{}).DoRaw(ctx)
		if p.Status.Phase == corev1.PodFailed {
			t.Fatalf("the probe failed:\n%s", logs)
		}
		return p.Status.Phase == corev1.PodSucceeded && strings.Contains(string(logs), "Welcome to nginx!"), fmt.Sprintf("%s\n%s", p.Status.Phase, logs)
	})
}

// podnetPath is the pod network's directory in the repository, the cluster file's
// gitops.calicoPath; appsPath is the directory of the apps sync.
const (
	podnetPath = "test/realcluster/podnet"
	appsPath   = "apps"
)

const appsEmpty = `apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
- namespace.yaml
`

const appsWithNginx = `apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
namespace: web
resources:
- namespace.yaml
- ../manifests/nginx-deployment
- ../manifests/nginx-http
`

const gitUser, gitPassword = "gitsync", "real-cluster-password"

type repository struct {
	repo *gitserver.Repo
	url  string
}

// serveRepository serves, on the nodes' gateway where pods reach it, a repository holding
// this checkout's manifests, overlays and pod network, and an apps directory holding only
// namespace web; overlays/cluster/config.yaml points the in-cluster gitsync at it, its
// first sync at the pod network and its apps sync at apps.
func serveRepository(t *testing.T, addr netip.Addr) repository {
	t.Helper()
	repo := gitserver.NewRepo(t)
	srv := gitserver.StartHTTP(t, repo.Root(), gitserver.Options{Username: gitUser, Password: gitPassword, Addr: addr})
	url := srv.URL + "/" + repo.Name()
	files := gitserver.Tree(t, "../..", "manifests")
	maps.Copy(files, gitserver.Tree(t, "../..", "overlays"))
	maps.Copy(files, gitserver.Tree(t, "../..", podnetPath))
	files[appsPath+"/kustomization.yaml"] = appsEmpty
	files[appsPath+"/namespace.yaml"] = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: web\n"
	const config = "overlays/cluster/config.yaml"
	c := files[config]
	for old, new := range map[string]string{
		"https://git.example.org/ops/cluster.git": url,
		"path: manifests/calico":                  "path: " + podnetPath,
		"path: overlays/prod":                     "path: " + appsPath,
	} {
		if !strings.Contains(c, old) {
			t.Fatalf("%s does not say %q", config, old)
		}
		c = strings.Replace(c, old, new, 1)
	}
	files[config] = c
	repo.Commit(t, "the cluster", files)
	return repository{repo: repo, url: url}
}

// gitsyncRef is the image manifests/gitsync runs.
const gitsyncRef = "ghcr.io/gitsync-io/gitsync:latest"

// gitsyncImage is `make image`'s image of this checkout.
func gitsyncImage(t *testing.T) images.Image {
	t.Helper()
	out := filepath.Join(t.TempDir(), "gitsync-image.tar")
	cmd := exec.Command("go", "run", "./hack/image", "--out", out, "--tag", gitsyncRef)
	cmd.Dir = "../.."
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go run ./hack/image: %v\n%s", err, b)
	}
	tag, err := name.NewTag(gitsyncRef)
	if err != nil {
		t.Fatal(err)
	}
	img, err := tarball.ImageFromPath(out, &tag)
	if err != nil {
		t.Fatal(err)
	}
	return images.Image{Ref: gitsyncRef, Image: img}
}

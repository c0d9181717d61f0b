package e2e

import (
	"encoding/json"
	"maps"
	"slices"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"

	"github.com/gitsync-io/gitsync/test/gitserver"
	"github.com/gitsync-io/gitsync/test/testenv"
)

const (
	gitUser     = "e2e"
	gitPassword = "s3cret-Pa55word"
)

var (
	configMaps  = schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}
	deployments = schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}
	services    = schema.GroupVersionResource{Version: "v1", Resource: "services"}
)

// fixture is one sync of a repository served over HTTP with basic auth, into
// a fresh namespace, through a request-counting proxy.
type fixture struct {
	t     *testing.T
	repo  *gitserver.Repo
	git   *gitserver.HTTPServer
	api   *testenv.Proxy
	ns    string
	cache string
	admin dynamic.Interface
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	repo := gitserver.NewRepo(t)
	admin, err := dynamic.NewForConfig(testenv.Config(t))
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{
		t:     t,
		repo:  repo,
		git:   gitserver.StartHTTP(t, repo.Root(), gitserver.Options{Username: gitUser, Password: gitPassword}),
		api:   testenv.StartProxy(t, testenv.Config(t)),
		ns:    testenv.Namespace(t),
		cache: t.TempDir(),
		admin: admin,
	}
}

func (f *fixture) repoURL() string { return f.git.URL + "/" + f.repo.Name() }

// sync runs `gitsync sync` for path "app" with the fixture's repository,
// credentials, cluster and namespace, plus extra flags.
func (f *fixture) sync(extra ...string) result {
	f.t.Helper()
	return f.run("sync", extra...)
}

func (f *fixture) run(command string, extra ...string) result {
	f.t.Helper()
	args := []string{command,
		"--repo", f.repoURL(), "--path", "app", "--name", "e2e",
		"--username", gitUser, "--kubeconfig", f.api.Kubeconfig, "--namespace", f.ns,
		"--cache-dir", f.cache, "--timeout", "60s",
	}
	return gitsync(f.t, []string{"GITSYNC_PASSWORD=" + gitPassword}, append(args, extra...)...)
}

// mustSync syncs and fails the test unless it succeeded.
func (f *fixture) mustSync(extra ...string) result {
	f.t.Helper()
	r := f.sync(extra...)
	if r.Code != 0 {
		f.t.Fatalf("gitsync sync failed:\n%s", r)
	}
	return r
}

// get returns the live object, nil if it does not exist.
func (f *fixture) get(gvr schema.GroupVersionResource, name string) *unstructured.Unstructured {
	f.t.Helper()
	u, err := f.admin.Resource(gvr).Namespace(f.ns).Get(f.t.Context(), name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	} else if err != nil {
		f.t.Fatal(err)
	}
	return u
}

// names lists the objects of gvr in the namespace that carry the sync's label.
func (f *fixture) names(gvr schema.GroupVersionResource) []string {
	f.t.Helper()
	list, err := f.admin.Resource(gvr).Namespace(f.ns).List(f.t.Context(), metav1.ListOptions{LabelSelector: "gitsync.io/sync=" + f.ns + ".e2e"})
	if err != nil {
		f.t.Fatal(err)
	}
	var out []string
	for _, u := range list.Items {
		out = append(out, u.GetName())
	}
	slices.Sort(out)
	return out
}

// status returns `gitsync status -o json` for the fixture's sync.
func (f *fixture) status() map[string]any {
	f.t.Helper()
	st := f.statusOrNil()
	if st == nil {
		f.t.Fatal("gitsync status found no status")
	}
	return st
}

// statusOrNil is status, or nil before the sync recorded one.
func (f *fixture) statusOrNil() map[string]any {
	f.t.Helper()
	r := gitsync(f.t, nil, "status", "--name", "e2e", "--kubeconfig", f.api.Kubeconfig, "--namespace", f.ns, "-o", "json")
	if r.Code != 0 {
		return nil
	}
	var st map[string]any
	if err := json.Unmarshal([]byte(r.Stdout), &st); err != nil {
		f.t.Fatalf("status is not JSON: %v\n%s", err, r.Stdout)
	}
	return st
}

// objects returns the fields of `-o json` output: counts by action.
func counts(t *testing.T, r result) map[string]int {
	t.Helper()
	var out struct {
		Counts map[string]int `json:"counts"`
	}
	if err := json.Unmarshal([]byte(r.Stdout), &out); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, r)
	}
	maps.DeleteFunc(out.Counts, func(_ string, n int) bool { return n == 0 })
	return out.Counts
}

func configMap(name, data string) string {
	return "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: " + name + "\ndata:\n  value: " + data + "\n"
}

const deployment = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: nginx
        image: nginx:1.27
`

const service = `apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  selector: {app: web}
  ports:
  - port: 80
`

// baseApp is a plain directory of manifests.
func baseApp() map[string]string {
	return map[string]string{
		"app/a.yaml":          configMap("a", "one"),
		"app/b.yaml":          configMap("b", "two"),
		"app/deployment.yaml": deployment,
		"app/service.yaml":    service,
	}
}

func oneLine(t *testing.T, r result, wants ...string) {
	t.Helper()
	lines := errorLines(r)
	t.Log(lines)
	if len(lines) != 1 {
		t.Errorf("want exactly one error line, got %d:\n%s", len(lines), r)
		return
	}
	for _, w := range wants {
		if !strings.Contains(lines[0], w) {
			t.Errorf("error line does not mention %q: %s", w, lines[0])
		}
	}
}

func jsonUnmarshal(s string, v any) error { return json.Unmarshal([]byte(s), v) }

package render

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/kustomize/kyaml/openapi"
)

func TestKustomizeFailuresNameTheFile(t *testing.T) {
	cases := []badRepo{
		{
			name:   "reports invalid YAML in a resource with its file and line",
			files:  map[string]string{"app/kustomization.yaml": "resources: [cm.yaml]\n", "app/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n   bad: [\n"},
			path:   "app",
			want:   Error{Problem: InvalidYAML, File: "app/cm.yaml", Line: 5},
			detail: "mapping values are not allowed in this context",
		},
		{
			name: "counts the lines of the documents before the broken one",
			files: map[string]string{"app/kustomization.yaml": "resources: [all.yaml]\n",
				"app/all.yaml": configMap + "---\n" + "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: second\n   bad: x\n"},
			path:   "app",
			want:   Error{Problem: InvalidYAML, File: "app/all.yaml", Line: 10},
			detail: "mapping values are not allowed in this context",
		},
		{
			name:   "reports a resource without a name",
			files:  map[string]string{"app/kustomization.yaml": "resources: [cm.yaml]\n", "app/cm.yaml": "apiVersion: v1\nkind: ConfigMap\ndata:\n  a: b\n"},
			path:   "app",
			want:   Error{Problem: InvalidObject, File: "app/cm.yaml", Object: "v1 ConfigMap"},
			detail: "missing metadata.name",
		},
		{
			name:   "reports a resource without an apiVersion, which kustomize itself lets through",
			files:  map[string]string{"app/kustomization.yaml": "resources: [cm.yaml]\n", "app/cm.yaml": "kind: ConfigMap\nmetadata:\n  name: x\n"},
			path:   "app",
			want:   Error{Problem: InvalidObject, File: "app/cm.yaml", Object: "ConfigMap x"},
			detail: "missing apiVersion",
		},
		{
			name: "reports the same object in two resource files",
			files: map[string]string{"app/kustomization.yaml": "resources: [a.yaml, b.yaml]\n",
				"app/a.yaml": configMap, "app/b.yaml": configMap},
			path:   "app",
			want:   Error{Problem: DuplicateObject, File: "app/b.yaml", Object: "v1 ConfigMap app"},
			detail: "also defined in app/a.yaml",
		},
		{
			name: "reports kustomize's own error with repository-relative paths",
			files: map[string]string{"app/kustomization.yaml": "resources: [cm.yaml]\npatches:\n- path: patch.yaml\n", "app/cm.yaml": configMap,
				"app/patch.yaml": "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: missing\nspec:\n  replicas: 2\n"},
			path:   "app",
			want:   Error{Problem: BuildFailed, File: "app/kustomization.yaml"},
			detail: "no resource matches strategic merge patch",
		},
		{
			name: "refuses plugins that are not builtin, without running them",
			files: map[string]string{"app/kustomization.yaml": "resources: [cm.yaml]\ntransformers: [stamp.yaml]\n", "app/cm.yaml": configMap,
				"app/stamp.yaml": "apiVersion: example.com/v1\nkind: Stamp\nmetadata:\n  name: stamp\n  annotations:\n" +
					"    config.kubernetes.io/function: |\n      exec:\n        path: ./stamp.sh\n",
				"app/stamp.sh": "#!/bin/sh\ntouch ran\n"},
			path:   "app",
			want:   Error{Problem: BuildFailed, File: "app/kustomization.yaml"},
			detail: "external plugins disabled",
			absent: []string{"app/ran"},
		},
		{
			name: "turns a kustomize panic into an error",
			files: map[string]string{"app/kustomization.yaml": "openapi:\n  path: schema.json\nresources: [deploy.yaml]\n" +
				"patches:\n- patch: |-\n    apiVersion: apps/v1\n    kind: Deployment\n    metadata: {name: web}\n    spec: {replicas: 2}\n",
				"app/schema.json": "{not json",
				"app/deploy.yaml": "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: 1\n"},
			path:   "app",
			want:   Error{Problem: BuildPanicked, File: "app/kustomization.yaml"},
			detail: "invalid schema file",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, tc.test)
	}
}

func TestKustomizeStateDoesNotLeakBetweenBuilds(t *testing.T) {
	// The victim: a strategic-merge patch of a Service's unnamed ports, which only the builtin
	// OpenAPI schema knows to merge by port.
	victim := t.TempDir()
	writeTree(t, victim, map[string]string{
		"svc.yaml": "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\nspec:\n  ports:\n  - port: 80\n  - port: 443\n",
		"kustomization.yaml": "resources: [svc.yaml]\npatches:\n- patch: |-\n    apiVersion: v1\n    kind: Service\n" +
			"    metadata: {name: web}\n    spec:\n      ports:\n      - port: 80\n        targetPort: 8080\n",
	})
	want := "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\nspec:\n  ports:\n  - port: 80\n    targetPort: 8080\n  - port: 443\n"
	// The poisoners leave kyaml's global schema without the builtin types (fluxcd/pkg#1237).
	widget := "apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: w\n"
	poisoners := []struct {
		name  string
		files map[string]string
	}{
		{"after a kustomization with a custom OpenAPI schema of its own types", map[string]string{
			"kustomization.yaml": "openapi:\n  path: schema.json\nresources: [widget.yaml]\n", "widget.yaml": widget,
			"schema.json": `{"definitions": {"com.example.v1.Widget": {"type": "object",
				"x-kubernetes-group-version-kind": [{"group": "example.com", "kind": "Widget", "version": "v1"}]}}}`,
		}},
		{"after a kustomization whose OpenAPI schema made kustomize panic", map[string]string{
			"kustomization.yaml": "openapi:\n  path: schema.json\nresources: [widget.yaml]\npatches:\n" +
				"- patch: '{apiVersion: example.com/v1, kind: Widget, metadata: {name: w}, spec: {size: 2}}'\n",
			"widget.yaml": widget, "schema.json": "{",
		}},
	}
	for _, p := range poisoners {
		t.Run("merges strategic patches as usual "+p.name, func(t *testing.T) {
			poisoner := t.TempDir()
			writeTree(t, poisoner, p.files)
			startWithoutSchema(t)
			r := New()
			_, _ = r.Render(t.Context(), poisoner, ".")
			res, err := r.Render(t.Context(), victim, ".")
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(want, string(yamlOf(t, res))); diff != "" {
				t.Errorf("YAML (-want +got):\n%s", diff)
			}
		})
	}
}

// startWithoutSchema puts kyaml's OpenAPI state back to what a process that has not built
// anything yet has, where a leaked custom schema does the most damage. With the guard in place
// this changes nothing: every build already starts that way.
func startWithoutSchema(t *testing.T) {
	t.Helper()
	_, err := guarded(t.Context(), func() (any, error) {
		openapi.ResetOpenAPI()
		return nil, nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestRemoteReferencesNeverReachTheNetworkOrGit(t *testing.T) {
	var requests atomic.Int32
	server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		requests.Add(1)
		http.NotFound(w, nil)
	}))
	t.Cleanup(server.Close)
	host := strings.TrimPrefix(server.URL, "http://")
	// Anything that still went out would go to the local server: as a proxy for remote hosts,
	// directly for its own address. A git process would leave a log.
	t.Setenv("HTTPS_PROXY", server.URL)
	t.Setenv("HTTP_PROXY", server.URL)
	t.Setenv("NO_PROXY", "")
	gitLog := fakeGit(t)

	t.Run("the harness sees kustomize fetch and clone when nothing stops it", func(t *testing.T) {
		dir := t.TempDir()
		writeTree(t, dir, map[string]string{"kustomization.yaml": "resources: [" + server.URL + "/acme/platform.git]\n"})
		_, err := guarded(t.Context(), func() (any, error) {
			return krusty.MakeKustomizer(kustomizeOptions()).Run(filesys.MakeFsOnDisk(), dir)
		})
		if err == nil || requests.Load() == 0 || !exists(gitLog) {
			t.Fatalf("err = %v, requests = %d, git ran = %v: the harness would not notice a fetch", err, requests.Load(), exists(gitLog))
		}
		requests.Store(0)
		os.Remove(gitLog)
	})
	cases := []struct{ name, ref string }{
		{"refuses a remote base on GitHub", "https://github.com/acme/platform//base?ref=v1.0.0"},
		{"refuses the github.com shorthand", "github.com/acme/platform/base"},
		{"refuses a URL to a file", server.URL + "/deploy.yaml"},
		{"refuses a git repository over HTTP", server.URL + "/acme/platform.git//base"},
		{"refuses an scp-style git URL", "git@" + host + ":acme/platform.git"},
	}
	for _, tc := range cases {
		t.Run(tc.name+" before any request or git process", func(t *testing.T) {
			root := t.TempDir()
			writeTree(t, root, map[string]string{"kustomization.yaml": "resources:\n- " + tc.ref + "\n"})
			_, err := New().Render(t.Context(), root, ".")
			if got := renderError(t, err); got.Problem != RemoteRefused {
				t.Errorf("error %v: want %s", err, RemoteRefused)
			}
			if requests.Load() != 0 || exists(gitLog) {
				t.Errorf("requests = %d, git ran = %v: want none", requests.Load(), exists(gitLog))
			}
		})
	}
}

// fakeGit puts a git first on PATH that only logs that it ran, and returns the log's path.
func fakeGit(t *testing.T) string {
	t.Helper()
	bin := t.TempDir()
	log := filepath.Join(bin, "git.log")
	script := "#!/bin/sh\necho \"$@\" >> " + log + "\nexit 1\n"
	if err := os.WriteFile(filepath.Join(bin, "git"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	return log
}

func exists(file string) bool {
	_, err := os.Stat(file)
	return err == nil
}

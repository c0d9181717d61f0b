package render

import (
	"bytes"
	"crypto/sha1"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/gitsync-io/gitsync/test/testenv"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/golden from the current output")

const repo = "testdata/repo"

func TestRenderMatchesKustomizeBuild(t *testing.T) {
	cases := []struct {
		name    string
		path    string
		objects []string
	}{
		{
			name:    "builds the base like kustomize build",
			path:    "base",
			objects: []string{"v1 ConfigMap nginx-config-9gdf588f6k", "v1 Service nginx-http", "apps/v1 Deployment nginx"},
		},
		{
			name: "builds the dev overlay with its namespace and image tag",
			path: "overlays/dev",
			objects: []string{"v1 ConfigMap dev/nginx-config-9gdf588f6k", "v1 Service dev/nginx-http",
				"apps/v1 Deployment dev/nginx"},
		},
		{
			name: "builds the prod overlay with its patches, replicas and component",
			path: "overlays/prod",
			objects: []string{"v1 ConfigMap prod/nginx-config-9gdf588f6k", "v1 Service prod/nginx-http",
				"apps/v1 Deployment prod/nginx", "policy/v1 PodDisruptionBudget prod/nginx"},
		},
		{
			name: "builds the canary overlay with its name prefix and labels",
			path: "overlays/canary",
			objects: []string{"v1 ConfigMap prod/canary-nginx-config-9gdf588f6k", "v1 Service prod/canary-nginx-http",
				"apps/v1 Deployment prod/canary-nginx"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res, err := New().Render(t.Context(), repo, tc.path)
			if err != nil {
				t.Fatal(err)
			}
			want := golden(t, tc.path, yamlOf(t, res))
			if diff := cmp.Diff(string(want), string(yamlOf(t, res))); diff != "" {
				t.Errorf("YAML differs from the golden file (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(string(want), string(kustomizeCLI(t, filepath.Join(repo, tc.path)))); diff != "" {
				t.Errorf("kustomize build output differs from the golden file (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.objects, describeAll(res.Objects)); diff != "" {
				t.Errorf("objects (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRenderReadsAPlainDirectory(t *testing.T) {
	res, err := New().Render(t.Context(), repo, "plain")
	if err != nil {
		t.Fatal(err)
	}
	t.Run("takes the YAML files in name order, skipping empty documents, other files and subdirectories", func(t *testing.T) {
		want := []string{"v1 Namespace web", "v1 ConfigMap web/web-config", "v1 Service web/web", "apps/v1 Deployment web/worker"}
		if diff := cmp.Diff(want, describeAll(res.Objects)); diff != "" {
			t.Errorf("objects (-want +got):\n%s", diff)
		}
	})
	t.Run("matches the golden file", func(t *testing.T) {
		want := golden(t, "plain", yamlOf(t, res))
		if diff := cmp.Diff(string(want), string(yamlOf(t, res))); diff != "" {
			t.Errorf("YAML (-want +got):\n%s", diff)
		}
	})
	t.Run("writes the documents exactly as kustomize build writes the same files", func(t *testing.T) {
		dir := t.TempDir()
		files := map[string]string{"kustomization.yaml": "resources: [00-namespace.yaml, app.yaml, worker.yml]\nsortOptions:\n  order: fifo\n"}
		for _, name := range []string{"00-namespace.yaml", "app.yaml", "worker.yml"} {
			files[name] = readFile(t, filepath.Join(repo, "plain", name))
		}
		writeTree(t, dir, files)
		if diff := cmp.Diff(string(kustomizeCLI(t, dir)), string(yamlOf(t, res))); diff != "" {
			t.Errorf("YAML (-kustomize +render):\n%s", diff)
		}
	})
	t.Run("keeps integers as int64 and namespaces as written", func(t *testing.T) {
		replicas, _, _ := unstructured.NestedInt64(res.Objects[3].Object, "spec", "replicas")
		if replicas != 2 || res.Objects[3].GetNamespace() != "web" {
			t.Errorf("replicas = %d, namespace = %q; want 2, web", replicas, res.Objects[3].GetNamespace())
		}
	})
}

func TestRenderReportsItsInputs(t *testing.T) {
	cases := []struct {
		name, path string
		want       []string
	}{
		{
			name: "lists the files an overlay read, across its bases and components",
			path: "overlays/prod",
			want: []string{"base/deployment.yaml", "base/kustomization.yaml", "base/nginx.conf", "base/service.yaml",
				"components/monitoring/kustomization.yaml", "overlays/prod/kustomization.yaml", "overlays/prod/pdb.yaml",
				"overlays/prod/resources-patch.yaml", "overlays/prod/strategy-patch.yaml"},
		},
		{
			name: "lists a plain directory and the YAML files in it",
			path: "plain",
			want: []string{"plain", "plain/00-namespace.yaml", "plain/app.yaml", "plain/worker.yml"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res, err := New().Render(t.Context(), repo, tc.path)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, res.Inputs); diff != "" {
				t.Errorf("inputs (-want +got):\n%s", diff)
			}
			if !strings.HasPrefix(res.Digest, "sha256:") || len(res.Digest) != len("sha256:")+64 {
				t.Errorf("digest = %q, want sha256:<64 hex digits>", res.Digest)
			}
		})
	}
}

func TestRenderAcceptsTheRootAsPath(t *testing.T) {
	for _, path := range []string{"", ".", "./"} {
		t.Run("renders the repository root given as "+strconvQuote(path), func(t *testing.T) {
			root := t.TempDir()
			writeTree(t, root, map[string]string{"cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n"})
			res, err := New().Render(t.Context(), root, path)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff([]string{"v1 ConfigMap a"}, describeAll(res.Objects)); diff != "" {
				t.Errorf("objects (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRenderGivesCallersTheirOwnObjects(t *testing.T) {
	r := New()
	first, err := r.Render(t.Context(), repo, "overlays/dev")
	if err != nil {
		t.Fatal(err)
	}
	first.Objects[0].SetName("changed-by-caller")
	second, err := r.Render(t.Context(), repo, "overlays/dev")
	if err != nil {
		t.Fatal(err)
	}
	if !second.Cached || second.Objects[0].GetName() == "changed-by-caller" {
		t.Errorf("cached = %v, name = %q: want a cached result unaffected by the caller's change", second.Cached, second.Objects[0].GetName())
	}
}

// TestSharedRendersHandOutTheKeptObjects: a Shared Renderer (a sync's)
// hands out the objects it keeps for the next render, not copies of them.
func TestSharedRendersHandOutTheKeptObjects(t *testing.T) {
	r := New(Options{Shared: true})
	first, err := r.Render(t.Context(), repo, "overlays/dev")
	if err != nil {
		t.Fatal(err)
	}
	second, err := r.Render(t.Context(), repo, "overlays/dev")
	if err != nil {
		t.Fatal(err)
	}
	if !second.Cached || len(second.Objects) == 0 || len(first.Objects) != len(second.Objects) {
		t.Fatalf("cached = %v, %d then %d objects", second.Cached, len(first.Objects), len(second.Objects))
	}
	for i, o := range second.Objects {
		if o != first.Objects[i] {
			t.Errorf("object %d (%s) is a copy; want the kept object itself", i, o.GetName())
		}
	}
}

// golden returns the golden file for path, first rewriting it with got under -update.
func golden(t *testing.T, path string, got []byte) []byte {
	t.Helper()
	file := filepath.Join("testdata", "golden", strings.ReplaceAll(path, "/", "-")+".yaml")
	if *update {
		if err := os.WriteFile(file, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return []byte(readFile(t, file))
}

// kustomizeCLI returns what `kustomize build dir` prints, run by the released
// kustomize CLI at the kustomize/api version go.mod pins (tools/build.sh
// kustomize). gitsync itself builds with a patched copy of that module
// (third_party/kustomize-api), so this is the reference the patch is held to.
func kustomizeCLI(t testing.TB, dir string) []byte {
	t.Helper()
	out, err := kustomizeCLIBuild(t, dir)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// kustomizeCLIBuild is kustomizeCLI for a build that may fail: the error holds
// what kustomize printed.
func kustomizeCLIBuild(t testing.TB, dir string) ([]byte, error) {
	t.Helper()
	bin, err := testenv.Binary("kustomize")
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd := exec.CommandContext(t.Context(), bin, "build", dir)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("kustomize build %s: %v: %s", dir, err, bytes.TrimSpace(stderr.Bytes()))
	}
	return out, nil
}

func describeAll(objs []*unstructured.Unstructured) []string {
	ids := make([]string, len(objs))
	for i, o := range objs {
		ids[i] = describe(o)
	}
	return ids
}

// writeTree writes files (repository-relative name → content) under root.
func writeTree(t testing.TB, root string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		file := filepath.Join(root, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(file, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// blobsOf maps each file to a git blob of its content, as a snapshot's
// blobs do.
func blobsOf(files map[string]string) map[string]string {
	blobs := make(map[string]string, len(files))
	for name, content := range files {
		blobs[name] = fmt.Sprintf("0100644 %x", sha1.Sum([]byte(content)))
	}
	return blobs
}

// copyTree copies the directory tree src to a new temporary directory and returns it.
func copyTree(t *testing.T, src string) string {
	t.Helper()
	dst := t.TempDir()
	if err := os.CopyFS(dst, os.DirFS(src)); err != nil {
		t.Fatal(err)
	}
	return dst
}

func readFile(t *testing.T, file string) string {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// renderError checks that err is a terminal *Error and returns it (the first, for joined errors).
func renderError(t *testing.T, err error) *Error {
	t.Helper()
	var terminal interface{ Terminal() bool }
	if !errors.As(err, &terminal) || !terminal.Terminal() {
		t.Fatalf("error %v (%T) is not terminal", err, err)
	}
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v is not a *render.Error", err)
	}
	return e
}

func strconvQuote(s string) string { return `"` + s + `"` }

// badRepo is a repository with something wrong in it, and what Render must say about it.
type badRepo struct {
	name   string
	files  map[string]string // path in the repository → content
	links  map[string]string // path in the repository → symlink target; OUTSIDE is a directory next to the repository
	path   string            // the path to render
	want   Error             // Problem, File, Line and Object are compared
	detail string            // part of the Detail
	absent []string          // files the render must not have created, as a plugin would
}

// outsideFiles sit next to the repository: a build that could reach them would succeed.
var outsideFiles = map[string]string{
	"kustomization.yaml": "resources: [secret.yaml]\n",
	"secret.yaml":        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: stolen\nstringData:\n  token: s3cr3t\n",
}

// run runs the case as a subtest.
func (tc badRepo) run(t *testing.T) { t.Run(tc.name, tc.test) }

func (tc badRepo) test(t *testing.T) {
	t.Helper()
	base := t.TempDir()
	root, outside := filepath.Join(base, "repo"), filepath.Join(base, "outside")
	writeTree(t, outside, outsideFiles)
	writeTree(t, root, tc.files)
	if err := os.MkdirAll(root, 0o755); err != nil {
		t.Fatal(err)
	}
	for link, target := range tc.links {
		link = filepath.Join(root, link)
		if err := os.MkdirAll(filepath.Dir(link), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(strings.ReplaceAll(target, "OUTSIDE", outside), link); err != nil {
			t.Fatal(err)
		}
	}
	// The same repository as a git Tree, read from no directory, must be
	// refused alike.
	tree := treeOf(t, root)
	t.Run("directory", func(t *testing.T) {
		res, err := New().Render(t.Context(), root, tc.path)
		tc.check(t, root, res, err)
	})
	t.Run("tree", func(t *testing.T) {
		res, err := New().RenderTree(t.Context(), tree, tc.path, nil)
		tc.check(t, root, res, err)
	})
}

func (tc badRepo) check(t *testing.T, root string, res *Result, err error) {
	t.Helper()
	if err == nil {
		t.Fatalf("rendered %d objects, want an error: %s", len(res.Objects), yamlOf(t, res))
	}
	got := renderError(t, err)
	if diff := cmp.Diff(tc.want, *got, cmpopts.IgnoreFields(Error{}, "Detail", "Fix", "Err")); diff != "" {
		t.Errorf("error %q (-want +got):\n%s", err, diff)
	}
	if !strings.Contains(got.Detail, tc.detail) || got.Fix == "" {
		t.Errorf("error %q: want a detail containing %q and a fix", err, tc.detail)
	}
	for _, file := range tc.absent {
		if exists(filepath.Join(root, file)) {
			t.Errorf("%s exists: something ran", file)
		}
	}
	if msg := got.Error(); strings.Contains(msg, "\n") || strings.Contains(msg, root) || strings.Contains(msg, "s3cr3t") {
		t.Errorf("error %q: want one line, with repository-relative paths (a symlink target shown as written), leaking no content from outside", msg)
	}
}

func TestRenderConcurrently(t *testing.T) {
	paths := []string{"base", "overlays/dev", "overlays/prod", "overlays/canary", "plain"}
	want := map[string]string{}
	for _, path := range paths {
		want[path] = readFile(t, filepath.Join("testdata", "golden", strings.ReplaceAll(path, "/", "-")+".yaml"))
	}
	roots := []string{copyTree(t, repo), copyTree(t, repo)}
	shared := New()
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			r := shared
			if g%2 == 0 {
				r = New() // nothing cached: every kustomization is built
			}
			for i := range 2 * len(paths) {
				path := paths[(g+i)%len(paths)]
				res, err := r.Render(t.Context(), roots[(g+i)%2], path)
				if err != nil {
					t.Errorf("goroutine %d, %s: %v", g, path, err)
					return
				}
				if string(yamlOf(t, res)) != want[path] {
					t.Errorf("goroutine %d, %s: YAML differs from the golden file", g, path)
				}
			}
		})
	}
	wg.Wait()
}

func yamlOf(t *testing.T, res *Result) []byte {
	t.Helper()
	y, err := res.YAML()
	if err != nil {
		t.Fatal(err)
	}
	return y
}

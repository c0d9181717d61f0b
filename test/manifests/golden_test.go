package manifests

import (
	"flag"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gitsync-io/gitsync/pkg/sync/render"
)

var update = flag.Bool("update", false, "rewrite testdata/golden from the current renders")

const goldenDir = "testdata/golden"

// TestGolden renders every base and overlay the repository ships, as
// `gitsync render` prints it, and compares it with its golden file, so that
// a change to what gets applied shows up in review as a change to
// testdata/golden. Calico's upstream files come from the stand-in
// (testdata/calico-upstream) through the mirror map. Each render must also
// pass `gitsync lint` without errors: this is how CI lints the repository.
func TestGolden(t *testing.T) {
	dirs := shippedKustomizations(t, repoRoot(t))
	mirror, _ := calicoMirror(t)
	renderer := render.New(render.Options{Remote: &render.Remote{CacheDir: t.TempDir(), Mirrors: []render.Mirror{mirror}}})
	for _, dir := range dirs {
		t.Run(dir, func(t *testing.T) {
			res, err := renderer.Render(t.Context(), repoRoot(t), dir)
			if err != nil {
				t.Fatalf("render %s: %v", dir, err)
			}
			for _, f := range res.Lint() {
				if f.Severity == render.SeverityError && !lintAlone[dir] {
					t.Errorf("gitsync lint --path %s: %s", dir, f)
				} else {
					t.Logf("gitsync lint --path %s: %s: %s", dir, f.Severity, f)
				}
			}
			got, err := res.YAML()
			if err != nil {
				t.Fatal(err)
			}
			file := goldenFile(dir)
			if *update {
				if err := os.WriteFile(file, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(file)
			if os.IsNotExist(err) {
				t.Fatalf("%s has no golden file %s: run `go test ./test/manifests -run TestGolden -update` and review it", dir, file)
			} else if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(string(want), string(got)); diff != "" {
				t.Errorf("render of %s differs from %s (-want +got); if intended, run `go test ./test/manifests -run TestGolden -update`:\n%s", dir, file, diff)
			}
		})
	}
	t.Run("no golden file outlives its directory", func(t *testing.T) {
		for _, stale := range staleGoldenFiles(t, dirs) {
			if *update {
				if err := os.Remove(stale); err != nil {
					t.Fatal(err)
				}
				continue
			}
			t.Errorf("%s belongs to no directory rendered here: delete it, or run with -update", stale)
		}
	})
}

// lintAlone are bases that are not whole applications: manifests/nginx-http
// is a Service whose pods are in manifests/nginx-deployment, so lint rightly
// finds its selector matching nothing when it is rendered alone. The
// overlays compose them and must lint clean.
var lintAlone = map[string]bool{"manifests/nginx-http": true}

// shippedKustomizations lists manifests/* and overlays/* that hold a
// kustomization.
func shippedKustomizations(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	for _, parent := range []string{"manifests", "overlays"} {
		entries, err := os.ReadDir(filepath.Join(root, parent))
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			dir := path.Join(parent, e.Name())
			if e.IsDir() && hasKustomization(filepath.Join(root, dir)) {
				out = append(out, dir)
			}
		}
	}
	if len(out) == 0 {
		t.Fatalf("no kustomization under %s/manifests or %s/overlays", root, root)
	}
	return out
}

func hasKustomization(dir string) bool {
	for _, name := range []string{"kustomization.yaml", "kustomization.yml", "Kustomization"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err == nil {
			return true
		}
	}
	return false
}

// goldenFile is testdata/golden/<dir with / replaced by _>.yaml.
func goldenFile(dir string) string {
	return filepath.Join(goldenDir, strings.ReplaceAll(dir, "/", "_")+".yaml")
}

// staleGoldenFiles are the golden files of none of dirs.
func staleGoldenFiles(t *testing.T, dirs []string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(goldenDir, "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var stale []string
	for _, f := range files {
		if !slices.ContainsFunc(dirs, func(dir string) bool { return goldenFile(dir) == f }) {
			stale = append(stale, f)
		}
	}
	return stale
}

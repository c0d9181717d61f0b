package render

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

// testRepository makes a repository with files and symlinks (OUTSIDE in a target stands for a
// directory next to it) and opens it.
func testRepository(t *testing.T, files, links map[string]string) *confinedFS {
	t.Helper()
	base := t.TempDir()
	root, outside := filepath.Join(base, "repo"), filepath.Join(base, "outside")
	writeTree(t, outside, map[string]string{"secret.yaml": "s3cr3t"})
	writeTree(t, root, files)
	for link, target := range links {
		if err := os.Symlink(strings.ReplaceAll(target, "OUTSIDE", outside), filepath.Join(root, link)); err != nil {
			t.Fatal(err)
		}
	}
	fsys, err := openRepository(root)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fsys.Close() })
	return fsys
}

func TestResolveFollowsSymlinksInsideTheRepository(t *testing.T) {
	fsys := testRepository(t, map[string]string{"base/cm.yaml": configMap}, map[string]string{
		"link.yaml":  "base/cm.yaml",
		"chain.yaml": "link.yaml",
		"shared":     "base",
		"loop":       ".",
	})
	// An absolute symlink into the snapshot itself stays inside.
	if err := os.Symlink(filepath.Join(fsys.dir, "base/cm.yaml"), filepath.Join(fsys.dir, "abs.yaml")); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, path string
		want       node
	}{
		{"finds a plain file where it is", "base/cm.yaml", node{real: "base/cm.yaml"}},
		{"finds the repository root", ".", node{real: ".", dir: true}},
		{"follows a relative symlink", "link.yaml", node{real: "base/cm.yaml"}},
		{"follows a chain of symlinks", "chain.yaml", node{real: "base/cm.yaml"}},
		{"follows an absolute symlink into the repository", "abs.yaml", node{real: "base/cm.yaml"}},
		{"follows a symlinked directory", "shared/cm.yaml", node{real: "base/cm.yaml"}},
		{"follows a symlink to the repository root", "loop/loop/base", node{real: "base", dir: true}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := fsys.resolve(tc.path)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got, cmp.AllowUnexported(node{})); diff != "" {
				t.Errorf("resolve(%q) (-want +got):\n%s", tc.path, diff)
			}
		})
	}
}

func TestResolveRefusesWhatLeavesTheRepository(t *testing.T) {
	fsys := testRepository(t, map[string]string{"app/cm.yaml": configMap}, map[string]string{
		"app/passwd.yaml":  "/etc/passwd",
		"app/up":           "../../outside",
		"app/outside":      "OUTSIDE",
		"app/nowhere.yaml": "OUTSIDE/not/there.yaml",
		"app/self":         "self",
	})
	cases := []struct {
		name, path, detail string
	}{
		{"refuses a symlink to /etc/passwd", "app/passwd.yaml", `"app/passwd.yaml" is a symlink to "/etc/passwd"`},
		{"refuses a relative symlink that climbs out", "app/up/secret.yaml", `"app/up" is a symlink to "../../outside"`},
		{"refuses an absolute symlink to a directory outside", "app/outside/secret.yaml", `"app/outside" is a symlink to`},
		{"refuses a symlink outside without looking whether its target exists", "app/nowhere.yaml", `"app/nowhere.yaml" is a symlink to`},
		{"refuses a symlink loop", "app/self", "too many levels of symbolic links"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := fsys.resolve(tc.path)
			var e *Error
			if !errors.As(err, &e) || !strings.Contains(e.Detail, tc.detail) {
				t.Errorf("resolve(%q) = %v, want an error saying %s", tc.path, err, tc.detail)
			}
		})
	}
}

func TestConfinedFSAsKustomizeSeesIt(t *testing.T) {
	fsys := testRepository(t, map[string]string{"app/cm.yaml": configMap}, map[string]string{"app/link.yaml": "cm.yaml"})
	abs := func(rel string) string { return filepath.Join(fsys.dir, rel) }
	t.Run("answers CleanedAbs with the real directory and file, as kustomize's disk does", func(t *testing.T) {
		dir, file, err := fsys.CleanedAbs(abs("app/link.yaml"))
		if err != nil || dir != filesys.ConfirmedDir(abs("app")) || file != "cm.yaml" {
			t.Errorf("CleanedAbs = %q, %q, %v; want %q, cm.yaml", dir, file, err, abs("app"))
		}
		dir, file, err = fsys.CleanedAbs(abs("app"))
		if err != nil || dir != filesys.ConfirmedDir(abs("app")) || file != "" {
			t.Errorf("CleanedAbs = %q, %q, %v; want %q and no file", dir, file, err, abs("app"))
		}
	})
	t.Run("reads files and answers existence questions", func(t *testing.T) {
		data, err := fsys.ReadFile(abs("app/cm.yaml"))
		if err != nil || string(data) != configMap || !fsys.IsDir(abs("app")) || !fsys.Exists(abs("app/link.yaml")) || fsys.Exists(abs("app/no.yaml")) {
			t.Errorf("ReadFile = %q, %v; IsDir, Exists disagree with the disk", data, err)
		}
	})
	t.Run("records every question and its answer", func(t *testing.T) {
		want := inputs{
			{opStat, "app/link.yaml"}: `file -> "app/cm.yaml"`,
			{opStat, "app"}:           "dir",
			{opRead, "app/cm.yaml"}:   contentAnswer([]byte(configMap)),
			{opStat, "app/no.yaml"}:   "absent",
		}
		if diff := cmp.Diff(want, fsys.seen, cmp.AllowUnexported(input{})); diff != "" {
			t.Errorf("recorded inputs (-want +got):\n%s", diff)
		}
		if fsys.failed != nil {
			t.Errorf("failed = %v, want nothing failed", fsys.failed)
		}
	})
	t.Run("refuses a path above the repository and remembers the refusal", func(t *testing.T) {
		if _, err := fsys.ReadFile(abs("../outside/secret.yaml")); err == nil || fsys.failed == nil {
			t.Errorf("ReadFile outside = %v, failed = %v; want both an error", err, fsys.failed)
		}
	})
}

func TestConfinedFSIsReadOnly(t *testing.T) {
	cases := []struct {
		name string
		call func(f *confinedFS, p string) error
	}{
		{"refuses to write a file", func(f *confinedFS, p string) error { return f.WriteFile(p, nil) }},
		{"refuses to create a file", func(f *confinedFS, p string) error { _, err := f.Create(p); return err }},
		{"refuses to make a directory", func(f *confinedFS, p string) error { return f.MkdirAll(p) }},
		{"refuses to remove anything", func(f *confinedFS, p string) error { return f.RemoveAll(p) }},
		{"refuses to list a directory it would not record", func(f *confinedFS, p string) error { _, err := f.ReadDir(p); return err }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fsys := testRepository(t, map[string]string{"app/cm.yaml": configMap}, nil)
			err := tc.call(fsys, filepath.Join(fsys.dir, "app"))
			if got := renderError(t, err); got.Problem != Unsupported || fsys.failed == nil {
				t.Errorf("err = %v, failed = %v; want an unsupported-feature error that fails the render", err, fsys.failed)
			}
			if entries, _ := os.ReadDir(filepath.Join(fsys.dir, "app")); len(entries) != 1 {
				t.Errorf("app holds %d entries, want it untouched", len(entries))
			}
		})
	}
}

func TestUnchanged(t *testing.T) {
	files := map[string]string{"app/cm.yaml": configMap, "app/b.yaml": configMap, "other/x.yaml": "x"}
	first := testRepository(t, files, nil)
	if _, err := first.readFile("app/cm.yaml"); err != nil {
		t.Fatal(err)
	}
	if _, err := first.yamlFiles("app"); err != nil {
		t.Fatal(err)
	}
	first.check("app/kustomization.yaml")
	cases := []struct {
		name  string
		files map[string]string
		links map[string]string
		want  bool
	}{
		{"holds for the same content in another snapshot", files, nil, true},
		{"holds when an unrelated file changes", map[string]string{"app/cm.yaml": configMap, "app/b.yaml": configMap, "other/x.yaml": "y", "app/notes.txt": "n"}, nil, true},
		{"fails when a file read changes", map[string]string{"app/cm.yaml": configMap + "data: {}\n", "app/b.yaml": configMap}, nil, false},
		{"fails when a YAML file is added to a listed directory", map[string]string{"app/cm.yaml": configMap, "app/b.yaml": configMap, "app/c.yml": ""}, nil, false},
		{"fails when a file checked for appears", map[string]string{"app/cm.yaml": configMap, "app/b.yaml": configMap, "app/kustomization.yaml": ""}, nil, false},
		{"fails when a file read turns into a symlink outside", map[string]string{"app/b.yaml": configMap}, map[string]string{"app/cm.yaml": "OUTSIDE/secret.yaml"}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			next := testRepository(t, tc.files, tc.links)
			if got := next.unchanged(first.seen); got != tc.want {
				t.Errorf("unchanged = %v, want %v", got, tc.want)
			}
		})
	}
}

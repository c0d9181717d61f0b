package render

import (
	"crypto/sha1"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// treeOf reads the directory root into a Tree held in memory, as a snapshot's
// blobs and object store would describe it: regular files, executables and
// symlinks with git's modes.
func treeOf(t testing.TB, root string) Tree {
	t.Helper()
	blobs, content := map[string]string{}, map[string][]byte{}
	err := filepath.WalkDir(root, func(file string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(root, file)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		info, err := d.Info()
		if err != nil {
			return err
		}
		mode := "0100644"
		var data []byte
		switch {
		case d.Type()&fs.ModeSymlink != 0:
			mode = "0120000"
			target, err := os.Readlink(file)
			if err != nil {
				return err
			}
			data = []byte(target)
		case info.Mode()&0o111 != 0:
			mode = "0100755"
			fallthrough
		default:
			if data, err = os.ReadFile(file); err != nil {
				return err
			}
		}
		blobs[rel] = fmt.Sprintf("%s %x", mode, sha1.Sum(data))
		content[rel] = data
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return Tree{Blobs: blobs, Read: func(path string) ([]byte, error) {
		data, ok := content[path]
		if !ok {
			return nil, fmt.Errorf("the tree holds no file %q", path)
		}
		return data, nil
	}}
}

// A Tree renders exactly as the directory that holds it: the same bytes,
// digest and inputs, or the same error, with no directory left to read.
func TestTreeRendersAsTheDirectory(t *testing.T) {
	root := copyTree(t, repo)
	links := map[string]string{"linked/overlay": "../overlays/prod", "linked/kustomization.yaml": "../overlays/dev/kustomization.yaml",
		"linked/loop": "loop", "outside": "../../etc"}
	for link, target := range links {
		if err := os.MkdirAll(filepath.Join(root, filepath.Dir(link)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(target, filepath.Join(root, link)); err != nil {
			t.Fatal(err)
		}
	}
	paths := []string{"base", "overlays/dev", "overlays/prod", "overlays/canary", "plain", "linked/overlay", "linked", "linked/loop", "outside", "absent"}
	type outcome struct{ yaml, digest, inputs, err string }
	render := func(t *testing.T, f func(path string) (*Result, error)) map[string]outcome {
		out := map[string]outcome{}
		for _, path := range paths {
			res, err := f(path)
			if err != nil {
				out[path] = outcome{err: err.Error()}
				continue
			}
			out[path] = outcome{yaml: string(yamlOf(t, res)), digest: res.Digest, inputs: fmt.Sprint(res.Inputs)}
		}
		return out
	}
	want := render(t, func(path string) (*Result, error) { return New().Render(t.Context(), root, path) })
	tree := treeOf(t, root)
	if err := os.RemoveAll(root); err != nil {
		t.Fatal(err)
	}
	got := render(t, func(path string) (*Result, error) { return New().RenderTree(t.Context(), tree, path, nil) })
	if diff := cmp.Diff(want, got, cmp.AllowUnexported(outcome{})); diff != "" {
		t.Errorf("renders of the tree differ from the directory's (-directory +tree):\n%s", diff)
	}
	if o := want["overlays/prod"]; o.err != "" || o.yaml == "" {
		t.Errorf("overlays/prod did not render: %q", o.err)
	}
	for _, path := range []string{"linked/loop", "outside", "absent"} {
		if want[path].err == "" {
			t.Errorf("%s rendered; want it refused", path)
		}
	}
}

// treeDirs lists every directory the files imply, each once, with its
// entries.
func TestTreeDirs(t *testing.T) {
	dirs := treeDirs(map[string]string{"a/b/c.yaml": "0100644 1", "a/b/d.yaml": "0100644 2", "a/e": "0120000 3", "f.yaml": "0100644 4", "g/h/i/j": "0100755 5"})
	want := map[string][]dirent{
		".":     {{"a", fs.ModeDir}, {"f.yaml", 0}, {"g", fs.ModeDir}},
		"a":     {{"b", fs.ModeDir}, {"e", fs.ModeSymlink}},
		"a/b":   {{"c.yaml", 0}, {"d.yaml", 0}},
		"g":     {{"h", fs.ModeDir}},
		"g/h":   {{"i", fs.ModeDir}},
		"g/h/i": {{"j", 0}},
	}
	for _, entries := range dirs {
		slices.SortFunc(entries, func(a, b dirent) int { return strings.Compare(a.name, b.name) })
	}
	if diff := cmp.Diff(want, dirs, cmp.AllowUnexported(dirent{})); diff != "" {
		t.Errorf("directories (-want +got):\n%s", diff)
	}
}

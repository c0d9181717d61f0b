package source_test

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/google/go-cmp/cmp"

	"github.com/gitsync-io/gitsync/pkg/sync/source"
	"github.com/gitsync-io/gitsync/test/gitserver"
)

func TestSnapshotContent(t *testing.T) {
	repo := gitserver.NewRepo(t)
	repo.Commit(t, "first", map[string]string{"app.yaml": "v1", "base/deep/cm.yaml": "cm"})
	repo.Symlink(t, "link.yaml", "app.yaml")
	repo.Symlink(t, "base/up", "..")
	repo.Symlink(t, "escape", "../../../../etc/passwd")
	src := newSource(t, source.Options{URL: repo.URL()})
	art := fetch(t, src)

	t.Run("holds the whole tree, with symlinks as links to their recorded targets", func(t *testing.T) {
		want := map[string]string{
			"app.yaml":          "v1",
			"base/deep/cm.yaml": "cm",
			"link.yaml":         "-> app.yaml",
			"base/up":           "-> ..",
			"escape":            "-> ../../../../etc/passwd",
		}
		if diff := cmp.Diff(want, readTree(t, art.Dir)); diff != "" {
			t.Errorf("snapshot (-want +got):\n%s", diff)
		}
	})
	t.Run("ReadFile reads each file of Blobs as its blob", func(t *testing.T) {
		got := map[string]string{}
		for name, blob := range art.Blobs {
			data, err := src.ReadFile(art, name)
			if err != nil {
				t.Fatalf("ReadFile(%q): %v", name, err)
			}
			mode, hash, _ := strings.Cut(blob, " ")
			if sum := plumbing.ComputeHash(plumbing.BlobObject, data).String(); sum != hash {
				t.Errorf("ReadFile(%q) holds blob %s, Blobs say %s", name, sum, hash)
			}
			if mode == filemode.Symlink.String() {
				data = append([]byte("-> "), data...)
			}
			got[name] = string(data)
		}
		if diff := cmp.Diff(readTree(t, art.Dir), got); diff != "" {
			t.Errorf("ReadFile of Blobs (-directory +ReadFile):\n%s", diff)
		}
		if _, err := src.ReadFile(art, "base/deep"); err == nil {
			t.Error("ReadFile of a directory: no error")
		}
	})
	t.Run("has no .git directory", func(t *testing.T) {
		if _, err := os.Lstat(filepath.Join(art.Dir, ".git")); !os.IsNotExist(err) {
			t.Errorf("Lstat(.git) = %v, want not exist", err)
		}
	})
	t.Run("makes every file read-only", func(t *testing.T) {
		err := filepath.WalkDir(art.Dir, func(path string, d fs.DirEntry, err error) error {
			info, _ := d.Info()
			if err == nil && d.Type().IsRegular() && info.Mode().Perm() != 0o444 {
				t.Errorf("%s has mode %v, want 0444", path, info.Mode().Perm())
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	})
}

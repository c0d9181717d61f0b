package source_test

import (
	"io/fs"
	"os"
	"path/filepath"
	"testing"

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
	art := fetch(t, newSource(t, source.Options{URL: repo.URL()}))

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

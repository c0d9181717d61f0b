package gitserver

import (
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

// Tree returns the files under root/dir keyed by their slash-separated path relative to
// root, as Commit takes them: a directory of the checkout made the content of a commit.
func Tree(t testing.TB, root, dir string) map[string]string {
	t.Helper()
	files := map[string]string{}
	err := filepath.WalkDir(filepath.Join(root, dir), func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, p)
		files[filepath.ToSlash(rel)] = string(data)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

package atomicfile_test

import (
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gitsync-io/gitsync/pkg/atomicfile"
)

func TestWrite(t *testing.T) {
	for _, tc := range []struct {
		name   string
		before *string // nil: no file
		perm   fs.FileMode
	}{
		{name: "creates a file with the mode asked for", perm: 0o600},
		{name: "creates a file with a mode wider than a temporary file's", perm: 0o644},
		{name: "replaces a file, taking the new mode", before: new("old content that is longer"), perm: 0o600},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "file")
			if tc.before != nil {
				if err := os.WriteFile(path, []byte(*tc.before), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if err := atomicfile.Write(path, []byte("new"), tc.perm); err != nil {
				t.Fatal(err)
			}
			data, err := os.ReadFile(path)
			if err != nil || string(data) != "new" {
				t.Errorf("content %q (%v), want %q", data, err, "new")
			}
			if info, err := os.Stat(path); err != nil || info.Mode().Perm() != tc.perm {
				t.Errorf("mode %v (%v), want %v", info.Mode().Perm(), err, tc.perm)
			}
			if diff := cmp.Diff([]string{"file"}, names(t, dir)); diff != "" {
				t.Errorf("directory (-want +got):\n%s", diff)
			}
		})
	}
	t.Run("leaves the file as it was and no temporary file when it cannot replace it", func(t *testing.T) {
		dir := t.TempDir()
		path := filepath.Join(dir, "file")
		if err := os.Mkdir(path, 0o700); err != nil { // a directory is not replaced by a rename
			t.Fatal(err)
		}
		if err := atomicfile.Write(path, []byte("new"), 0o600); err == nil {
			t.Fatal("Write over a directory succeeded")
		}
		if info, err := os.Stat(path); err != nil || !info.IsDir() {
			t.Errorf("%s is no longer the directory: %v", path, err)
		}
		if diff := cmp.Diff([]string{"file"}, names(t, dir)); diff != "" {
			t.Errorf("directory (-want +got):\n%s", diff)
		}
	})
	t.Run("fails when the directory is missing", func(t *testing.T) {
		if err := atomicfile.Write(filepath.Join(t.TempDir(), "missing", "file"), []byte("new"), 0o600); err == nil {
			t.Error("Write into a missing directory succeeded")
		}
	})
}

func names(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

func TestWritePartsWritesThemInOrder(t *testing.T) {
	path := filepath.Join(t.TempDir(), "file")
	if err := atomicfile.WriteParts(path, 0o600, []byte("head"), nil, []byte("\n"), []byte("lines\n")); err != nil {
		t.Fatal(err)
	}
	if data, err := os.ReadFile(path); err != nil || string(data) != "head\nlines\n" {
		t.Errorf("content %q (%v), want the parts in order", data, err)
	}
}

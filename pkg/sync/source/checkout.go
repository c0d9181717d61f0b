package source

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// blobs maps each file of a snapshot to its git mode and blob, so that the
// next snapshot can hard-link the files that did not change instead of
// writing them again: snapshot files are read-only and never modified, and a
// link keeps its data even after pruning removes the older snapshot.
type blobs map[string]string

// base is the snapshot a new one may link unchanged files from.
type base struct {
	dir   string
	blobs blobs
}

// writeTree writes the commit's files into dir, read-only, and its symbolic
// links as links, without following them. Submodules are left out. Files
// whose blob is the same in from are linked from there.
func writeTree(ctx context.Context, commit *object.Commit, dir string, from base) (blobs, error) {
	tree, err := commit.Tree()
	if err != nil {
		return nil, err
	}
	written := blobs{}
	err = tree.Files().ForEach(func(f *object.File) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		written[f.Name] = f.Mode.String() + " " + f.Hash.String()
		return writeFile(dir, f, from)
	})
	return written, err
}

func writeFile(dir string, f *object.File, from base) error {
	if !safePath(f.Name) {
		return withKind(InvalidTree, fmt.Errorf("the tree holds the unsafe path %q", f.Name))
	}
	path := filepath.Join(dir, filepath.FromSlash(f.Name))
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	if f.Mode != filemode.Symlink && from.blobs[f.Name] == f.Mode.String()+" "+f.Hash.String() {
		if os.Link(filepath.Join(from.dir, filepath.FromSlash(f.Name)), path) == nil {
			return nil
		} // else write it: the base may have been pruned meanwhile
	}
	switch f.Mode {
	case filemode.Symlink:
		return writeSymlink(f, path)
	case filemode.Executable:
		return writeBlob(f, path, 0o555)
	}
	return writeBlob(f, path, 0o444)
}

// safePath refuses paths that leave the snapshot or write into a .git
// directory; git itself refuses to check such trees out.
func safePath(name string) bool {
	if !filepath.IsLocal(name) {
		return false
	}
	for part := range strings.SplitSeq(name, "/") {
		if strings.EqualFold(part, ".git") {
			return false
		}
	}
	return true
}

func writeSymlink(f *object.File, path string) error {
	target, err := f.Contents()
	if err != nil {
		return err
	}
	return os.Symlink(target, path)
}

func writeBlob(f *object.File, path string, mode os.FileMode) error {
	r, err := f.Reader()
	if err != nil {
		return err
	}
	defer r.Close()
	out, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return err
	}
	_, err = io.Copy(out, r)
	if closeErr := out.Close(); err == nil {
		err = closeErr
	}
	return err
}

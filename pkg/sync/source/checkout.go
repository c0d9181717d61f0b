package source

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
	"golang.org/x/sync/errgroup"
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
// whose blob is the same in from are hard-linked from there, on every core:
// after a small commit to a large tree, linking is nearly all the work. The
// walk reads tree objects only; a blob is read when its file is written.
func writeTree(ctx context.Context, commit *object.Commit, dir string, from base) (blobs, error) {
	tree, err := commit.Tree()
	if err != nil {
		return nil, err
	}
	written := blobs{}
	var links, writes []entry
	walker := object.NewTreeWalker(tree, true, nil)
	defer walker.Close()
	for {
		name, e, err := walker.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, walkError(name, err)
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if !safePath(name) {
			return nil, withKind(InvalidTree, fmt.Errorf("the tree holds the unsafe path %q", name))
		}
		path := filepath.Join(dir, filepath.FromSlash(name))
		switch e.Mode {
		case filemode.Dir:
			if err := os.Mkdir(path, 0o755); err != nil {
				return nil, err
			}
			continue
		case filemode.Submodule:
			continue
		}
		blob := e.Mode.String() + " " + e.Hash.String()
		written[name] = blob
		f := entry{name: name, path: path, mode: e.Mode, hash: e.Hash}
		if e.Mode != filemode.Symlink && from.blobs[name] == blob {
			links = append(links, f)
		} else {
			writes = append(writes, f)
		}
	}
	// A link fails if the base was pruned meanwhile: write the file instead.
	failed, err := link(ctx, from.dir, links)
	if err != nil {
		return nil, err
	}
	for _, f := range append(writes, failed...) {
		if err := writeEntry(tree, f); err != nil {
			return nil, err
		}
	}
	return written, nil
}

// walkError is the tree walker's error, as InvalidTree where the tree holds
// a name git refuses to check out.
func walkError(name string, err error) error {
	if errors.Is(err, plumbing.ErrObjectNotFound) {
		return err
	}
	return withKind(InvalidTree, fmt.Errorf("the tree holds the path %q: %w", name, err))
}

// entry is one file of the tree being written.
type entry struct {
	name, path string
	mode       filemode.FileMode
	hash       plumbing.Hash
}

// link hard-links each file from the base snapshot in baseDir, on every
// core, and returns those it could not link.
func link(ctx context.Context, baseDir string, files []entry) ([]entry, error) {
	workers := min(runtime.GOMAXPROCS(0), len(files))
	failed := make([][]entry, workers)
	g, ctx := errgroup.WithContext(ctx)
	for w := range workers {
		g.Go(func() error {
			for i := w; i < len(files); i += workers {
				if err := ctx.Err(); err != nil {
					return err
				}
				f := files[i]
				if os.Link(filepath.Join(baseDir, filepath.FromSlash(f.name)), f.path) != nil {
					failed[w] = append(failed[w], f)
				}
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return slices.Concat(failed...), nil
}

func writeEntry(tree *object.Tree, e entry) error {
	f, err := tree.TreeEntryFile(&object.TreeEntry{Name: e.name, Mode: e.mode, Hash: e.hash})
	if err != nil {
		return err
	}
	switch e.mode {
	case filemode.Symlink:
		return writeSymlink(f, e.path)
	case filemode.Executable:
		return writeBlob(f, e.path, 0o555)
	}
	return writeBlob(f, e.path, 0o444)
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

package source

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/gitsync-io/gitsync/internal/cores"
)

// blobs maps each file of a revision to its git mode and blob, "0100644
// <sha1>": what the revision's record holds, and render.Tree's Blobs.
type blobs map[string]string

// base is the revision a fetch starts from: the one it tells the server it
// has, whose blobs the new one need not download again.
type base struct {
	rev   plumbing.Hash // zero for none
	blobs blobs
}

// storeTree keeps every blob of the commit's files in the store, where it
// is not already, and returns the files' blobs. Submodules are left out. The
// walk reads tree objects only; a blob is read when it is written.
func (s snapshots) storeTree(ctx context.Context, commit *object.Commit) (blobs, error) {
	tree, err := commit.Tree()
	if err != nil {
		return nil, err
	}
	held, err := s.store.listing()
	if err != nil {
		return nil, err
	}
	files := blobs{}
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
		if e.Mode == filemode.Dir || e.Mode == filemode.Submodule {
			continue
		}
		files[name] = e.Mode.String() + " " + e.Hash.String()
		if held[e.Hash] {
			continue
		}
		if err := s.storeBlob(tree, name, e); err != nil {
			return nil, err
		}
		held[e.Hash] = true
	}
	return files, nil
}

func (s snapshots) storeBlob(tree *object.Tree, name string, e object.TreeEntry) error {
	f, err := tree.TreeEntryFile(&object.TreeEntry{Name: name, Mode: e.Mode, Hash: e.Hash})
	if err != nil {
		return err
	}
	r, err := f.Reader()
	if err != nil {
		return err
	}
	defer r.Close()
	return s.store.write(e.Hash, r)
}

// checkout writes the files b into dir, read-only (0444, or 0555 if
// executable), and its symbolic links as links: hard links to the store's
// blobs, on every core, copies for executables.
func (b blobStore) checkout(dir string, files blobs) error {
	names := slices.Sorted(maps.Keys(files)) // a directory before what is in it
	for _, name := range names {
		if !safePath(name) {
			return withKind(InvalidTree, fmt.Errorf("the record holds the unsafe path %q", name))
		}
		if err := os.MkdirAll(filepath.Join(dir, filepath.FromSlash(path.Dir(name))), 0o755); err != nil {
			return err
		}
	}
	return cores.Each(len(names), func(i int) error {
		name := names[i]
		mode, hash, ok := strings.Cut(files[name], " ")
		if !ok || !plumbing.IsHash(hash) {
			return fmt.Errorf("the record of %q is damaged", name)
		}
		target := filepath.Join(dir, filepath.FromSlash(name))
		blob := b.path(plumbing.NewHash(hash))
		switch mode {
		case filemode.Symlink.String():
			content, err := b.read(plumbing.NewHash(hash))
			if err != nil {
				return fmt.Errorf("the blob of %q: %w", name, err)
			}
			return os.Symlink(string(content), target)
		case filemode.Executable.String():
			content, err := b.read(plumbing.NewHash(hash))
			if err != nil {
				return fmt.Errorf("the blob of %q: %w", name, err)
			}
			return os.WriteFile(target, content, 0o555)
		}
		return os.Link(blob, target)
	})
}

// walkError is the tree walker's error, as InvalidTree where the tree holds
// a name git refuses to check out.
func walkError(name string, err error) error {
	if errors.Is(err, plumbing.ErrObjectNotFound) {
		return err
	}
	return withKind(InvalidTree, fmt.Errorf("the tree holds the path %q: %w", name, err))
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

package source

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path"
	"slices"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp/capability"
	"github.com/go-git/go-git/v5/plumbing/storer"
	"github.com/go-git/go-git/v5/plumbing/transport"
	"github.com/go-git/go-git/v5/storage/memory"
)

// A fetch tells the server it has the newest snapshot's revision, so that
// the server sends only what the new revision adds: after a one-file
// commit to a tree of 10,000 files, one commit, the trees on the changed
// file's path and one blob, not the whole tree again. It needs three things
// of the snapshot it starts from: its commit (objectsDir), its trees (kept
// beside it in treesSuffix) and its blobs, which are its files. Where any of
// them is missing or damaged, the fetch downloads the whole revision, as it
// does the first time.

// go-git leaves thin-pack out of every request it makes
// (transport.UnsupportedCapabilities), though its pack parser reads a thin
// pack's outside bases from the storage it writes to, which onSnapshot
// serves. A fetch onto a snapshot needs it: answering a shallow client, git
// upload-pack left out the objects of the commit the client has only when
// it could send a thin pack, and sent the whole tree again otherwise
// (TestFetchOverHTTPDownloadsOnlyWhatChanged fails without it). A fetch
// with no snapshot to start from has nothing to say it has, so its pack
// needs no outside base either.
func init() {
	transport.UnsupportedCapabilities = slices.DeleteFunc(slices.Clone(transport.UnsupportedCapabilities),
		func(c capability.Capability) bool { return c == capability.ThinPack })
}

// treesSuffix names the file beside a snapshot that keeps its tree objects,
// one after the other as appendObject writes them.
const treesSuffix = ".trees"

// saveTrees keeps every tree of commit, read from st, beside its snapshot.
func (s snapshots) saveTrees(st storer.EncodedObjectStorer, commit *object.Commit) error {
	var buf bytes.Buffer
	seen := map[plumbing.Hash]bool{}
	pending := []plumbing.Hash{commit.TreeHash}
	for len(pending) > 0 {
		h := pending[len(pending)-1]
		pending = pending[:len(pending)-1]
		if seen[h] {
			continue
		}
		seen[h] = true
		o, err := st.EncodedObject(plumbing.TreeObject, h)
		if err != nil {
			return err
		}
		if err := appendObject(&buf, o); err != nil {
			return err
		}
		var tree object.Tree
		if err := tree.Decode(o); err != nil {
			return err
		}
		for _, e := range tree.Entries {
			if e.Mode == filemode.Dir {
				pending = append(pending, e.Hash)
			}
		}
	}
	return writeFile(s.path(commit.Hash)+treesSuffix, &buf)
}

// loadTrees reads the trees kept beside rev's snapshot.
func (s snapshots) loadTrees(rev plumbing.Hash) ([]plumbing.EncodedObject, error) {
	data, err := os.ReadFile(s.path(rev) + treesSuffix)
	if err != nil {
		return nil, err
	}
	var trees []plumbing.EncodedObject
	for len(data) > 0 {
		var o plumbing.EncodedObject
		if o, data, err = nextObject(data); err != nil || o.Type() != plumbing.TreeObject {
			return nil, fmt.Errorf("the kept trees of %s are damaged", rev)
		}
		trees = append(trees, o)
	}
	return trees, nil
}

// onSnapshot is an in-memory repository that holds a kept revision: its
// commit and trees as objects, marked shallow, and its blobs in the store,
// read only when asked for (as the base of a delta, or for a file the new
// revision moved). A fetch into it sends that commit as one it has.
type onSnapshot struct {
	*memory.Storage
	store blobStore
	blobs map[plumbing.Hash]bool // the revision's
	held  map[plumbing.Hash]bool // the store's, when the fetch started
}

// baseRef is where the snapshot's commit is referenced, for the fetch to
// send it as one it has.
const baseRef = "refs/gitsync/base"

// newOnSnapshot returns a repository holding the revision from.
func (s snapshots) newOnSnapshot(from base) (*onSnapshot, error) {
	rev := from.rev
	commit, err := s.loadObject(rev)
	if err != nil {
		return nil, err
	}
	if commit.Type() != plumbing.CommitObject {
		return nil, fmt.Errorf("kept object %s is a %s, not a commit", rev, commit.Type())
	}
	trees, err := s.loadTrees(rev)
	if err != nil {
		return nil, err
	}
	held, err := s.store.listing()
	if err != nil {
		return nil, err
	}
	st := &onSnapshot{Storage: memory.NewStorage(), store: s.store, blobs: make(map[plumbing.Hash]bool, len(from.blobs)), held: held}
	for _, o := range append(trees, commit) {
		if _, err := st.Storage.SetEncodedObject(o); err != nil {
			return nil, err
		}
	}
	for _, blob := range from.blobs {
		_, hash, ok := strings.Cut(blob, " ")
		if !ok || !plumbing.IsHash(hash) {
			return nil, fmt.Errorf("the blobs recorded for %s are damaged", rev)
		}
		st.blobs[plumbing.NewHash(hash)] = true
	}
	if err := st.SetShallow([]plumbing.Hash{rev}); err != nil {
		return nil, err
	}
	return st, st.SetReference(plumbing.NewHashReference(baseRef, rev))
}

// EncodedObject returns the object from memory, or a blob of the revision
// from the store.
func (s *onSnapshot) EncodedObject(t plumbing.ObjectType, h plumbing.Hash) (plumbing.EncodedObject, error) {
	o, err := s.Storage.EncodedObject(t, h)
	if !errors.Is(err, plumbing.ErrObjectNotFound) || (t != plumbing.AnyObject && t != plumbing.BlobObject) || !s.blobs[h] {
		return o, err
	}
	content, err := s.store.read(h) // pruned meanwhile, or damaged: not found
	if err != nil {
		return nil, err
	}
	blob := &plumbing.MemoryObject{}
	blob.SetType(plumbing.BlobObject)
	_, err = blob.Write(content)
	return blob, err
}

// HasEncodedObject reports whether h is in memory, or a blob of the
// revision in the store.
func (s *onSnapshot) HasEncodedObject(h plumbing.Hash) error {
	if err := s.Storage.HasEncodedObject(h); !errors.Is(err, plumbing.ErrObjectNotFound) {
		return err
	}
	if s.blobs[h] && s.held[h] {
		return nil
	}
	return plumbing.ErrObjectNotFound
}

// EncodedObjectSize returns the size of the object h.
func (s *onSnapshot) EncodedObjectSize(h plumbing.Hash) (int64, error) {
	o, err := s.EncodedObject(plumbing.AnyObject, h)
	if err != nil {
		return 0, err
	}
	return o.Size(), nil
}

// complete reports an error unless every tree and blob of commit can be
// read from st. go-git's tree walker ends a walk quietly where a tree is
// missing, which would publish a snapshot without that directory, and a
// sync would then prune what it held. A fetch onto a snapshot can lack an
// object (one the snapshot no longer has, that the server counted on).
func complete(st storer.EncodedObjectStorer, commit *object.Commit) error {
	return completeTree(st, commit.TreeHash, "")
}

func completeTree(st storer.EncodedObjectStorer, h plumbing.Hash, dir string) error {
	tree, err := object.GetTree(st, h)
	if err != nil {
		return fmt.Errorf("the tree of %q: %w", dir+"/", err)
	}
	for _, e := range tree.Entries {
		name := path.Join(dir, e.Name)
		switch e.Mode {
		case filemode.Dir:
			err = completeTree(st, e.Hash, name)
		case filemode.Submodule:
		default:
			if err = st.HasEncodedObject(e.Hash); err != nil {
				err = fmt.Errorf("the blob of %q: %w", name, err)
			}
		}
		if err != nil {
			return err
		}
	}
	return nil
}

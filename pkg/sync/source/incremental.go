package source

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"

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
	tmp := filepath.Join(s.dir, tempPrefix+commit.Hash.String()+treesSuffix)
	if err := os.WriteFile(tmp, buf.Bytes(), 0o444); err != nil {
		return err
	}
	return os.Rename(tmp, s.path(commit.Hash)+treesSuffix)
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

// onSnapshot is an in-memory repository that holds the revision of a
// snapshot: its commit and trees as objects, marked shallow, and its blobs
// as the snapshot's files, read only when asked for (as the base of a
// delta, or for a file the new revision moved). A fetch into it sends that
// commit as one it has.
type onSnapshot struct {
	*memory.Storage
	dir   string
	files map[plumbing.Hash]snapshotFile

	mu     sync.Mutex
	listed map[string]map[string]bool // the names in each directory of the snapshot looked at
}

// snapshotFile is a file of the snapshot that holds a blob.
type snapshotFile struct {
	name    string
	symlink bool
}

// baseRef is where the snapshot's commit is referenced, for the fetch to
// send it as one it has.
const baseRef = "refs/gitsync/base"

// newOnSnapshot returns a repository holding rev, whose snapshot is from.
func (s snapshots) newOnSnapshot(rev plumbing.Hash, from base) (*onSnapshot, error) {
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
	st := &onSnapshot{Storage: memory.NewStorage(), dir: from.dir, files: make(map[plumbing.Hash]snapshotFile, len(from.blobs))}
	for _, o := range append(trees, commit) {
		if _, err := st.Storage.SetEncodedObject(o); err != nil {
			return nil, err
		}
	}
	for name, blob := range from.blobs {
		mode, hash, ok := strings.Cut(blob, " ")
		if !ok || !plumbing.IsHash(hash) {
			return nil, fmt.Errorf("the blobs recorded for %s are damaged", rev)
		}
		st.files[plumbing.NewHash(hash)] = snapshotFile{name: name, symlink: mode == filemode.Symlink.String()}
	}
	if err := st.SetShallow([]plumbing.Hash{rev}); err != nil {
		return nil, err
	}
	return st, st.SetReference(plumbing.NewHashReference(baseRef, rev))
}

// EncodedObject returns the object from memory, or a blob from the
// snapshot's files.
func (s *onSnapshot) EncodedObject(t plumbing.ObjectType, h plumbing.Hash) (plumbing.EncodedObject, error) {
	o, err := s.Storage.EncodedObject(t, h)
	if !errors.Is(err, plumbing.ErrObjectNotFound) || (t != plumbing.AnyObject && t != plumbing.BlobObject) {
		return o, err
	}
	f, ok := s.files[h]
	if !ok {
		return nil, err
	}
	path := filepath.Join(s.dir, filepath.FromSlash(f.name))
	var content []byte
	if f.symlink {
		var target string
		target, err = os.Readlink(path)
		content = []byte(target)
	} else {
		content, err = os.ReadFile(path)
	}
	if err != nil || plumbing.ComputeHash(plumbing.BlobObject, content) != h {
		return nil, plumbing.ErrObjectNotFound // pruned meanwhile
	}
	blob := &plumbing.MemoryObject{}
	blob.SetType(plumbing.BlobObject)
	_, err = blob.Write(content)
	return blob, err
}

// HasEncodedObject reports whether h is in memory, or its file in the
// snapshot.
func (s *onSnapshot) HasEncodedObject(h plumbing.Hash) error {
	if err := s.Storage.HasEncodedObject(h); !errors.Is(err, plumbing.ErrObjectNotFound) {
		return err
	}
	if f, ok := s.files[h]; ok && s.holds(f.name) {
		return nil
	}
	return plumbing.ErrObjectNotFound
}

// holds reports whether the snapshot still has the file name. Each
// directory is read once, for all of its files: a fetch asks about every
// file of the snapshot (complete), and one Lstat each took 37 ms of a fetch
// onto 10,000 files.
func (s *onSnapshot) holds(name string) bool {
	dir, file := path.Split(name)
	s.mu.Lock()
	defer s.mu.Unlock()
	names, ok := s.listed[dir]
	if !ok {
		names = map[string]bool{}
		if d, err := os.Open(filepath.Join(s.dir, filepath.FromSlash(dir))); err == nil {
			all, _ := d.Readdirnames(-1)
			d.Close()
			for _, n := range all {
				names[n] = true
			}
		}
		if s.listed == nil {
			s.listed = map[string]map[string]bool{}
		}
		s.listed[dir] = names
	}
	return names[file]
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

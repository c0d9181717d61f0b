package source

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
)

// tempPrefix names snapshots being written; they are never served.
const tempPrefix = ".tmp-"

// staleTemp is the age after which an unfinished snapshot, left by a process
// that died while writing it, is removed by pruning.
const staleTemp = time.Hour

// snapshots is the directory of one repository's revisions:
// <cache>/<digest of URL>. A revision is its record, <sha>.files (which blob
// each file holds), beside its trees (<sha>.trees) and commit (objectsDir),
// with the blobs in the shared blobStore; a directory of its files,
// <cache>/<digest>/<sha>, is written only when asked for (checkout). A
// record's modification time is when the revision was last used, which
// decides what pruning keeps.
type snapshots struct {
	dir   string
	store blobStore
	lock  storeLock
}

func newSnapshots(cacheDir, url string) snapshots {
	sum := sha256.Sum256([]byte(url))
	dir := filepath.Join(cacheDir, hex.EncodeToString(sum[:8]))
	return snapshots{dir: dir, store: blobStore{dir: filepath.Join(dir, blobsDir)}, lock: newStoreLock(dir)}
}

// path is where rev's files are checked out.
func (s snapshots) path(rev plumbing.Hash) string { return filepath.Join(s.dir, rev.String()) }

func (s snapshots) record(rev plumbing.Hash) string { return s.path(rev) + filesSuffix }

// lookup reports whether rev is kept, marking it as just used.
func (s snapshots) lookup(rev plumbing.Hash) bool { return touch(s.record(rev)) == nil }

func touch(path string) error {
	now := time.Now()
	return os.Chtimes(path, now, now)
}

// checkout returns the directory of rev's files, b, writing it from the
// store first if it is not there.
func (s snapshots) checkout(rev plumbing.Hash, b blobs) (string, error) {
	if dir := s.path(rev); touch(dir) == nil {
		return dir, nil
	}
	return s.publish(rev, func(tmp string) error { return s.store.checkout(tmp, b) })
}

// publish lets write fill a temporary directory, then renames it to rev's
// checkout in one step, so a checkout is either complete or absent. If
// another one published rev first, its checkout wins.
func (s snapshots) publish(rev plumbing.Hash, write func(dir string) error) (string, error) {
	if err := os.MkdirAll(s.dir, 0o755); err != nil {
		return "", err
	}
	tmp, err := os.MkdirTemp(s.dir, tempPrefix)
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp) // a no-op once renamed
	if err := errors.Join(write(tmp), os.Chmod(tmp, 0o755)); err != nil {
		return "", err
	}
	final := s.path(rev)
	if err := os.Rename(tmp, final); err != nil && touch(final) != nil {
		return "", err
	}
	return final, touch(final)
}

// trashPrefix names a directory that holds what pruning removes. A pruned
// checkout is renamed into one, in one step, so that nothing serves it half
// removed; its files are then removed in the background, off the fetch's
// path. A process that exits first leaves the rest to the next prune.
const trashPrefix = ".trash-"

// prune removes all but the keep most recently used revisions, always
// keeping current, and what unfinished writes left for longer than
// staleTemp; then, in the background, the blobs no kept revision holds.
func (s snapshots) prune(keep int, current plumbing.Hash) error {
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return err
	}
	kept := s.kept(entries, keep, current)
	var errs []error
	var gone []string         // directories
	revs := map[string]bool{} // revisions removed
	for _, e := range entries {
		name := e.Name()
		rev, _, _ := strings.Cut(name, ".")
		switch {
		case strings.HasPrefix(name, tempPrefix) && modTime(e).Before(time.Now().Add(-staleTemp)):
		case !plumbing.IsHash(rev) || kept[rev]:
			continue
		}
		if plumbing.IsHash(rev) {
			revs[rev] = true
		}
		if !e.IsDir() {
			if err := os.Remove(filepath.Join(s.dir, name)); err != nil && !errors.Is(err, os.ErrNotExist) {
				errs = append(errs, err)
			}
			continue
		}
		gone = append(gone, name)
	}
	if len(gone) > 0 {
		trash, err := os.MkdirTemp(s.dir, trashPrefix)
		if err != nil {
			return errors.Join(append(errs, err)...)
		}
		for _, name := range gone {
			// Another process pruning the same cache may have taken it first.
			if err := os.Rename(filepath.Join(s.dir, name), filepath.Join(trash, name)); err != nil && !errors.Is(err, os.ErrNotExist) {
				errs = append(errs, err)
			}
		}
	}
	errs = append(errs, s.pruneObjects(kept, revs))
	if len(revs) > 0 || slices.ContainsFunc(entries, isTrash) {
		go s.clean(len(revs) > 0)
	}
	return errors.Join(errs...)
}

// kept returns the revisions pruning keeps: the keep most recently used, and
// current.
func (s snapshots) kept(entries []os.DirEntry, keep int, current plumbing.Hash) map[string]bool {
	kept := map[string]bool{current.String(): true}
	n := 0
	for _, e := range byLastUse(entries) {
		if rev, ok := strings.CutSuffix(e.Name(), filesSuffix); ok && plumbing.IsHash(rev) && n < keep {
			kept[rev] = true
			n++
		}
	}
	return kept
}

func isTrash(e os.DirEntry) bool { return strings.HasPrefix(e.Name(), trashPrefix) }

// clean removes every trash directory, its own and those a process left
// behind, and, if sweep, the blobs no record holds. Two running at once
// remove the same files without harm; what an error leaves is tried again
// at the next prune.
func (s snapshots) clean(sweep bool) {
	entries, _ := os.ReadDir(s.dir)
	for _, e := range entries {
		if isTrash(e) {
			_ = os.RemoveAll(filepath.Join(s.dir, e.Name()))
		}
	}
	if !sweep {
		return
	}
	unlock, ok, err := s.lock.alone()
	if !ok || err != nil {
		return // a fetch is writing blobs it has not recorded yet
	}
	defer unlock()
	// Under the lock, every record is complete: it holds each blob in use.
	entries, _ = os.ReadDir(s.dir)
	used := map[plumbing.Hash]bool{}
	for _, e := range entries {
		if rev, ok := strings.CutSuffix(e.Name(), filesSuffix); ok && plumbing.IsHash(rev) {
			data, err := os.ReadFile(filepath.Join(s.dir, e.Name()))
			if err != nil || !json.Valid(data) {
				return // unreadable: keep every blob rather than guess
			}
			referenced(data, used)
		}
	}
	_ = s.store.sweep(used)
}

// byLastUse sorts entries newest first.
func byLastUse(entries []os.DirEntry) []os.DirEntry {
	return slices.SortedFunc(slices.Values(entries), func(a, b os.DirEntry) int {
		return cmp.Compare(modTime(b).UnixNano(), modTime(a).UnixNano())
	})
}

func modTime(e os.DirEntry) time.Time {
	info, err := e.Info()
	if err != nil {
		return time.Time{}
	}
	return info.ModTime()
}

// filesSuffix names a revision's record: which blob each of its files
// holds. Writing it publishes the revision. (A record named .blobs is of
// the layout before the blob store, whose blobs were its directory's files;
// pruning removes it.)
const filesSuffix = ".files"

// recordBlobs saves which blob each file of rev holds, publishing rev.
func (s snapshots) recordBlobs(rev plumbing.Hash, b blobs) error {
	data, err := json.Marshal(b)
	if err != nil {
		return err
	}
	return writeFile(s.record(rev), bytes.NewReader(data))
}

// forget removes rev's record, so that rev is fetched again.
func (s snapshots) forget(rev plumbing.Hash) { _ = os.Remove(s.record(rev)) }

// readBlobs returns the blobs recorded for rev.
func (s snapshots) readBlobs(rev plumbing.Hash) (blobs, error) {
	data, err := os.ReadFile(s.record(rev))
	if err != nil {
		return nil, err
	}
	var b blobs
	return b, json.Unmarshal(data, &b)
}

// lastBlobs keeps the blobs of the snapshot a Source handed out last, so that
// a fetch that finds the same commit does not read them again.
type lastBlobs struct {
	mu    sync.Mutex
	rev   plumbing.Hash
	blobs blobs
}

func (l *lastBlobs) keep(rev plumbing.Hash, b blobs) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.rev, l.blobs = rev, b
}

// of returns rev's blobs.
func (l *lastBlobs) of(rev plumbing.Hash, s snapshots) (blobs, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.blobs == nil || l.rev != rev {
		b, err := s.readBlobs(rev)
		if err != nil {
			return nil, err
		}
		l.rev, l.blobs = rev, b
	}
	return l.blobs, nil
}

// newest returns the most recently used revision, or an empty base.
func (s snapshots) newest() base {
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return base{}
	}
	for _, e := range byLastUse(entries) {
		rev, ok := strings.CutSuffix(e.Name(), filesSuffix)
		if !ok || !plumbing.IsHash(rev) {
			continue
		}
		if b, err := s.readBlobs(plumbing.NewHash(rev)); err == nil {
			return base{rev: plumbing.NewHash(rev), blobs: b}
		}
	}
	return base{}
}

package source

import (
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

// snapshots is the directory of one repository's published trees, one per
// commit: <cache>/<digest of URL>/<sha>. A snapshot's modification time is
// when it was last used, which decides what pruning keeps.
type snapshots struct{ dir string }

func newSnapshots(cacheDir, url string) snapshots {
	sum := sha256.Sum256([]byte(url))
	return snapshots{dir: filepath.Join(cacheDir, hex.EncodeToString(sum[:8]))}
}

func (s snapshots) path(rev plumbing.Hash) string { return filepath.Join(s.dir, rev.String()) }

// lookup returns rev's snapshot if it is published, marking it as just used.
func (s snapshots) lookup(rev plumbing.Hash) (string, bool) {
	dir := s.path(rev)
	return dir, touch(dir) == nil
}

func touch(path string) error {
	now := time.Now()
	return os.Chtimes(path, now, now)
}

// publish lets write fill a temporary directory, then renames it to rev's
// snapshot in one step, so a snapshot is either complete or absent. If
// another fetch published rev first, its snapshot wins.
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
// snapshot is renamed into one, in one step, so that nothing serves it half
// removed; its files are then removed in the background, off the fetch's
// path (10,000 files take 0.15 s). A process that exits first leaves the
// rest to the next prune.
const trashPrefix = ".trash-"

// prune removes all but the keep most recently used snapshots, always
// keeping current, and unfinished snapshots older than staleTemp.
func (s snapshots) prune(keep int, current plumbing.Hash) error {
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return err
	}
	var errs []error
	gone := s.expendable(entries, keep, current)
	errs = append(errs, s.pruneObjects(entries, gone))
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
			for _, suffix := range []string{blobsSuffix, treesSuffix} {
				if err := os.Remove(filepath.Join(s.dir, name+suffix)); err != nil && !errors.Is(err, os.ErrNotExist) {
					errs = append(errs, err)
				}
			}
		}
	}
	if slices.ContainsFunc(entries, isTrash) || len(gone) > 0 {
		go s.emptyTrash()
	}
	return errors.Join(errs...)
}

func isTrash(e os.DirEntry) bool { return strings.HasPrefix(e.Name(), trashPrefix) }

// emptyTrash removes every trash directory, its own and those a process left
// behind. Two running at once remove the same files without harm; what an
// error leaves is tried again at the next prune.
func (s snapshots) emptyTrash() {
	entries, _ := os.ReadDir(s.dir)
	for _, e := range entries {
		if isTrash(e) {
			_ = os.RemoveAll(filepath.Join(s.dir, e.Name()))
		}
	}
}

func (s snapshots) expendable(entries []os.DirEntry, keep int, current plumbing.Hash) []string {
	var names []string
	kept := 0
	for _, e := range byLastUse(entries) {
		switch {
		case strings.HasPrefix(e.Name(), tempPrefix) && modTime(e).Before(time.Now().Add(-staleTemp)):
			names = append(names, e.Name())
		case !plumbing.IsHash(e.Name()):
		case e.Name() == current.String() || kept < keep:
			kept++
		default:
			names = append(names, e.Name())
		}
	}
	return names
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

// blobsSuffix names the file beside a snapshot that records its blobs.
const blobsSuffix = ".blobs"

// recordBlobs saves which blob each file of rev's snapshot holds.
func (s snapshots) recordBlobs(rev plumbing.Hash, b blobs) error {
	data, err := json.Marshal(b)
	if err != nil {
		return err
	}
	tmp := filepath.Join(s.dir, tempPrefix+rev.String()+blobsSuffix)
	if err := os.WriteFile(tmp, data, 0o444); err != nil {
		return err
	}
	return os.Rename(tmp, s.path(rev)+blobsSuffix)
}

// readBlobs returns the blobs recorded for rev's snapshot.
func (s snapshots) readBlobs(rev plumbing.Hash) (blobs, error) {
	data, err := os.ReadFile(s.path(rev) + blobsSuffix)
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

// of returns rev's blobs, nil if they cannot be read.
func (l *lastBlobs) of(rev plumbing.Hash, s snapshots) map[string]string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.blobs == nil || l.rev != rev {
		b, err := s.readBlobs(rev)
		if err != nil {
			return nil
		}
		l.rev, l.blobs = rev, b
	}
	return l.blobs
}

// newest returns the most recently used snapshot whose blobs are recorded,
// or an empty base.
func (s snapshots) newest() base {
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return base{}
	}
	for _, e := range byLastUse(entries) {
		if !plumbing.IsHash(e.Name()) {
			continue
		}
		if b, err := s.readBlobs(plumbing.NewHash(e.Name())); err == nil {
			return base{dir: filepath.Join(s.dir, e.Name()), blobs: b}
		}
	}
	return base{}
}

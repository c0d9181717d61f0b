package source_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gitsync-io/gitsync/pkg/sync/source"
	"github.com/gitsync-io/gitsync/test/gitserver"
)

// snapshotNames lists the revisions the repository's directory holds: a
// checkout, its record and its trees count as the revision (one left behind
// by a pruned revision shows it). The kept commit objects must be those of
// the revisions.
func snapshotNames(t *testing.T, art source.Artifact) []string {
	t.Helper()
	entries, err := os.ReadDir(filepath.Dir(art.Dir))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		if rev, _, _ := strings.Cut(e.Name(), "."); len(rev) == 40 { // not objects, blobs, the lock or trash being removed
			names = append(names, rev)
		}
	}
	slices.Sort(names)
	names = slices.Compact(names)
	objects, err := os.ReadDir(filepath.Join(filepath.Dir(art.Dir), "objects"))
	if err != nil {
		t.Fatal(err)
	}
	var commits []string
	for _, e := range objects {
		commits = append(commits, e.Name())
	}
	if diff := cmp.Diff(names, commits); diff != "" {
		t.Errorf("kept commit objects (-snapshots +objects):\n%s", diff)
	}
	return names
}

func sorted(names ...string) []string {
	slices.Sort(names)
	return names
}

func TestSnapshotPruning(t *testing.T) {
	t.Run("takes a pruned snapshot away at once and removes its files soon after", func(t *testing.T) {
		repo := gitserver.NewRepo(t)
		cache := t.TempDir()
		s := newSource(t, source.Options{URL: repo.URL(), KeepSnapshots: 1, CacheDir: cache})
		var art source.Artifact
		for i := range 3 {
			repo.Commit(t, "commit", map[string]string{"app.yaml": string(rune('a' + i))})
			art = fetch(t, s)
			if diff := cmp.Diff([]string{art.Revision}, snapshotNames(t, art)); diff != "" {
				t.Errorf("right after fetch %d, snapshots (-want +got):\n%s", i+1, diff)
			}
		}
		// A process that exits while removing leaves its trash to the next
		// prune. It is made aside and renamed in whole: the last fetch's
		// cleaning may still run, and may take it at once.
		left := filepath.Join(t.TempDir(), "left")
		if err := os.MkdirAll(filepath.Join(left, "sub"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(left, filepath.Join(filepath.Dir(art.Dir), ".trash-left")); err != nil {
			t.Fatal(err)
		}
		repo.Commit(t, "commit", map[string]string{"app.yaml": "d"})
		art = fetch(t, s)
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			entries, err := os.ReadDir(filepath.Dir(art.Dir))
			if err != nil {
				t.Fatal(err)
			}
			if !slices.ContainsFunc(entries, func(e os.DirEntry) bool { return strings.HasPrefix(e.Name(), ".trash-") }) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("trash still there after 10 s: %v", entries)
			}
		}
	})
	t.Run("keeps only the most recently used snapshots and nothing temporary", func(t *testing.T) {
		repo := gitserver.NewRepo(t)
		s := newSource(t, source.Options{URL: repo.URL(), KeepSnapshots: 2})
		var shas []string
		var art source.Artifact
		for i := range 4 {
			shas = append(shas, repo.Commit(t, "commit", map[string]string{"app.yaml": string(rune('a' + i))}))
			art = fetch(t, s)
		}
		if diff := cmp.Diff(sorted(shas[2], shas[3]), snapshotNames(t, art)); diff != "" {
			t.Errorf("snapshots (-want +got):\n%s", diff)
		}
	})
	t.Run("counts a cached fetch as a use", func(t *testing.T) {
		repo := gitserver.NewRepo(t)
		cache := t.TempDir()
		branch := newSource(t, source.Options{URL: repo.URL(), CacheDir: cache, KeepSnapshots: 2})
		first := repo.Commit(t, "first", map[string]string{"app.yaml": "1"})
		fetch(t, branch)
		second := repo.Commit(t, "second", map[string]string{"app.yaml": "2"})
		fetch(t, branch)
		pinned := newSource(t, source.Options{URL: repo.URL(), Ref: first, CacheDir: cache, KeepSnapshots: 2})
		if art := fetch(t, pinned); !art.Cached {
			t.Fatalf("pinned fetch of %s is not cached", first)
		}
		third := repo.Commit(t, "third", map[string]string{"app.yaml": "3"})
		art := fetch(t, branch)
		if diff := cmp.Diff(sorted(first, third), snapshotNames(t, art)); diff != "" {
			t.Errorf("snapshots after %s was used again (-want +got; %s is the oldest):\n%s", first, second, diff)
		}
	})
}

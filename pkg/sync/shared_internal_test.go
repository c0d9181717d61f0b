package sync

import (
	gosync "sync"
	"testing"
	"time"

	"github.com/gitsync-io/gitsync/pkg/sync/source"
	"github.com/gitsync-io/gitsync/test/gitserver"
)

func TestSharedSourceFetchesOncePerIntervalOrRefresh(t *testing.T) {
	repo := gitserver.NewRepo(t)
	repo.Commit(t, "one", map[string]string{"a.yaml": configMap("default", "a", "1")})
	src, err := source.New(source.Options{URL: repo.URL(), CacheDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	s := newSharedSource(src, time.Hour)
	fetchAll := func(n int) map[string]bool {
		revisions := map[string]bool{}
		var mu gosync.Mutex
		var wg gosync.WaitGroup
		for range n {
			wg.Go(func() {
				art, err := s.Fetch(t.Context())
				if err != nil {
					t.Error(err)
				}
				mu.Lock()
				revisions[art.Revision] = true
				mu.Unlock()
			})
		}
		wg.Wait()
		return revisions
	}

	if revs := fetchAll(50); len(revs) != 1 || !revs[repo.Head(t)] || s.Fetches() != 1 {
		t.Fatalf("50 syncs at once: revisions %v in %d fetches, want %s in 1", revs, s.Fetches(), repo.Head(t))
	}
	repo.Commit(t, "two", map[string]string{"a.yaml": configMap("default", "a", "2")})
	if revs := fetchAll(10); len(revs) != 1 || revs[repo.Head(t)] || s.Fetches() != 1 {
		t.Errorf("within the interval: revisions %v in %d fetches, want the first one again, no fetch", revs, s.Fetches())
	}
	s.Refresh() // a webhook: something is new
	if revs := fetchAll(10); len(revs) != 1 || !revs[repo.Head(t)] || s.Fetches() != 2 {
		t.Errorf("after Refresh: revisions %v in %d fetches, want %s in one more", revs, s.Fetches(), repo.Head(t))
	}
	s.fresh = 0 // the interval passed
	if fetchAll(1); s.Fetches() != 3 {
		t.Errorf("after the interval: %d fetches, want one more", s.Fetches())
	}
}

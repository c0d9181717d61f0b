package source_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"
	"github.com/google/go-cmp/cmp"

	"github.com/gitsync-io/gitsync/pkg/sync/source"
	"github.com/gitsync-io/gitsync/test/gitserver"
)

// manyFiles is a tree of n files that do not compress into each other.
func manyFiles(n int) map[string]string {
	files := map[string]string{}
	for i := range n {
		sum := sha256.Sum256(fmt.Appendf(nil, "file %d", i))
		files[fmt.Sprintf("apps/app%02d/cm%04d.yaml", i%20, i)] = "data: " + strings.Repeat(hex.EncodeToString(sum[:]), 4) + "\n"
	}
	return files
}

// fallbacks returns a context whose logger records every fetch that could
// not start from the last snapshot and downloaded the whole revision, or
// that fell back from git protocol version 2 to version 0.
func fallbacks(t *testing.T) (context.Context, func() []string) {
	var mu sync.Mutex
	var lines []string
	log := funcr.New(func(prefix, args string) {
		if strings.Contains(args, "fetching only what changed") || strings.Contains(args, "protocol version 2 failed") {
			mu.Lock()
			defer mu.Unlock()
			lines = append(lines, args)
		}
	}, funcr.Options{Verbosity: 1})
	return logr.NewContext(context.Background(), log), func() []string {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(lines)
	}
}

func fetchCtx(t *testing.T, ctx context.Context, s *source.Source) source.Artifact {
	t.Helper()
	art, err := s.Fetch(ctx)
	if err != nil {
		t.Fatalf("Fetch: %v", err)
	}
	return art
}

// TestFetchStartsFromTheLastSnapshot changes a tree of 300 files in every
// way a commit can, and checks after each fetch that the snapshot holds
// what git holds at that commit, and that the fetch started from the
// previous snapshot instead of downloading the whole revision.
func TestFetchStartsFromTheLastSnapshot(t *testing.T) {
	files := manyFiles(300)
	steps := []struct {
		name   string
		commit func(*gitserver.Repo) string
	}{
		{"one file changed", func(r *gitserver.Repo) string {
			return r.Commit(t, "one", map[string]string{"apps/app03/cm0003.yaml": "changed\n"})
		}},
		{"a file moved to a new directory", func(r *gitserver.Repo) string {
			return r.Commit(t, "move", map[string]string{"apps/app04/cm0004.yaml": "", "moved/cm0004.yaml": files["apps/app04/cm0004.yaml"]})
		}},
		{"a file copied", func(r *gitserver.Repo) string {
			return r.Commit(t, "copy", map[string]string{"copy.yaml": files["apps/app05/cm0005.yaml"]})
		}},
		{"a symlink added", func(r *gitserver.Repo) string { return r.Symlink(t, "link.yaml", "copy.yaml") }},
		{"a directory removed", func(r *gitserver.Repo) string { return r.Remove(t, "apps/app06") }},
		{"a file restored to what it held two commits ago", func(r *gitserver.Repo) string {
			return r.Commit(t, "restore", map[string]string{"apps/app03/cm0003.yaml": files["apps/app03/cm0003.yaml"]})
		}},
	}
	for _, r := range remotes() {
		t.Run(r.name, func(t *testing.T) {
			repo := gitserver.NewRepo(t)
			repo.Commit(t, "many files", files)
			url, auth := r.serve(t, repo)
			ctx, fellBack := fallbacks(t)
			s := newSource(t, source.Options{URL: url, Ref: "main", Auth: auth})
			fetchCtx(t, ctx, s)
			for _, step := range steps {
				sha := step.commit(repo)
				art := fetchCtx(t, ctx, s)
				if art.Revision != sha || art.Cached {
					t.Fatalf("%s: fetched %s (cached %v), want %s", step.name, art.Revision, art.Cached, sha)
				}
				whole := fetch(t, newSource(t, source.Options{URL: url, Ref: "main", Auth: auth}))
				if diff := cmp.Diff(readTree(t, whole.Dir), readTree(t, art.Dir)); diff != "" {
					t.Errorf("%s: snapshot against a whole fetch of the commit (-want +got):\n%s", step.name, diff)
				}
				if diff := cmp.Diff(lsTree(t, repo, sha), art.Blobs); diff != "" {
					t.Errorf("%s: blobs (-git ls-tree +got):\n%s", step.name, diff)
				}
				if got := fellBack(); len(got) > 0 {
					t.Fatalf("%s: the fetch downloaded the whole revision: %v", step.name, got)
				}
			}
		})
	}
}

// TestFetchOverHTTPDownloadsOnlyWhatChanged counts what the server sends:
// after a one-file commit to a tree of 1000 files, a fetch costs a small
// fraction of the first one.
func TestFetchOverHTTPDownloadsOnlyWhatChanged(t *testing.T) {
	repo := gitserver.NewRepo(t)
	repo.Commit(t, "many files", manyFiles(1000))
	srv := gitserver.StartHTTP(t, repo.Root(), gitserver.Options{Username: "alice", Password: password})
	s := newSource(t, source.Options{URL: srv.URL + "/" + repo.Name(), Ref: "main", Auth: source.Auth{Username: "alice", Password: password}})
	fetch(t, s)
	whole := srv.BytesSent()
	repo.Commit(t, "one", map[string]string{"apps/app03/cm0003.yaml": "changed\n"})
	before := srv.BytesSent()
	fetch(t, s)
	if got := srv.BytesSent() - before; got*20 > whole {
		t.Errorf("a one-file commit cost %d bytes, the whole revision %d; want under a twentieth", got, whole)
	}
}

// TestFetchDownloadsTheWholeRevisionWhenTheSnapshotCannotServe damages
// what a fetch starts from in each way it can be, and checks the fetch
// still gets the commit right, by downloading it whole.
func TestFetchDownloadsTheWholeRevisionWhenTheSnapshotCannotServe(t *testing.T) {
	cases := []struct {
		name   string
		damage func(t *testing.T, art source.Artifact)
	}{
		{"its trees are gone", func(t *testing.T, art source.Artifact) { remove(t, art.Dir+".trees") }},
		{"its trees are cut short", func(t *testing.T, art source.Artifact) {
			data, err := os.ReadFile(art.Dir + ".trees")
			if err != nil {
				t.Fatal(err)
			}
			rewrite(t, art.Dir+".trees", data[:len(data)/2])
		}},
		{"its commit is gone", func(t *testing.T, art source.Artifact) {
			remove(t, art.Dir+"/../objects/"+art.Revision)
		}},
		{"a blob the new commit keeps is gone", func(t *testing.T, art source.Artifact) {
			_, hash, _ := strings.Cut(art.Blobs["apps/app07/cm0007.yaml"], " ")
			remove(t, art.Dir+"/../blobs/"+hash)
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			repo := gitserver.NewRepo(t)
			repo.Commit(t, "many files", manyFiles(40))
			ctx, fellBack := fallbacks(t)
			s := newSource(t, source.Options{URL: repo.URL(), Ref: "main"})
			tc.damage(t, fetchCtx(t, ctx, s))
			sha := repo.Commit(t, "one", map[string]string{"apps/app03/cm0003.yaml": "changed\n"})
			art := fetchCtx(t, ctx, s)
			if len(fellBack()) != 1 {
				t.Errorf("fell back to a whole download %d times, want once: %v", len(fellBack()), fellBack())
			}
			want := manyFiles(40)
			want["apps/app03/cm0003.yaml"] = "changed\n"
			if diff := cmp.Diff(want, readTree(t, art.Dir)); art.Revision != sha || diff != "" {
				t.Errorf("fetched %s, want %s; snapshot (-want +got):\n%s", art.Revision, sha, diff)
			}
		})
	}
}

func remove(t *testing.T, path string) {
	t.Helper()
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
}

func rewrite(t *testing.T, path string, data []byte) {
	t.Helper()
	remove(t, path)
	if err := os.WriteFile(path, data, 0o444); err != nil {
		t.Fatal(err)
	}
}

package source_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gitsync-io/gitsync/pkg/sync/source"
	"github.com/gitsync-io/gitsync/test/gitserver"
)

// history is a repository with commits reachable in every way a ref can name.
type history struct {
	repo                                      *gitserver.Repo
	unadvertised, light, annotated, main, dev string
}

func newHistory(t *testing.T) history {
	h := history{repo: gitserver.NewRepo(t)}
	h.unadvertised = h.repo.Commit(t, "first", map[string]string{"app.yaml": "v1", "base/kustomization.yaml": "resources: []"})
	h.light = h.repo.Commit(t, "second", map[string]string{"app.yaml": "v2"})
	h.repo.Tag(t, "v2")
	h.annotated = h.repo.Commit(t, "third", map[string]string{"app.yaml": "v3"})
	h.repo.AnnotatedTag(t, "v3", "release 3")
	h.main = h.repo.Commit(t, "fourth", map[string]string{"app.yaml": "v4"})
	h.repo.Branch(t, "dev")
	h.dev = h.repo.Commit(t, "on dev", map[string]string{"app.yaml": "dev"})
	h.repo.SetDefaultBranch(t, "dev")
	h.repo.Switch(t, "main")
	return h
}

func TestFetchResolvesRefs(t *testing.T) {
	h := newHistory(t)
	cases := []struct {
		name, ref, wantRef, wantRev, wantApp string
	}{
		{"fetches a branch", "main", "refs/heads/main", h.main, "v4"},
		{"fetches a lightweight tag", "v2", "refs/tags/v2", h.light, "v2"},
		{"fetches an annotated tag as the commit it tags", "v3", "refs/tags/v3", h.annotated, "v3"},
		{"fetches a full reference name", "refs/heads/dev", "refs/heads/dev", h.dev, "dev"},
		{"fetches the remote's default branch when no ref is given", "", "refs/heads/dev", h.dev, "dev"},
		{"fetches a commit SHA a branch points to", h.main, h.main, h.main, "v4"},
		{"fetches a commit SHA no ref points to", h.unadvertised, h.unadvertised, h.unadvertised, "v1"},
	}
	for _, r := range remotes() {
		url, auth := r.serve(t, h.repo)
		for _, tc := range cases {
			t.Run(r.name+" "+tc.name, func(t *testing.T) {
				art := fetch(t, newSource(t, source.Options{URL: url, Ref: tc.ref, Auth: auth}))
				want := source.Artifact{URL: url, Ref: tc.wantRef, Revision: tc.wantRev, Dir: art.Dir, Blobs: lsTree(t, h.repo, tc.wantRev)}
				if diff := cmp.Diff(want, art); diff != "" {
					t.Errorf("artifact (-want +got):\n%s", diff)
				}
				wantFiles := map[string]string{"app.yaml": tc.wantApp, "base/kustomization.yaml": "resources: []"}
				if diff := cmp.Diff(wantFiles, readTree(t, art.Dir)); diff != "" {
					t.Errorf("snapshot (-want +got):\n%s", diff)
				}
			})
		}
	}
}

// lsTree is what git ls-tree says each file of rev holds: path → "mode blob",
// the mode written with seven octal digits as go-git writes it.
func lsTree(t *testing.T, repo *gitserver.Repo, rev string) map[string]string {
	t.Helper()
	out, err := exec.Command("git", "-C", repo.Dir(), "ls-tree", "-r", "--format=%(objectmode) %(objectname)%x00%(path)", rev).Output()
	if err != nil {
		t.Fatalf("git ls-tree %s: %v", rev, err)
	}
	blobs := map[string]string{}
	for line := range strings.Lines(string(out)) {
		blob, path, _ := strings.Cut(strings.TrimSuffix(line, "\n"), "\x00")
		blobs[path] = "0" + blob
	}
	return blobs
}

func TestFetchUnadvertisedCommitWhenTheServerAllowsIt(t *testing.T) {
	for _, tc := range []struct {
		name     string
		v0       bool
		requests int
		why      string
	}{
		{"version 2", false, 2, "the server's capabilities, then one shallow fetch of the commit"},
		{"version 0", true, 4, "the capabilities, answered in version 0; ls-remote; one shallow fetch (advertisement and pack)"},
	} {
		t.Run("fetches a commit no ref points to from a server that allows asking for it, in "+tc.name, func(t *testing.T) {
			h := newHistory(t)
			cmd := exec.Command("git", "-C", h.repo.Dir(), "config", "uploadpack.allowReachableSHA1InWant", "true")
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("git config: %v: %s", err, out)
			}
			srv := gitserver.StartHTTP(t, h.repo.Root(), gitserver.Options{})
			if tc.v0 {
				srv.DropProtocolHeader()
			}
			art := fetch(t, newSource(t, source.Options{URL: srv.URL + "/" + h.repo.Name(), Ref: h.unadvertised}))
			if srv.Requests() != tc.requests {
				t.Errorf("requests = %d, want %d: %s", srv.Requests(), tc.requests, tc.why)
			}
			if diff := cmp.Diff(map[string]string{"app.yaml": "v1", "base/kustomization.yaml": "resources: []"}, readTree(t, art.Dir)); diff != "" || art.Revision != h.unadvertised {
				t.Errorf("artifact %+v, snapshot (-want +got):\n%s", art, diff)
			}
		})
	}
}

func TestFetchFollowsTheRemote(t *testing.T) {
	for _, r := range remotes() {
		t.Run(r.name+" serves an unchanged remote from its snapshot", func(t *testing.T) {
			repo := gitserver.NewRepo(t)
			repo.Commit(t, "first", map[string]string{"app.yaml": "v1"})
			url, auth := r.serve(t, repo)
			s := newSource(t, source.Options{URL: url, Ref: "main", Auth: auth})
			first, second := fetch(t, s), fetch(t, s)
			if !second.Cached || first.Cached || second.Dir != first.Dir {
				t.Errorf("first fetch %+v, second %+v; want the second cached in the same directory", first, second)
			}
			// A new process finds the snapshot's blobs beside it.
			dir := t.TempDir()
			fetch(t, newSource(t, source.Options{URL: url, Ref: "main", Auth: auth, CacheDir: dir}))
			third := fetch(t, newSource(t, source.Options{URL: url, Ref: "main", Auth: auth, CacheDir: dir}))
			if want := lsTree(t, repo, first.Revision); !third.Cached || !cmp.Equal(third.Blobs, want) || !cmp.Equal(second.Blobs, want) {
				t.Errorf("blobs of cached snapshots: %v in this process, %v (cached %v) in the next; want %v", second.Blobs, third.Blobs, third.Cached, want)
			}
		})
		t.Run(r.name+" fetches a new commit into a new snapshot and leaves the old one alone", func(t *testing.T) {
			repo := gitserver.NewRepo(t)
			repo.Commit(t, "first", map[string]string{"app.yaml": "v1", "old.yaml": "old"})
			url, auth := r.serve(t, repo)
			s := newSource(t, source.Options{URL: url, Ref: "main", Auth: auth})
			old := fetch(t, s)
			sha := repo.Commit(t, "second", map[string]string{"app.yaml": "v2", "old.yaml": ""})
			art := fetch(t, s)
			if art.Revision != sha || art.Cached || art.Dir == old.Dir {
				t.Errorf("after a commit: %+v; want new revision %s in a new directory", art, sha)
			}
			if diff := cmp.Diff(map[string]string{"app.yaml": "v2"}, readTree(t, art.Dir)); diff != "" {
				t.Errorf("new snapshot (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(map[string]string{"app.yaml": "v1", "old.yaml": "old"}, readTree(t, old.Dir)); diff != "" {
				t.Errorf("old snapshot (-want +got):\n%s", diff)
			}
		})
		t.Run(r.name+" links the files a new commit left alone from the previous snapshot", func(t *testing.T) {
			repo := gitserver.NewRepo(t)
			repo.Commit(t, "first", map[string]string{"same.yaml": "same", "app.yaml": "v1"})
			url, auth := r.serve(t, repo)
			s := newSource(t, source.Options{URL: url, Ref: "main", Auth: auth})
			old := fetch(t, s)
			repo.Commit(t, "second", map[string]string{"app.yaml": "v2"})
			art := fetch(t, s)
			if !sameFile(t, old.Dir, art.Dir, "same.yaml") {
				t.Error("same.yaml was written again instead of linked")
			}
			if sameFile(t, old.Dir, art.Dir, "app.yaml") {
				t.Error("the changed app.yaml is linked to the old one")
			}
			if diff := cmp.Diff(map[string]string{"same.yaml": "same", "app.yaml": "v2"}, readTree(t, art.Dir)); diff != "" {
				t.Errorf("new snapshot (-want +got):\n%s", diff)
			}
		})
		t.Run(r.name+" writes a file it cannot link from the previous snapshot", func(t *testing.T) {
			repo := gitserver.NewRepo(t)
			repo.Commit(t, "first", map[string]string{"deep/er/same.yaml": "same", "deep/lost.yaml": "lost", "app.yaml": "v1"})
			url, auth := r.serve(t, repo)
			s := newSource(t, source.Options{URL: url, Ref: "main", Auth: auth})
			old := fetch(t, s)
			if err := os.Remove(filepath.Join(old.Dir, "deep", "lost.yaml")); err != nil {
				t.Fatal(err)
			}
			repo.Commit(t, "second", map[string]string{"app.yaml": "v2"})
			art := fetch(t, s)
			if !sameFile(t, old.Dir, art.Dir, "deep/er/same.yaml") {
				t.Error("deep/er/same.yaml was written again instead of linked")
			}
			want := map[string]string{"deep/er/same.yaml": "same", "deep/lost.yaml": "lost", "app.yaml": "v2"}
			if diff := cmp.Diff(want, readTree(t, art.Dir)); diff != "" {
				t.Errorf("new snapshot (-want +got):\n%s", diff)
			}
		})
		t.Run(r.name+" follows a force push to an unrelated commit", func(t *testing.T) {
			repo := gitserver.NewRepo(t)
			repo.Commit(t, "first", map[string]string{"app.yaml": "v1"})
			url, auth := r.serve(t, repo)
			s := newSource(t, source.Options{URL: url, Ref: "main", Auth: auth})
			fetch(t, s)
			sha := repo.Rewrite(t, "rewritten", map[string]string{"other.yaml": "x"})
			art := fetch(t, s)
			if art.Revision != sha {
				t.Errorf("revision = %s, want the force-pushed %s", art.Revision, sha)
			}
			if diff := cmp.Diff(map[string]string{"other.yaml": "x"}, readTree(t, art.Dir)); diff != "" {
				t.Errorf("snapshot (-want +got):\n%s", diff)
			}
		})
	}
}

func TestFetchOverHTTPCostsOneRequestWhenUnchanged(t *testing.T) {
	repo := gitserver.NewRepo(t)
	repo.Commit(t, "first", map[string]string{"app.yaml": "v1"})
	srv := gitserver.StartHTTP(t, repo.Root(), gitserver.Options{Username: "alice", Password: password})
	s := newSource(t, source.Options{URL: srv.URL + "/" + repo.Name(), Auth: source.Auth{Username: "alice", Password: password}})
	fetch(t, s)
	for i := range 3 {
		t.Run(fmt.Sprintf("unchanged fetch %d makes exactly one request", i+1), func(t *testing.T) {
			before := srv.Requests()
			if art := fetch(t, s); !art.Cached {
				t.Errorf("artifact %+v is not cached", art)
			}
			if got := srv.Requests() - before; got != 1 {
				t.Errorf("requests = %d, want 1", got)
			}
		})
	}
	t.Run("a pinned commit with a snapshot makes no request", func(t *testing.T) {
		pinned := newSource(t, source.Options{URL: srv.URL + "/" + repo.Name(), Ref: repo.Head(t), Auth: source.Auth{Username: "alice", Password: password}})
		fetch(t, pinned)
		before := srv.Requests()
		if art := fetch(t, pinned); !art.Cached || srv.Requests() != before {
			t.Errorf("artifact %+v after %d requests; want cached after none", art, srv.Requests()-before)
		}
	})
}

func TestFetchFailures(t *testing.T) {
	repo := gitserver.NewRepo(t)
	repo.Commit(t, "first", map[string]string{"app.yaml": "v1"})
	srv := gitserver.StartHTTP(t, repo.Root(), gitserver.Options{Username: "alice", Password: password})
	good := source.Auth{Username: "alice", Password: password}
	if out, err := exec.Command("git", "init", "--quiet", "--bare", filepath.Join(repo.Root(), "empty.git")).CombinedOutput(); err != nil {
		t.Fatalf("git init: %v: %s", err, out)
	}
	for _, tc := range []struct {
		name     string
		opts     source.Options
		wantKind source.Kind
	}{
		{"reports a wrong password as a terminal authentication failure", source.Options{URL: srv.URL + "/" + repo.Name(), Auth: source.Auth{Username: "alice", Password: "not-" + password}}, source.AuthFailed},
		{"reports missing credentials as a terminal authentication failure", source.Options{URL: srv.URL + "/" + repo.Name()}, source.AuthFailed},
		{"reports a missing branch as a terminal ref not found", source.Options{URL: srv.URL + "/" + repo.Name(), Ref: "nope", Auth: good}, source.RefNotFound},
		{"reports a commit on no branch or tag as a terminal ref not found", source.Options{URL: srv.URL + "/" + repo.Name(), Ref: "0123456789abcdef0123456789abcdef01234567", Auth: good}, source.RefNotFound},
		{"reports a missing repository as terminal", source.Options{URL: srv.URL + "/missing.git", Auth: good}, source.RepoNotFound},
		{"reports an empty repository as a terminal ref not found", source.Options{URL: srv.URL + "/empty.git", Auth: good}, source.RefNotFound},
		{"reports a branch of an empty repository as a terminal ref not found", source.Options{URL: srv.URL + "/empty.git", Ref: "main", Auth: good}, source.RefNotFound},
		{"reports a missing local repository as terminal", source.Options{URL: filepath.Join(t.TempDir(), "missing")}, source.RepoNotFound},
		{"reports a closed port as unreachable and retryable", source.Options{URL: "http://" + closedPort(t) + "/repo.git", Auth: good}, source.Unreachable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := fetchErr(t, newSource(t, tc.opts))
			if err.Kind != tc.wantKind || !errors.Is(err, tc.wantKind) {
				t.Errorf("error %q has kind %q, want %q", err, err.Kind, tc.wantKind)
			}
			var terminal interface{ Terminal() bool }
			if !errors.As(error(err), &terminal) || terminal.Terminal() != tc.wantKind.Terminal() {
				t.Errorf("error %q: Terminal() = %v, want %v", err, err.Terminal(), tc.wantKind.Terminal())
			}
			assertNoSecret(t, err, password)
		})
	}
}

// closedPort returns a loopback address nothing listens on.
func closedPort(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func TestFetchStopsWhenCanceled(t *testing.T) {
	repo := gitserver.NewRepo(t)
	files := map[string]string{}
	for i := range 2000 {
		files[fmt.Sprintf("dir%02d/cm%04d.yaml", i%20, i)] = fmt.Sprintf("kind: ConfigMap\nmetadata: {name: cm%d}\n", i)
	}
	repo.Commit(t, "many files", files)
	srv := gitserver.StartHTTP(t, repo.Root(), gitserver.Options{})
	cache := t.TempDir()
	s := newSource(t, source.Options{URL: srv.URL + "/" + repo.Name(), CacheDir: cache})

	t.Run("does not start when the context is already canceled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, err := s.Fetch(ctx)
		if !errors.Is(err, context.Canceled) || !errors.Is(err, source.Canceled) {
			t.Errorf("Fetch = %v, want canceled", err)
		}
	})
	t.Run("stops a clone in progress and publishes nothing", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		go cancelAfterRequests(ctx, cancel, srv, srv.Requests()+2) // ls-remote, then the fetch's ref advertisement
		_, err := s.Fetch(ctx)
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Fetch = %v, want canceled", err)
		}
		if leftovers := countFiles(t, cache); leftovers != 0 {
			t.Errorf("%d files left in the cache after a canceled fetch", leftovers)
		}
	})
}

func cancelAfterRequests(ctx context.Context, cancel func(), srv *gitserver.HTTPServer, n int) {
	for srv.Requests() < n && ctx.Err() == nil {
		time.Sleep(time.Millisecond)
	}
	cancel()
}

func countFiles(t *testing.T, dir string) int {
	n := 0
	filepath.WalkDir(dir, func(_ string, d os.DirEntry, _ error) error {
		if d != nil && !d.IsDir() {
			n++
		}
		return nil
	})
	return n
}

func BenchmarkFetch(b *testing.B) {
	repo := gitserver.NewRepo(b)
	repo.Commit(b, "1000 files", benchFiles())
	srv := gitserver.StartHTTP(b, repo.Root(), gitserver.Options{Username: "alice", Password: password})
	opts := source.Options{URL: srv.URL + "/" + repo.Name(), Ref: "main", Auth: source.Auth{Username: "alice", Password: password}}

	b.Run("cold", func(b *testing.B) {
		sent := srv.BytesSent()
		for b.Loop() {
			opts.CacheDir = b.TempDir()
			fetch(b, newSource(b, opts))
		}
		b.ReportMetric(float64(srv.BytesSent()-sent)/float64(b.N), "B-sent/op")
	})
	b.Run("unchanged", func(b *testing.B) {
		opts.CacheDir = b.TempDir()
		s := newSource(b, opts)
		fetch(b, s)
		for b.Loop() {
			if !fetch(b, s).Cached {
				b.Fatal("not cached")
			}
		}
	})
	// One file changed since the last fetch: gitsync, then git's own
	// shallow fetch and checkout in a shallow clone, as a peer. Each reports
	// the bytes the server sent.
	change := oneFileChanges(repo)
	b.Run("one-file-changed", func(b *testing.B) { gitsyncFetches(b, opts, srv, change) })
	b.Run("one-file-changed-git", func(b *testing.B) { gitFetches(b, withPassword(b, opts.URL), srv, change) })
}

// benchFiles are 1000 small ConfigMaps in 40 directories.
func benchFiles() map[string]string {
	files := map[string]string{}
	for i := range 1000 {
		files[fmt.Sprintf("apps/app%02d/cm%04d.yaml", i%40, i)] = fmt.Sprintf("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm%d\ndata:\n  key: value-%d\n", i, i)
	}
	return files
}

// oneFileChanges returns a function that commits a change to one of
// benchFiles, off the benchmark's clock.
func oneFileChanges(repo *gitserver.Repo) func(*testing.B) {
	changes := 0
	return func(b *testing.B) {
		b.StopTimer()
		changes++
		repo.Commit(b, "one", map[string]string{"apps/app03/cm0003.yaml": fmt.Sprintf("changed %d\n", changes)})
		b.StartTimer()
	}
}

// withPassword is the test server's URL with alice's credentials in it, for git.
func withPassword(b *testing.B, raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		b.Fatal(err)
	}
	u.User = url.UserPassword("alice", password)
	return u.String()
}

// gitsyncFetches fetches with a new Source after each change.
func gitsyncFetches(b *testing.B, opts source.Options, srv *gitserver.HTTPServer, change func(*testing.B)) {
	opts.CacheDir = b.TempDir()
	s := newSource(b, opts)
	fetch(b, s)
	sent := srv.BytesSent()
	for range b.N {
		change(b)
		fetch(b, s)
	}
	b.ReportMetric(float64(srv.BytesSent()-sent)/float64(b.N), "B-sent/op")
}

// gitFetches is the peer of a one-file-changed benchmark: git's own
// fetch --depth 1 and checkout in a shallow clone, after each change.
func gitFetches(b *testing.B, remote string, srv *gitserver.HTTPServer, change func(*testing.B)) {
	clone := filepath.Join(b.TempDir(), "clone")
	runGit(b, "", "clone", "-q", "--depth", "1", "--branch", "main", remote, clone)
	sent := srv.BytesSent()
	for range b.N {
		change(b)
		runGit(b, clone, "fetch", "-q", "--depth", "1", "origin", "main")
		runGit(b, clone, "checkout", "-q", "--detach", "FETCH_HEAD")
	}
	b.ReportMetric(float64(srv.BytesSent()-sent)/float64(b.N), "B-sent/op")
}

func runGit(b *testing.B, dir string, args ...string) {
	b.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("git %v: %v\n%s", args, err, out)
	}
}

// sameFile reports whether name is one file (hard-linked) in both snapshots.
func sameFile(t *testing.T, a, b, name string) bool {
	t.Helper()
	fa, err := os.Stat(filepath.Join(a, name))
	if err != nil {
		t.Fatal(err)
	}
	fb, err := os.Stat(filepath.Join(b, name))
	if err != nil {
		t.Fatal(err)
	}
	return os.SameFile(fa, fb)
}

// BenchmarkManyRefs polls, and fetches one-file commits from, a repository
// with 20,000 pull requests (a head and a merge ref each, 40,000 refs, as a
// busy repository on a hosting service has), over HTTP: gitsync, gitsync
// against the same server made to speak git protocol version 0 only (what
// gitsync did before it spoke version 2), and git's own ls-remote, or fetch
// and checkout in a shallow clone. Each reports the bytes the server sent.
func BenchmarkManyRefs(b *testing.B) {
	repo := gitserver.NewRepo(b)
	repo.Commit(b, "1000 files", benchFiles())
	repo.PullRequests(b, 20000)
	auth := source.Auth{Username: "alice", Password: password}
	v2 := gitserver.StartHTTP(b, repo.Root(), gitserver.Options{Username: "alice", Password: password})
	v0 := gitserver.StartHTTP(b, repo.Root(), gitserver.Options{Username: "alice", Password: password})
	v0.DropProtocolHeader()
	change := oneFileChanges(repo)
	for _, srv := range []struct {
		name string
		*gitserver.HTTPServer
	}{{"", v2}, {"-v0", v0}} {
		opts := source.Options{URL: srv.URL + "/" + repo.Name(), Ref: "main", Auth: auth}
		b.Run("unchanged"+srv.name, func(b *testing.B) {
			opts.CacheDir = b.TempDir()
			s := newSource(b, opts)
			fetch(b, s)
			sent := srv.BytesSent()
			for b.Loop() {
				if !fetch(b, s).Cached {
					b.Fatal("not cached")
				}
			}
			b.ReportMetric(float64(srv.BytesSent()-sent)/float64(b.N), "B-sent/op")
		})
		b.Run("one-file-changed"+srv.name, func(b *testing.B) { gitsyncFetches(b, opts, srv.HTTPServer, change) })
	}
	remote := withPassword(b, v2.URL+"/"+repo.Name())
	b.Run("unchanged-git", func(b *testing.B) {
		sent := v2.BytesSent()
		for b.Loop() {
			runGit(b, "", "ls-remote", "--heads", remote, "main") // --heads: ls-refs with ref-prefix refs/heads/
		}
		b.ReportMetric(float64(v2.BytesSent()-sent)/float64(b.N), "B-sent/op")
	})
	b.Run("one-file-changed-git", func(b *testing.B) { gitFetches(b, remote, v2, change) })
}

package source

import (
	"context"
	"strings"
	"testing"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/storage/memory"
	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"

	"github.com/gitsync-io/gitsync/test/gitserver"
)

// TestFetchOfACommitGoneSinceTheListing: between the listing and the fetch,
// a force-push replaced the commit the listing found, and the server's
// garbage collection removed it. Version 2's fetch asks for that commit (a
// version 2 server serves any commit it still has) and is refused; the fetch
// of the ref by name, with go-git, gets the commit the branch holds now.
func TestFetchOfACommitGoneSinceTheListing(t *testing.T) {
	repo := gitserver.NewRepo(t)
	repo.Commit(t, "first", map[string]string{"app.yaml": "v1"})
	srv := gitserver.StartHTTP(t, repo.Root(), gitserver.Options{})
	s, err := New(Options{URL: srv.URL + "/" + repo.Name(), Ref: "main", CacheDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	var logged []string
	ctx := logr.NewContext(context.Background(), funcr.New(func(_, args string) { logged = append(logged, args) }, funcr.Options{Verbosity: 1}))
	if _, err := s.Fetch(ctx); err != nil || s.protocol != protocolV2 {
		t.Fatalf("first fetch: %v, protocol %v; want version 2", err, s.protocol)
	}
	now := repo.Rewrite(t, "rewritten", map[string]string{"app.yaml": "v2"})
	gone := plumbing.NewHash(strings.Repeat("5", 40))
	got, err := s.download(ctx, nil, target{name: "refs/heads/main", commit: gone}, base{})
	if err != nil {
		t.Fatalf("download: %v", err)
	}
	if got.commit.Hash.String() != now {
		t.Errorf("downloaded %s, want %s, where the branch is now", got.commit.Hash, now)
	}
	if !strings.Contains(strings.Join(logged, "\n"), "fetching with git protocol version 2 failed") {
		t.Errorf("logged %q; want the version 2 fetch's failure", logged)
	}
}

// TestFetchReopensAStreamTheServerClosed: the listing's git-upload-pack
// stream is gone when the fetch comes (the server takes one command per
// connection, or dropped it); the fetch opens a new one instead of failing
// or falling back to version 0.
func TestFetchReopensAStreamTheServerClosed(t *testing.T) {
	repo := gitserver.NewRepo(t)
	sha := repo.Commit(t, "first", map[string]string{"app.yaml": "v1"})
	srv := gitserver.StartSSH(t, repo.Root())
	s, err := New(Options{URL: srv.URL + "/" + repo.Name(), Ref: "main", CacheDir: t.TempDir(),
		Auth: Auth{SSHKeyFile: srv.ClientKeyFile, KnownHostsFile: srv.KnownHostsFile(t)}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	auth, release, err := s.authMethod(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	defer s.closeStream()
	tgt, err := s.resolve(ctx, auth)
	if err != nil || s.stream == nil {
		t.Fatalf("resolve: %v, stream %v; want a version 2 listing that leaves its stream open", err, s.stream)
	}
	s.stream.client.Close()
	got, err := s.fetchV2(ctx, auth, memory.NewStorage(), tgt, base{})
	if err != nil || got.commit.Hash.String() != sha {
		t.Fatalf("fetchV2: %v; want %s", err, sha)
	}
	if srv.Sessions() != 2 {
		t.Errorf("%d sessions, want 2: the listing's, and the fetch's after it was closed", srv.Sessions())
	}
}

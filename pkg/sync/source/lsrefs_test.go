package source_test

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gitsync-io/gitsync/pkg/sync/source"
	"github.com/gitsync-io/gitsync/test/gitserver"
)

// pullRequests is how many pull requests the repositories below have: a head
// and a merge ref each, 4000 refs no Source asks for.
const pullRequests = 2000

// server is a remote whose traffic a test can count, and switch to git
// protocol version 0.
type server struct {
	name   string
	url    string
	auth   source.Auth
	sent   func() int64
	onlyV0 func() // from now on the server speaks version 0 only
}

func servers(t *testing.T, repo *gitserver.Repo) []server {
	h := gitserver.StartHTTP(t, repo.Root(), gitserver.Options{Username: "alice", Password: password})
	s := gitserver.StartSSH(t, repo.Root())
	return []server{
		{"http", h.URL + "/" + repo.Name(), source.Auth{Username: "alice", Password: password}, h.BytesSent, h.DropProtocolHeader},
		{"ssh", s.URL + "/" + repo.Name(), source.Auth{SSHKeyFile: s.ClientKeyFile, KnownHostsFile: s.KnownHostsFile(t)}, s.BytesSent, s.RefuseEnv},
	}
}

// TestListingAsksOnlyForTheRefsItNeeds resolves each kind of Ref in a
// repository with thousands of pull request refs, over servers that speak
// git protocol version 2 and then over the same servers speaking only
// version 0. Both must find the same revisions; a check of an unchanged
// branch or tag must cost a small fraction of the version 0 advertisement.
func TestListingAsksOnlyForTheRefsItNeeds(t *testing.T) {
	repo := gitserver.NewRepo(t)
	first := repo.Commit(t, "first", map[string]string{"app.yaml": "v1"})
	repo.AnnotatedTag(t, "v1.0.0", "release 1.0.0")
	repo.PullRequests(t, pullRequests)
	repo.Branch(t, "trunk")
	trunk := repo.Commit(t, "trunk", map[string]string{"app.yaml": "trunk"})
	repo.SetDefaultBranch(t, "trunk")
	repo.Switch(t, "main")
	main := repo.Commit(t, "second", map[string]string{"app.yaml": "v2"})
	repo.Tag(t, "v1.1.0")

	cases := []struct {
		name         string
		opts         source.Options
		ref, commit  string
		checksRemote bool // a pinned commit's snapshot is served without asking
	}{
		{"a branch", source.Options{Ref: "main"}, "refs/heads/main", main, true},
		{"the default branch", source.Options{}, "refs/heads/trunk", trunk, true},
		{"an annotated tag", source.Options{Ref: "v1.0.0"}, "refs/tags/v1.0.0", first, true},
		{"a full ref name", source.Options{Ref: "refs/tags/v1.1.0"}, "refs/tags/v1.1.0", main, true},
		{"a version range", source.Options{SemVer: ">=1.0.0 <2"}, "refs/tags/v1.1.0", main, true},
		{"a commit", source.Options{Ref: first}, first, first, false},
	}
	for _, srv := range servers(t, repo) {
		t.Run(srv.name, func(t *testing.T) {
			v2 := map[string]int64{}
			for _, protocol := range []string{"version 2", "version 0"} {
				if protocol == "version 0" {
					srv.onlyV0()
				}
				for _, tc := range cases {
					opts := tc.opts
					opts.URL, opts.Auth = srv.url, srv.auth
					s := newSource(t, opts)
					if art := fetch(t, s); art.Ref != tc.ref || art.Revision != tc.commit {
						t.Errorf("%s, %s: fetched %s at %s, want %s at %s", protocol, tc.name, art.Ref, art.Revision, tc.ref, tc.commit)
					}
					before := srv.sent()
					if art := fetch(t, s); !art.Cached || art.Revision != tc.commit {
						t.Errorf("%s, %s: checked again: %+v, want %s from the kept snapshot", protocol, tc.name, art, tc.commit)
					}
					cost := srv.sent() - before
					if protocol == "version 2" {
						v2[tc.name] = cost
						continue
					}
					if !tc.checksRemote {
						continue
					}
					t.Logf("%s: a check sent %d bytes in version 2, %d in version 0", tc.name, v2[tc.name], cost)
					if v2[tc.name]*50 > cost {
						t.Errorf("%s: a check sent %d bytes in version 2, %d in version 0; want under a fiftieth", tc.name, v2[tc.name], cost)
					}
				}
			}
		})
	}
}

// TestListingAsksAgainWhenTheServerChanges: a Source that has listed refs
// with version 2 sends ls-refs without asking the server first. When the
// server no longer speaks version 2 (a proxy in front of it now drops the
// header, or it was replaced), the Source must notice and list in version 0,
// not fail.
func TestListingAsksAgainWhenTheServerChanges(t *testing.T) {
	repo := gitserver.NewRepo(t)
	repo.Commit(t, "first", map[string]string{"app.yaml": "v1"})
	for _, srv := range servers(t, repo) {
		t.Run(srv.name, func(t *testing.T) {
			s := newSource(t, source.Options{URL: srv.url, Ref: "main", Auth: srv.auth})
			fetch(t, s)
			srv.onlyV0()
			sha := repo.Commit(t, "second "+srv.name, map[string]string{"app.yaml": srv.name})
			if art := fetch(t, s); art.Revision != sha || art.Cached {
				t.Errorf("after the server changed: %+v, want %s fetched", art, sha)
			}
			if art := fetch(t, s); art.Revision != sha || !art.Cached {
				t.Errorf("checked again: %+v, want %s from the kept snapshot", art, sha)
			}
		})
	}
}

// TestFetchOfANewCommitSendsNoListOfRefs fetches a one-file commit from a
// repository with thousands of pull request refs: in version 2 the fetch
// names the commit ls-refs found, and gets no list of every ref first.
func TestFetchOfANewCommitSendsNoListOfRefs(t *testing.T) {
	repo := gitserver.NewRepo(t)
	repo.Commit(t, "many files", manyFiles(300))
	repo.PullRequests(t, pullRequests)
	for _, srv := range servers(t, repo) {
		t.Run(srv.name, func(t *testing.T) {
			ctx, fellBack := fallbacks(t)
			s := newSource(t, source.Options{URL: srv.url, Ref: "main", Auth: srv.auth})
			fetchCtx(t, ctx, s)
			cost := map[string]int64{}
			for _, protocol := range []string{"version 2", "version 0"} {
				if protocol == "version 0" {
					srv.onlyV0()
				}
				sha := repo.Commit(t, srv.name+" "+protocol, map[string]string{"apps/app03/cm0003.yaml": srv.name + " " + protocol + "\n"})
				before := srv.sent()
				art := fetchCtx(t, ctx, s)
				cost[protocol] = srv.sent() - before
				if art.Revision != sha || art.Cached {
					t.Fatalf("%s: fetched %+v, want %s", protocol, art, sha)
				}
				if got := readTree(t, art.Dir)["apps/app03/cm0003.yaml"]; got != srv.name+" "+protocol+"\n" {
					t.Errorf("%s: the changed file holds %q", protocol, got)
				}
			}
			t.Logf("a one-file commit cost %d bytes in version 2, %d in version 0", cost["version 2"], cost["version 0"])
			if cost["version 2"]*20 > cost["version 0"] {
				t.Errorf("a one-file commit cost %d bytes in version 2, %d in version 0; want under a twentieth", cost["version 2"], cost["version 0"])
			}
			if got := fellBack(); len(got) > 0 {
				t.Errorf("a fetch fell back: %v", got)
			}
		})
	}
}

// TestFetchOfAPinnedCommitIsOneCommitDeep pins a commit no ref points to, in
// a history of 30 commits that each rewrite a file that does not compress.
// A version 0 server that does not allow asking for such a commit (git's
// default) can only send every branch and tag, whole; in version 2 the
// fetch asks for the commit itself, one commit deep.
func TestFetchOfAPinnedCommitIsOneCommitDeep(t *testing.T) {
	repo := gitserver.NewRepo(t)
	var pinned string
	for i := range 30 {
		var data strings.Builder
		for j := range 100 {
			sum := sha256.Sum256(fmt.Appendf(nil, "commit %d line %d", i, j))
			data.WriteString(hex.EncodeToString(sum[:]) + "\n")
		}
		sha := repo.Commit(t, fmt.Sprintf("commit %d", i), map[string]string{"data.txt": data.String()})
		if i == 5 {
			pinned = sha
		}
	}
	for _, srv := range servers(t, repo) {
		t.Run(srv.name, func(t *testing.T) {
			cost := map[string]int64{}
			for _, protocol := range []string{"version 2", "version 0"} {
				if protocol == "version 0" {
					srv.onlyV0()
				}
				before := srv.sent()
				art := fetch(t, newSource(t, source.Options{URL: srv.url, Ref: pinned, Auth: srv.auth}))
				cost[protocol] = srv.sent() - before
				if art.Revision != pinned || art.Ref != pinned {
					t.Errorf("%s: fetched %s at %s, want %s", protocol, art.Ref, art.Revision, pinned)
				}
				if diff := cmp.Diff(lsTree(t, repo, pinned), art.Blobs); diff != "" {
					t.Errorf("%s: blobs (-git ls-tree +got):\n%s", protocol, diff)
				}
			}
			t.Logf("the pinned commit cost %d bytes in version 2, %d in version 0", cost["version 2"], cost["version 0"])
			if cost["version 2"]*10 > cost["version 0"] {
				t.Errorf("the pinned commit cost %d bytes in version 2, %d in version 0; want under a tenth", cost["version 2"], cost["version 0"])
			}
		})
	}
}

// TestFetchFollowsAnnotatedTagsOntoTheLastSnapshot follows a version range
// across annotated tags: the version 2 fetch asks for the new tag object,
// telling the server it has the last snapshot's commit, and must get the
// tag, its commit and the changed file without falling back.
func TestFetchFollowsAnnotatedTagsOntoTheLastSnapshot(t *testing.T) {
	repo := gitserver.NewRepo(t)
	repo.Commit(t, "many files", manyFiles(100))
	repo.AnnotatedTag(t, "v1.0.0", "release 1.0.0")
	for i, srv := range servers(t, repo) {
		t.Run(srv.name, func(t *testing.T) {
			ctx, fellBack := fallbacks(t)
			s := newSource(t, source.Options{URL: srv.url, SemVer: ">=1.0.0", Auth: srv.auth})
			fetchCtx(t, ctx, s)
			tag := fmt.Sprintf("v1.%d.0", i+1)
			sha := repo.Commit(t, tag, map[string]string{"apps/app03/cm0003.yaml": tag + "\n"})
			repo.AnnotatedTag(t, tag, "release "+tag)
			art := fetchCtx(t, ctx, s)
			if art.Revision != sha || art.Ref != "refs/tags/"+tag {
				t.Errorf("fetched %s at %s, want %s at %s", art.Ref, art.Revision, tag, sha)
			}
			if got := readTree(t, art.Dir)["apps/app03/cm0003.yaml"]; got != tag+"\n" {
				t.Errorf("the changed file holds %q", got)
			}
			if got := fellBack(); len(got) > 0 {
				t.Errorf("the fetch fell back: %v", got)
			}
		})
	}
}

// TestOneSSHConnectionChecksAndFetches: over SSH, a Fetch's listing and
// its fetch are two commands to one git-upload-pack, on one connection.
func TestOneSSHConnectionChecksAndFetches(t *testing.T) {
	repo := gitserver.NewRepo(t)
	repo.Commit(t, "first", map[string]string{"app.yaml": "v1"})
	srv := gitserver.StartSSH(t, repo.Root())
	s := newSource(t, source.Options{URL: srv.URL + "/" + repo.Name(), Ref: "main",
		Auth: source.Auth{SSHKeyFile: srv.ClientKeyFile, KnownHostsFile: srv.KnownHostsFile(t)}})
	fetch(t, s)
	sha := repo.Commit(t, "second", map[string]string{"app.yaml": "v2"})
	before := srv.Sessions()
	if art := fetch(t, s); art.Revision != sha || art.Cached {
		t.Fatalf("fetched %+v, want %s", art, sha)
	}
	if got := srv.Sessions() - before; got != 1 {
		t.Errorf("a new commit took %d git-upload-pack sessions, want 1 (the listing and the fetch)", got)
	}
}

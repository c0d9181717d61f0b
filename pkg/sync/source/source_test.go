package source_test

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gitsync-io/gitsync/pkg/sync/source"
	"github.com/gitsync-io/gitsync/test/gitserver"
)

// password is the test servers' password; no error may ever contain it.
const password = "hunter2-Secret"

// remote is one way to reach a test repository.
type remote struct {
	name  string
	serve func(t *testing.T, repo *gitserver.Repo) (url string, auth source.Auth)
}

func remotes() []remote {
	return []remote{
		{"file", func(t *testing.T, repo *gitserver.Repo) (string, source.Auth) { return repo.URL(), source.Auth{} }},
		{"http", func(t *testing.T, repo *gitserver.Repo) (string, source.Auth) {
			srv := gitserver.StartHTTP(t, repo.Root(), gitserver.Options{Username: "alice", Password: password})
			return srv.URL + "/" + repo.Name(), source.Auth{Username: "alice", Password: password}
		}},
		{"ssh", func(t *testing.T, repo *gitserver.Repo) (string, source.Auth) {
			srv := gitserver.StartSSH(t, repo.Root())
			return srv.URL + "/" + repo.Name(), source.Auth{SSHKeyFile: srv.ClientKeyFile, KnownHostsFile: srv.KnownHostsFile(t)}
		}},
	}
}

func newSource(t testing.TB, opts source.Options) *source.Source {
	t.Helper()
	if opts.CacheDir == "" {
		opts.CacheDir = t.TempDir()
	}
	s, err := source.New(opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return s
}

func fetch(t testing.TB, s *source.Source) source.Artifact {
	t.Helper()
	art, err := s.Fetch(context.Background())
	if err != nil {
		t.Fatalf("Fetch: %v", err)
	}
	return art
}

// fetchErr fetches, expecting a failure, and returns it as *source.Error.
func fetchErr(t *testing.T, s *source.Source) *source.Error {
	t.Helper()
	art, err := s.Fetch(context.Background())
	var srcErr *source.Error
	if !errors.As(err, &srcErr) {
		t.Fatalf("Fetch = %+v, %v; want a *source.Error", art, err)
	}
	return srcErr
}

// readTree maps each file under dir to its content and each symlink to
// "-> target"; a .git entry fails the test.
func readTree(t *testing.T, dir string) map[string]string {
	t.Helper()
	files := map[string]string{}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		files[rel], err = describe(path, d)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

func describe(path string, d fs.DirEntry) (string, error) {
	if strings.Contains(path, ".git") {
		return "", errors.New(path + ": a snapshot must not contain .git")
	}
	if d.Type()&fs.ModeSymlink != 0 {
		target, err := os.Readlink(path)
		return "-> " + target, err
	}
	data, err := os.ReadFile(path)
	return string(data), err
}

// assertNoSecret fails if err's text holds a secret.
func assertNoSecret(t *testing.T, err error, secrets ...string) {
	t.Helper()
	for _, secret := range secrets {
		if strings.Contains(err.Error(), secret) {
			t.Errorf("error %q contains the secret %q", err, secret)
		}
	}
}

func TestNew(t *testing.T) {
	cache := t.TempDir()
	t.Setenv("SSH_AUTH_SOCK", "")
	for _, tc := range []struct {
		name      string
		opts      source.Options
		wantField string
	}{
		{"rejects an empty URL", source.Options{CacheDir: cache}, "URL"},
		{"rejects an unsupported scheme", source.Options{URL: "ftp://host/repo.git", CacheDir: cache}, "URL"},
		{"rejects a missing cache directory", source.Options{URL: "https://example.com/r.git"}, "CacheDir"},
		{"rejects a negative number of snapshots to keep", source.Options{URL: "https://example.com/r.git", CacheDir: cache, KeepSnapshots: -1}, "KeepSnapshots"},
		{"rejects an invalid ref", source.Options{URL: "https://example.com/r.git", Ref: "bad..ref", CacheDir: cache}, "Ref"},
		{"rejects a revision expression", source.Options{URL: "https://example.com/r.git", Ref: "main~1", CacheDir: cache}, "Ref"},
		{"rejects an SSH URL without a key or agent", source.Options{URL: "ssh://git@example.com/r.git", CacheDir: cache}, "SSHKeyFile or Auth.SSHAgent"},
		{"rejects both an SSH key and the agent", source.Options{URL: "git@example.com:r.git", CacheDir: cache, Auth: source.Auth{SSHKeyFile: "k", SSHAgent: true}}, "exclusive"},
		{"rejects the agent when SSH_AUTH_SOCK is unset", source.Options{URL: "git@example.com:r.git", CacheDir: cache, Auth: source.Auth{SSHAgent: true}}, "SSH_AUTH_SOCK"},
		{"rejects a password for SSH without showing it", source.Options{URL: "ssh://git:" + password + "@example.com/r.git", CacheDir: cache, Auth: source.Auth{SSHKeyFile: "k"}}, "Auth.Password"},
		{"rejects an scp-like address with a password", source.Options{URL: "git:" + password + "@example.com:r.git", CacheDir: cache}, "URL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := source.New(tc.opts)
			var srcErr *source.Error
			if !errors.As(err, &srcErr) || srcErr.Kind != source.InvalidOptions || !srcErr.Terminal() {
				t.Fatalf("New = %v; want a terminal InvalidOptions *source.Error", err)
			}
			if !strings.Contains(err.Error(), tc.wantField) || strings.Contains(err.Error(), "\n") {
				t.Errorf("error %q is not one line naming %q", err, tc.wantField)
			}
			assertNoSecret(t, err, password)
		})
	}
}

func TestNewAcceptsEveryAddressForm(t *testing.T) {
	for _, tc := range []struct{ name, url string }{
		{"accepts an https URL", "https://example.com/org/repo.git"},
		{"accepts an http URL with credentials", "http://user:" + password + "@127.0.0.1:8080/repo"},
		{"accepts an ssh URL with a port", "ssh://git@example.com:2222/org/repo.git"},
		{"accepts an scp-like address", "git@example.com:org/repo.git"},
		{"accepts a file URL", "file:///srv/git/repo.git"},
		{"accepts an absolute path", "/srv/git/repo.git"},
		{"accepts a relative path", "relative/repo"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := source.Options{URL: tc.url, CacheDir: t.TempDir(), Auth: source.Auth{SSHKeyFile: "id", KnownHostsFile: "kh"}}
			if _, err := source.New(opts); err != nil {
				t.Errorf("New(%q) = %v", tc.url, err)
			}
		})
	}
}

func TestFetchLocalPath(t *testing.T) {
	t.Run("fetches a relative local path as an absolute file URL", func(t *testing.T) {
		repo := gitserver.NewRepo(t)
		sha := repo.Commit(t, "first", map[string]string{"a.yaml": "a"})
		t.Chdir(repo.Root())
		art := fetch(t, newSource(t, source.Options{URL: repo.Name()}))
		want := source.Artifact{URL: "file://" + repo.Dir(), Ref: "refs/heads/main", Revision: sha, Dir: art.Dir, Blobs: lsTree(t, repo, sha)}
		if diff := cmp.Diff(want, art); diff != "" {
			t.Errorf("artifact (-want +got):\n%s", diff)
		}
	})
}

func TestErrorsNeverShowCredentials(t *testing.T) {
	repo := gitserver.NewRepo(t)
	repo.Commit(t, "first", map[string]string{"a.yaml": "a"})
	srv := gitserver.StartHTTP(t, repo.Root(), gitserver.Options{Username: "alice", Password: password})
	host := strings.TrimPrefix(srv.URL, "http://")
	for _, tc := range []struct {
		name string
		opts source.Options
	}{
		{"hides a wrong password given in the URL", source.Options{URL: "http://alice:wrong-" + password + "@" + host + "/" + repo.Name()}},
		{"hides a wrong password given in Auth", source.Options{URL: srv.URL + "/" + repo.Name(), Auth: source.Auth{Username: "alice", Password: "wrong-" + password}}},
		{"hides a token given as the URL's user", source.Options{URL: "http://tok-" + password + "@" + host + "/" + repo.Name()}},
		{"hides the password of a URL whose ref is missing", source.Options{URL: "http://alice:" + password + "@" + host + "/" + repo.Name(), Ref: "nope"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := fetchErr(t, newSource(t, tc.opts))
			assertNoSecret(t, err, password)
			if !strings.Contains(err.Error(), srv.URL+"/"+repo.Name()) || !err.Terminal() {
				t.Errorf("error %q does not name the repository or is not terminal", err)
			}
		})
	}
}

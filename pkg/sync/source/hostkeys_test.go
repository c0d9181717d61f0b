package source_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/crypto/ssh"

	"github.com/gitsync-io/gitsync/pkg/sync/source"
	"github.com/gitsync-io/gitsync/test/gitserver"
)

// sshRemote is a repository served over SSH, with options to fetch it.
func sshRemote(t *testing.T) (*gitserver.SSHServer, source.Options) {
	t.Helper()
	repo := gitserver.NewRepo(t)
	repo.Commit(t, "first", map[string]string{"app.yaml": "v1"})
	srv := gitserver.StartSSH(t, repo.Root())
	return srv, source.Options{URL: srv.URL + "/" + repo.Name(), Auth: source.Auth{SSHKeyFile: srv.ClientKeyFile}}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return string(data)
}

// Host key checking itself is package knownhosts' (and tested there); these tests prove a
// fetch uses it, reading known_hosts afresh for each of its connections, and how its
// refusals are classified.
func TestSSHHostKeys(t *testing.T) {
	t.Run("accepts a host known only by its ed25519 key", func(t *testing.T) {
		srv, opts := sshRemote(t)
		opts.Auth.KnownHostsFile = srv.KnownHostsFile(t, ssh.KeyAlgoED25519)
		fetch(t, newSource(t, opts))
	})
	t.Run("refuses an unknown host and records nothing", func(t *testing.T) {
		_, opts := sshRemote(t)
		opts.Auth.KnownHostsFile = filepath.Join(t.TempDir(), "known_hosts")
		err := fetchErr(t, newSource(t, opts))
		if err.Kind != source.HostKeyUnknown || !err.Terminal() {
			t.Errorf("error %q has kind %q, want a terminal %q", err, err.Kind, source.HostKeyUnknown)
		}
		if content := readFile(t, opts.Auth.KnownHostsFile); content != "" {
			t.Errorf("known_hosts = %q, want nothing recorded", content)
		}
	})
	t.Run("records an unknown host when accepting new keys and verifies it from then on", func(t *testing.T) {
		srv, opts := sshRemote(t)
		opts.Auth.KnownHostsFile = filepath.Join(t.TempDir(), "new", "known_hosts")
		opts.Auth.AcceptNewHostKeys = true
		fetch(t, newSource(t, opts))
		recorded := readFile(t, opts.Auth.KnownHostsFile)
		if host := "[127.0.0.1]:" + srv.URL[strings.LastIndex(srv.URL, ":")+1:] + " "; !strings.HasPrefix(recorded, host) || strings.Count(recorded, "\n") != 1 {
			t.Fatalf("known_hosts = %q, want one line for %q", recorded, host)
		}
		opts.Auth.AcceptNewHostKeys = false
		fetch(t, newSource(t, opts))
		if diff := cmp.Diff(recorded, readFile(t, opts.Auth.KnownHostsFile)); diff != "" {
			t.Errorf("known_hosts changed on a verified connection (-want +got):\n%s", diff)
		}
	})
	for _, accept := range []bool{false, true} {
		t.Run("refuses a changed host key "+map[bool]string{false: "by default", true: "even when accepting new keys"}[accept], func(t *testing.T) {
			srv, opts := sshRemote(t)
			opts.Auth.KnownHostsFile = srv.KnownHostsFile(t)
			opts.Auth.AcceptNewHostKeys = accept
			before := readFile(t, opts.Auth.KnownHostsFile)
			srv.RotateHostKeys(t)
			err := fetchErr(t, newSource(t, opts))
			if err.Kind != source.HostKeyChanged || !err.Terminal() {
				t.Errorf("error %q has kind %q, want a terminal %q", err, err.Kind, source.HostKeyChanged)
			}
			if diff := cmp.Diff(before, readFile(t, opts.Auth.KnownHostsFile)); diff != "" {
				t.Errorf("known_hosts changed (-want +got):\n%s", diff)
			}
		})
	}
}

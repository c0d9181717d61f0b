package source_test

import (
	"net"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"

	"github.com/gitsync-io/gitsync/pkg/sync/source"
	"github.com/gitsync-io/gitsync/test/gitserver"
)

const passphrase = "correct horse battery"

// startAgent serves an SSH agent holding the key in keyFile and returns its
// socket. The socket lives in a short path: unix sockets allow 108 bytes.
func startAgent(t *testing.T, keyFile string) string {
	t.Helper()
	data, err := os.ReadFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	key, err := ssh.ParseRawPrivateKey(data)
	if err != nil {
		t.Fatal(err)
	}
	keyring := agent.NewKeyring()
	if err := keyring.Add(agent.AddedKey{PrivateKey: key}); err != nil {
		t.Fatal(err)
	}
	return serveAgent(t, keyring)
}

func serveAgent(t *testing.T, keyring agent.Agent) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "agent")
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("unix", filepath.Join(dir, "s"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close(); os.RemoveAll(dir) })
	go func() {
		for conn, err := ln.Accept(); err == nil; conn, err = ln.Accept() {
			go func() { agent.ServeAgent(keyring, conn); conn.Close() }()
		}
	}()
	return ln.Addr().String()
}

func TestSSHAuth(t *testing.T) {
	repo := gitserver.NewRepo(t)
	sha := repo.Commit(t, "first", map[string]string{"app.yaml": "v1"})
	srv := gitserver.StartSSH(t, repo.Root())
	url := srv.URL + "/" + repo.Name()
	knownHosts := srv.KnownHostsFile(t)

	t.Run("authenticates with a key file protected by a passphrase", func(t *testing.T) {
		auth := source.Auth{SSHKeyFile: srv.EncryptedClientKeyFile(t, passphrase), SSHKeyPassphrase: passphrase, KnownHostsFile: knownHosts}
		if art := fetch(t, newSource(t, source.Options{URL: url, Auth: auth})); art.Revision != sha {
			t.Errorf("revision = %s, want %s", art.Revision, sha)
		}
	})
	t.Run("authenticates with the SSH agent", func(t *testing.T) {
		t.Setenv("SSH_AUTH_SOCK", startAgent(t, srv.ClientKeyFile))
		auth := source.Auth{SSHAgent: true, KnownHostsFile: knownHosts}
		if art := fetch(t, newSource(t, source.Options{URL: url, Auth: auth})); art.Revision != sha {
			t.Errorf("revision = %s, want %s", art.Revision, sha)
		}
	})

	other := gitserver.StartSSH(t, t.TempDir())
	for _, tc := range []struct {
		name string
		auth source.Auth
	}{
		{"refuses a wrong passphrase without showing it", source.Auth{SSHKeyFile: srv.EncryptedClientKeyFile(t, passphrase), SSHKeyPassphrase: "wrong " + passphrase}},
		{"reports a key the server does not accept as an authentication failure", source.Auth{SSHKeyFile: other.ClientKeyFile}},
		{"reports an agent without the key as an authentication failure", source.Auth{SSHAgent: true}},
		{"reports a missing key file as an authentication failure", source.Auth{SSHKeyFile: filepath.Join(t.TempDir(), "missing")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("SSH_AUTH_SOCK", serveAgent(t, agent.NewKeyring()))
			tc.auth.KnownHostsFile = knownHosts
			err := fetchErr(t, newSource(t, source.Options{URL: url, Auth: tc.auth}))
			if err.Kind != source.AuthFailed || !err.Terminal() {
				t.Errorf("error %q has kind %q, want a terminal %q", err, err.Kind, source.AuthFailed)
			}
			assertNoSecret(t, err, passphrase)
		})
	}
}

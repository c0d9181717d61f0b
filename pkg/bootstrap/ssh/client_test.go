package ssh_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	xssh "golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"

	"github.com/gitsync-io/gitsync/pkg/bootstrap/ssh"
)

func TestDialAuth(t *testing.T) {
	t.Parallel()

	t.Run("refuses a key the host does not authorize, saying so", func(t *testing.T) {
		h := newTestHost(t)
		cfg := h.cfg
		other, otherFile := newClientKey(t, "")
		cfg.KeyFile = otherFile
		_, err := ssh.Dial(t.Context(), cfg)
		var auth *ssh.AuthError
		if !errors.As(err, &auth) {
			t.Fatalf("Dial: %v (%T), want *ssh.AuthError", err, err)
		}
		t.Log(err)
		for _, want := range []string{h.user + "@" + h.addr, "authentication failed", otherFile, xssh.FingerprintSHA256(other.PublicKey()), "authorized_keys"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not contain %q", err, want)
			}
		}
	})

	t.Run("uses an encrypted key with its passphrase", func(t *testing.T) {
		key, keyFile := newClientKey(t, "correct horse")
		s := startSSHD(t, key.PublicKey())
		cfg := ssh.Config{Address: s.addr, User: s.user, KeyFile: keyFile, KnownHostsFile: s.knownHosts(t)}

		cfg.KeyPassphrase = "correct horse"
		dial(t, cfg)

		cfg.KeyPassphrase = ""
		if _, err := ssh.Dial(t.Context(), cfg); err == nil || !strings.Contains(err.Error(), "is encrypted") {
			t.Errorf("Dial without the passphrase: %v, want an error saying the key is encrypted", err)
		}
		cfg.KeyPassphrase = "wrong"
		if _, err := ssh.Dial(t.Context(), cfg); err == nil || !strings.Contains(err.Error(), "wrong passphrase") {
			t.Errorf("Dial with a wrong passphrase: %v, want an error saying so", err)
		}
	})

	t.Run("authenticates with keys from ssh-agent", func(t *testing.T) {
		_, private, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		signer, err := xssh.NewSignerFromKey(private)
		if err != nil {
			t.Fatal(err)
		}
		s := startSSHD(t, signer.PublicKey())
		socket := startAgent(t, agent.AddedKey{PrivateKey: private})
		c := dial(t, ssh.Config{Address: s.addr, User: s.user, AgentSocket: socket, KnownHostsFile: s.knownHosts(t)})
		if _, err := c.Run(t.Context(), ssh.Command{Args: []string{"true"}}); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("refuses a config without credentials or known_hosts", func(t *testing.T) {
		for _, cfg := range []ssh.Config{
			{User: "root", KeyFile: "k", KnownHostsFile: "kh"},
			{Address: "127.0.0.1", KeyFile: "k", KnownHostsFile: "kh"},
			{Address: "127.0.0.1", User: "root", KnownHostsFile: "kh"},
			{Address: "127.0.0.1", User: "root", KeyFile: "k"},
		} {
			if _, err := ssh.Dial(t.Context(), cfg); err == nil {
				t.Errorf("Dial(%+v) succeeded", cfg)
			}
		}
	})
}

func TestDialTimeout(t *testing.T) {
	t.Parallel()
	// A listener that accepts and never speaks SSH.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	go func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { _ = conn.Close() })
		}
	}()
	_, keyFile := newClientKey(t, "")
	cfg := ssh.Config{Address: l.Addr().String(), User: "root", KeyFile: keyFile, KnownHostsFile: filepath.Join(t.TempDir(), "kh")}

	t.Run("gives up after ConnectTimeout", func(t *testing.T) {
		cfg := cfg
		cfg.ConnectTimeout = 300 * time.Millisecond
		start := time.Now()
		if _, err := ssh.Dial(t.Context(), cfg); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Dial: %v, want context.DeadlineExceeded", err)
		}
		if elapsed := time.Since(start); elapsed > 3*time.Second {
			t.Errorf("Dial returned after %v", elapsed)
		}
	})

	t.Run("gives up when the context ends", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
		defer cancel()
		start := time.Now()
		if _, err := ssh.Dial(ctx, cfg); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Dial: %v, want context.DeadlineExceeded", err)
		}
		if elapsed := time.Since(start); elapsed > 3*time.Second {
			t.Errorf("Dial returned after %v", elapsed)
		}
	})
}

// startAgent serves an in-process ssh-agent holding keys on a unix socket.
func startAgent(t *testing.T, keys ...agent.AddedKey) string {
	t.Helper()
	keyring := agent.NewKeyring()
	for _, k := range keys {
		if err := keyring.Add(k); err != nil {
			t.Fatal(err)
		}
	}
	socket := filepath.Join(t.TempDir(), "agent.sock")
	l, err := net.Listen("unix", socket)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	go func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				_ = agent.ServeAgent(keyring, conn)
			}()
		}
	}()
	return socket
}

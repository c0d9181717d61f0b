package ssh_test

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	xssh "golang.org/x/crypto/ssh"

	"github.com/gitsync-io/gitsync/pkg/bootstrap/ssh"
	"github.com/gitsync-io/gitsync/pkg/knownhosts"
)

// Host key checking itself is package knownhosts' (and tested there); these tests prove Dial
// uses it against a real sshd, and what its errors add.
func TestDialHostKeys(t *testing.T) {
	t.Parallel()

	t.Run("refuses an unknown host, naming it, its key fingerprint and --ssh-accept-new", func(t *testing.T) {
		h := newTestHost(t)
		cfg := h.cfg
		cfg.KnownHostsFile = filepath.Join(t.TempDir(), "known_hosts") // missing
		_, err := ssh.Dial(t.Context(), cfg)
		var unknown *knownhosts.UnknownHostError
		if !errors.As(err, &unknown) {
			t.Fatalf("Dial: %v, want *knownhosts.UnknownHostError", err)
		}
		t.Log(err)
		if !slices.Contains(h.fingerprints(), unknown.Fingerprint()) {
			t.Errorf("fingerprint %s is none of the host's %v", unknown.Fingerprint(), h.fingerprints())
		}
		for _, want := range []string{cfg.User + "@" + cfg.Address + ": ", "[127.0.0.1]:", unknown.Fingerprint(), "--ssh-accept-new", cfg.KnownHostsFile} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not contain %q", err, want)
			}
		}
		if _, err := os.Stat(cfg.KnownHostsFile); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("known_hosts was written without AcceptNew: %v", err)
		}
	})

	t.Run("with AcceptNew records the key, and the next dial trusts it", func(t *testing.T) {
		h := newTestHost(t)
		cfg := h.cfg
		cfg.KnownHostsFile = filepath.Join(t.TempDir(), ".ssh", "known_hosts")
		cfg.AcceptNew = true
		c := dial(t, cfg)
		if _, err := c.Run(t.Context(), ssh.Command{Args: []string{"true"}}); err != nil {
			t.Fatal(err)
		}
		data, _ := os.ReadFile(cfg.KnownHostsFile)
		if lines := strings.Split(strings.TrimSpace(string(data)), "\n"); len(lines) != 1 || !strings.HasPrefix(lines[0], "[127.0.0.1]:") {
			t.Errorf("known_hosts = %q, want one line for [127.0.0.1]:port", data)
		}

		cfg.AcceptNew = false
		dial(t, cfg)
		if after, _ := os.ReadFile(cfg.KnownHostsFile); string(after) != string(data) {
			t.Errorf("the second dial changed known_hosts:\n%s", after)
		}
	})

	t.Run("refuses a changed host key even with AcceptNew, naming the host", func(t *testing.T) {
		h := newTestHost(t)
		cfg := h.cfg
		cfg.AcceptNew = true
		before, _ := os.ReadFile(cfg.KnownHostsFile)
		h.restartWithNewHostKeys()

		_, err := ssh.Dial(t.Context(), cfg)
		var changed *knownhosts.ChangedKeyError
		if !errors.As(err, &changed) {
			t.Fatalf("Dial: %v, want *knownhosts.ChangedKeyError", err)
		}
		t.Log(err)
		for _, want := range []string{cfg.User + "@" + cfg.Address + ": ", "CHANGED", "man-in-the-middle", cfg.KnownHostsFile + ":", "ssh-keygen -R"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not contain %q", err, want)
			}
		}
		if after, _ := os.ReadFile(cfg.KnownHostsFile); string(after) != string(before) {
			t.Errorf("known_hosts changed:\n%s", after)
		}
	})

	// x/crypto asks for ECDSA first, OpenSSH for ed25519, and OpenSSH refuses SHA-1 RSA
	// signatures: Dial must ask OpenSSH's sshd for the key types known_hosts holds.
	for _, keyType := range []string{xssh.KeyAlgoED25519, xssh.KeyAlgoRSA} {
		t.Run("connects to a host known only by its "+keyType+" key", func(t *testing.T) {
			h := newTestHost(t)
			cfg := h.cfg
			cfg.KnownHostsFile = h.knownHosts(t, keyType)
			dial(t, cfg)
		})
	}
}

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
)

func TestDialHostKeys(t *testing.T) {
	t.Parallel()

	t.Run("refuses an unknown host, naming it, its key fingerprint and the fix", func(t *testing.T) {
		h := newTestHost(t)
		cfg := h.cfg
		cfg.KnownHostsFile = filepath.Join(t.TempDir(), "known_hosts") // missing
		_, err := ssh.Dial(t.Context(), cfg)
		var unknown *ssh.UnknownHostError
		if !errors.As(err, &unknown) {
			t.Fatalf("Dial: %v, want *ssh.UnknownHostError", err)
		}
		t.Log(err)
		if !slices.Contains(h.fingerprints(), unknown.Fingerprint()) {
			t.Errorf("fingerprint %s is none of the host's %v", unknown.Fingerprint(), h.fingerprints())
		}
		for _, want := range []string{"[127.0.0.1]:", unknown.Fingerprint(), "--ssh-accept-new", cfg.KnownHostsFile} {
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
		info, err := os.Stat(cfg.KnownHostsFile)
		if err != nil {
			t.Fatal(err)
		}
		if info.Mode().Perm() != 0o600 {
			t.Errorf("known_hosts mode %v, want 0600", info.Mode().Perm())
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

	t.Run("appends to a known_hosts file without a final newline", func(t *testing.T) {
		h := newTestHost(t)
		cfg := h.cfg
		cfg.KnownHostsFile = filepath.Join(t.TempDir(), "known_hosts")
		writeFile(t, cfg.KnownHostsFile, []byte("# no newline"), 0o600)
		cfg.AcceptNew = true
		dial(t, cfg)
		cfg.AcceptNew = false
		dial(t, cfg)
	})

	t.Run("refuses a changed host key even with AcceptNew", func(t *testing.T) {
		h := newTestHost(t)
		cfg := h.cfg
		cfg.AcceptNew = true
		before, _ := os.ReadFile(cfg.KnownHostsFile)
		h.restartWithNewHostKeys()

		_, err := ssh.Dial(t.Context(), cfg)
		var changed *ssh.HostKeyChangedError
		if !errors.As(err, &changed) {
			t.Fatalf("Dial: %v, want *ssh.HostKeyChangedError", err)
		}
		t.Log(err)
		for _, want := range []string{"CHANGED", "man-in-the-middle", cfg.KnownHostsFile + ":", changed.Fingerprint(), "ssh-keygen -R"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not contain %q", err, want)
			}
		}
		if after, _ := os.ReadFile(cfg.KnownHostsFile); string(after) != string(before) {
			t.Errorf("known_hosts changed:\n%s", after)
		}
	})

	// x/crypto asks for ECDSA first, OpenSSH for ed25519: the client must
	// ask for the key types known_hosts holds, or the host looks changed.
	for _, keyType := range []string{xssh.KeyAlgoED25519, xssh.KeyAlgoECDSA256, xssh.KeyAlgoRSA} {
		t.Run("connects to a host known only by its "+keyType+" key", func(t *testing.T) {
			h := newTestHost(t)
			cfg := h.cfg
			cfg.KnownHostsFile = h.knownHosts(t, keyType)
			dial(t, cfg)
		})
	}

	t.Run("refuses a host whose key is marked @revoked", func(t *testing.T) {
		h := newTestHost(t)
		cfg := h.cfg
		data, _ := os.ReadFile(cfg.KnownHostsFile)
		var revoked []string
		for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
			revoked = append(revoked, "@revoked "+line)
		}
		writeFile(t, cfg.KnownHostsFile, []byte(string(data)+strings.Join(revoked, "\n")+"\n"), 0o600)
		_, err := ssh.Dial(t.Context(), cfg)
		var changed *ssh.HostKeyChangedError
		if !errors.As(err, &changed) || !changed.Revoked || !strings.Contains(err.Error(), "@revoked") {
			t.Fatalf("Dial: %v, want a *ssh.HostKeyChangedError for a revoked key", err)
		}
	})
}

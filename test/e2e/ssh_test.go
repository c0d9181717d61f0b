package e2e

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/gitsync-io/gitsync/test/gitserver"
)

// TestSyncOverSSH fetches through an SSH server running the real
// git-upload-pack, with host keys verified against known_hosts.
func TestSyncOverSSH(t *testing.T) {
	f := newFixture(t)
	f.repo.Commit(t, "first", baseApp())
	srv := gitserver.StartSSH(t, f.repo.Root())
	sync := func(knownHosts string, extra ...string) result {
		args := append([]string{"sync", "--repo", srv.URL + "/" + f.repo.Name(), "--path", "app", "--name", "e2e",
			"--ssh-key", srv.ClientKeyFile, "--ssh-known-hosts", knownHosts,
			"--kubeconfig", f.api.Kubeconfig, "--namespace", f.ns, "--cache-dir", t.TempDir()}, extra...)
		return gitsync(t, nil, args...)
	}

	t.Run("syncs from a host in known_hosts", func(t *testing.T) {
		if r := sync(srv.KnownHostsFile(t)); r.Code != 0 {
			t.Fatalf("sync failed:\n%s", r)
		}
		if f.get(configMaps, "a") == nil {
			t.Error("ConfigMap a was not applied")
		}
	})

	t.Run("refuses a host that is not in known_hosts", func(t *testing.T) {
		empty := filepath.Join(t.TempDir(), "known_hosts")
		r := sync(empty)
		if r.Code == 0 {
			t.Fatalf("sync succeeded with an unknown host:\n%s", r)
		}
		oneLine(t, r, "host key unknown", "known_hosts")
	})

	t.Run("records an unknown host with --ssh-accept-new, then verifies it", func(t *testing.T) {
		known := filepath.Join(t.TempDir(), "known_hosts")
		if r := sync(known, "--ssh-accept-new"); r.Code != 0 {
			t.Fatalf("sync with --ssh-accept-new failed:\n%s", r)
		}
		if data, err := os.ReadFile(known); err != nil || len(data) == 0 {
			t.Fatalf("known_hosts was not written: %v", err)
		}
		if r := sync(known); r.Code != 0 {
			t.Fatalf("sync against the recorded key failed:\n%s", r)
		}
	})

	t.Run("refuses a changed host key even with --ssh-accept-new", func(t *testing.T) {
		known := srv.KnownHostsFile(t)
		srv.RotateHostKeys(t)
		r := sync(known, "--ssh-accept-new")
		if r.Code == 0 {
			t.Fatalf("sync succeeded although the host key changed:\n%s", r)
		}
		oneLine(t, r, "changed")
	})
}

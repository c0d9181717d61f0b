package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gitsync-io/gitsync/test/gitserver"
)

// TestVerifiedCommits syncs with --verify-keys: a revision signed by a
// trusted key is applied; one unsigned or signed by another key fails naming
// the commit, the signer and the reason, and leaves the cluster at the last
// verified revision with nothing pruned. gitsync run stalls on it without
// writing, and applies the next signed revision.
func TestVerifiedCommits(t *testing.T) {
	alice := gitserver.NewGPGSigner(t, "Alice", "alice@example.com", gitserver.GPGOptions{})
	bob := gitserver.NewSSHSigner(t, "Bob", "bob@example.com", "")
	mallory := gitserver.NewSSHSigner(t, "Mallory", "mallory@example.com", "")
	past := gitserver.NewSSHSigner(t, "Pat", "pat@example.com", `valid-before="20200101Z"`)
	keys := t.TempDir()
	for name, key := range map[string]string{"alice.asc": alice.PublicKey, "allowed_signers": bob.PublicKey + "\n" + past.PublicKey} {
		if err := os.WriteFile(filepath.Join(keys, name), []byte(key+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}

	f := newFixture(t)
	f.repo.SignedCommit(t, alice, "first", baseApp())
	good := f.repo.Head(t)
	r := f.mustSync("--verify-keys", keys)
	if !strings.Contains(r.Stdout, "revision "+short(good)+" is signed by Alice <alice@example.com> (openpgp key "+alice.Fingerprint+")") {
		t.Errorf("sync does not say who signed %s:\n%s", short(good), r)
	}

	// Each refused commit changes a and removes b: neither may happen.
	change := map[string]string{"app/a.yaml": configMap("a", "changed"), "app/b.yaml": ""}
	for _, tc := range []struct {
		name   string
		signer *gitserver.Signer
		tamper bool
		want   string
	}{
		{"unsigned", gitserver.Unsigned("Alice", "alice@example.com"), false, "is not signed"},
		{"signed by an untrusted key", mallory, false, "is signed by SSH key " + mallory.Fingerprint + ", which is not trusted"},
		{"whose signature does not match", bob, true, "has a bad SSH signature by bob@example.com"},
		{"signed by a key valid only before it", past, false, "is signed by SSH key " + past.Fingerprint + ", which is trusted but expired at 2020-01-01"},
	} {
		t.Run("refuses a commit "+tc.name, func(t *testing.T) {
			f.repo.Reset(t, good)
			bad := f.repo.SignedCommit(t, tc.signer, tc.name, change)
			if tc.tamper {
				bad = f.repo.TamperHead(t)
			}
			r := f.sync("--verify-keys", keys)
			if r.Code == 0 {
				t.Fatalf("sync succeeded:\n%s", r)
			}
			oneLine(t, r, "commit "+short(bad), tc.want)
			f.expectLastGoodState(good)
			if st := f.status(); st["lastAttemptedRevision"] != bad {
				t.Errorf("status = %v; want the refused %s as the last attempted revision", st, bad)
			}
		})
	}

	t.Run("run stalls on a refused commit and applies the next signed one", func(t *testing.T) {
		f.repo.Reset(t, good)
		bad := f.repo.SignedCommit(t, mallory, "by mallory", change)
		p := startGitsync(t, []string{"GITSYNC_PASSWORD=" + gitPassword}, "run", "--interval", "300ms", "--log-format", "json",
			"--repo", f.repoURL(), "--path", "app", "--name", "e2e", "--username", gitUser, "--verify-keys", keys,
			"--kubeconfig", f.api.Kubeconfig, "--namespace", f.ns, "--cache-dir", f.cache, "--timeout", "30s")
		p.eventually("the refused revision stalls", 30*time.Second, func() bool {
			st := f.statusOrNil()
			return st != nil && st["lastAttemptedRevision"] == bad && st["stalled"] == true && st["lastAppliedRevision"] == good
		})
		time.Sleep(time.Second) // let the stalled status be written
		before := len(f.api.WriteLog())
		time.Sleep(time.Second) // three more intervals
		if writes := f.api.WriteLog()[before:]; len(writes) != 0 {
			t.Errorf("the loop wrote %v while stalled on a refused revision, want nothing", writes)
		}
		f.expectLastGoodState(good)

		signed := f.repo.SignedCommit(t, bob, "by bob", change)
		p.eventually("the signed revision is applied", 30*time.Second, func() bool {
			st := f.statusOrNil()
			return st != nil && st["lastAppliedRevision"] == signed && strings.HasPrefix(fmt.Sprint(st["signedBy"]), "bob@example.com (ssh key")
		})
		if data(f.get(configMaps, "a")) != "changed" || f.get(configMaps, "b") != nil {
			t.Errorf("the signed revision's change was not applied in full")
		}
		if err := p.stop(); err != nil {
			t.Errorf("gitsync run exited with %v after SIGTERM, want 0; logs:\n%s", err, p.logs.String())
		}
	})

	t.Run("run --config follows the newest signed release tag", func(t *testing.T) {
		f := newFixture(t)
		config := f.writeConfig("300ms", "- name: tags\n  source: repo\n  path: app\n  namespace: "+f.ns+"\n  timeout: 30s")
		text, err := os.ReadFile(config)
		if err != nil {
			t.Fatal(err)
		}
		verify := "  ref: {semver: \">=1.0.0 <2\"}\n  verify: {mode: tag, keys: " + keys + "}\n"
		if err := os.WriteFile(config, []byte(strings.Replace(string(text), "  ref: main\n", verify, 1)), 0o600); err != nil {
			t.Fatal(err)
		}
		applied := func(rev string) func() bool {
			return func() bool { st := f.statusOf("tags"); return st != nil && st["lastAppliedRevision"] == rev }
		}
		v1 := f.repo.Commit(t, "v1", baseApp())
		f.repo.SignedTag(t, alice, "v1.0.0", "release 1.0.0")
		f.repo.Commit(t, "not released", map[string]string{"app/a.yaml": configMap("a", "unreleased")})
		p, _ := f.runConfig(config)
		p.eventually("the signed tag v1.0.0 is applied", 30*time.Second, applied(v1))

		unsigned := f.repo.Commit(t, "v1.1", map[string]string{"app/a.yaml": configMap("a", "v1.1"), "app/b.yaml": ""})
		f.repo.AnnotatedTag(t, "v1.1.0", "release 1.1.0, unsigned")
		p.eventually("the unsigned tag v1.1.0 stalls", 30*time.Second, func() bool {
			st := f.statusOf("tags")
			return st != nil && st["lastAttemptedRevision"] == unsigned && st["stalled"] == true &&
				strings.Contains(fmt.Sprint(st["error"]), "tag v1.1.0 is not signed")
		})
		if data(f.get(configMaps, "a")) != "one" || f.get(configMaps, "b") == nil {
			t.Errorf("the unsigned tag's change reached the cluster")
		}

		v12 := f.repo.Commit(t, "v1.2", map[string]string{"app/a.yaml": configMap("a", "v1.2")})
		f.repo.SignedTag(t, bob, "v1.2.0", "release 1.2.0")
		p.eventually("the signed tag v1.2.0 is applied", 30*time.Second, applied(v12))
		if data(f.get(configMaps, "a")) != "v1.2" {
			t.Errorf("ConfigMap a = %q after v1.2.0, want v1.2", data(f.get(configMaps, "a")))
		}
		if err := p.stop(); err != nil {
			t.Errorf("gitsync run exited with %v after SIGTERM, want 0; logs:\n%s", err, p.logs.String())
		}
	})
}

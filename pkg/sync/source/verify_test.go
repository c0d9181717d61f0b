package source_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gitsync-io/gitsync/pkg/sync/source"
	"github.com/gitsync-io/gitsync/test/gitserver"
)

// writeKeys writes the public keys of signers as a verifier's key files:
// OpenPGP keys into one armored file, SSH keys into an allowed_signers file.
func writeKeys(t testing.TB, signers ...*gitserver.Signer) string {
	t.Helper()
	dir := t.TempDir()
	var pgp, ssh []string
	for _, s := range signers {
		if strings.HasPrefix(s.PublicKey, "-----BEGIN PGP") {
			pgp = append(pgp, s.PublicKey)
		} else {
			ssh = append(ssh, s.PublicKey)
		}
	}
	for name, keys := range map[string][]string{"keys.asc": pgp, "allowed_signers": ssh} {
		if len(keys) > 0 {
			if err := os.WriteFile(filepath.Join(dir, name), []byte(strings.Join(keys, "\n")+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
	return dir
}

// TestVerifyHead fetches commits signed every way a verification can go,
// and checks that gitsync accepts exactly what git verify-commit accepts,
// with the same trusted keys.
func TestVerifyHead(t *testing.T) {
	alice := gitserver.NewGPGSigner(t, "Alice", "alice@example.com", gitserver.GPGOptions{})
	mallory := gitserver.NewGPGSigner(t, "Mallory", "mallory@example.com", gitserver.GPGOptions{})
	revoked := gitserver.NewGPGSigner(t, "Rita", "rita@example.com", gitserver.GPGOptions{})
	expired := gitserver.NewGPGSigner(t, "Ed", "ed@example.com", gitserver.GPGOptions{At: "20200101T000000", Expire: "1d"})
	bob := gitserver.NewSSHSigner(t, "Bob", "bob@example.com", `namespaces="git"`)
	eve := gitserver.NewSSHSigner(t, "Eve", "eve@example.com", "")
	past := gitserver.NewSSHSigner(t, "Pat", "pat@example.com", `valid-before="20200101Z"`)
	otherNS := gitserver.NewSSHSigner(t, "Nia", "nia@example.com", `namespaces="file"`)

	for _, tc := range []struct {
		name    string
		commit  func(testing.TB, *gitserver.Repo) string
		trusted []*gitserver.Signer
		signer  string // the Signature's Signer when it verifies
		wantErr string // else the error's text holds this
	}{
		{"OpenPGP by a trusted key", signedBy(alice), []*gitserver.Signer{alice, bob}, "Alice <alice@example.com>", ""},
		{"SSH by a trusted key", signedBy(bob), []*gitserver.Signer{alice, bob}, "bob@example.com", ""},
		{"unsigned", signedBy(gitserver.Unsigned("Alice", "alice@example.com")), []*gitserver.Signer{alice, bob}, "", "is not signed"},
		{"OpenPGP by an unknown key", signedBy(mallory), []*gitserver.Signer{alice, bob}, "", "is signed by OpenPGP key " + mallory.Fingerprint + ", which is not trusted"},
		{"SSH by an unknown key", signedBy(eve), []*gitserver.Signer{alice, bob}, "", "is signed by SSH key " + eve.Fingerprint + ", which is not trusted"},
		{"OpenPGP by a revoked key", func(t testing.TB, r *gitserver.Repo) string {
			sha := signedBy(revoked)(t, r)
			revoked.Revoke(t)
			return sha
		}, []*gitserver.Signer{revoked}, "", "which is revoked"},
		{"OpenPGP by an expired key", signedBy(expired), []*gitserver.Signer{expired}, "", "which has expired"},
		{"SSH by a key valid before the commit only", signedBy(past), []*gitserver.Signer{past}, "", "which is trusted but expired at 2020-01-01"},
		{"SSH by a key trusted for another namespace", signedBy(otherNS), []*gitserver.Signer{otherNS}, "", `only for the namespaces "file"`},
		{"OpenPGP, tampered", func(t testing.TB, r *gitserver.Repo) string {
			signedBy(alice)(t, r)
			return r.TamperHead(t)
		}, []*gitserver.Signer{alice}, "", "has a bad OpenPGP signature"},
		{"SSH, tampered", func(t testing.TB, r *gitserver.Repo) string {
			signedBy(bob)(t, r)
			return r.TamperHead(t)
		}, []*gitserver.Signer{bob}, "", "has a bad SSH signature by bob@example.com"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			repo := gitserver.NewRepo(t)
			sha := tc.commit(t, repo)
			gitErr := repo.GitVerify(t, sha, tc.trusted...)
			src := newSource(t, source.Options{URL: repo.URL(), Ref: "main",
				Verify: &source.Verify{Mode: source.VerifyHead, Keys: []string{writeKeys(t, tc.trusted...)}}})
			art, err := src.Fetch(context.Background())
			if tc.wantErr == "" {
				if err != nil || gitErr != nil {
					t.Fatalf("Fetch: %v; git: %v; want both to accept", err, gitErr)
				}
				if art.Signature == nil || art.Signature.Signer != tc.signer || art.Revision != sha {
					t.Fatalf("Fetch = %+v, signed %+v; want %s signed by %s", art, art.Signature, sha, tc.signer)
				}
				return
			}
			if gitErr == nil {
				t.Errorf("git verify-commit accepts %s; want it refused as gitsync refuses it", sha)
			}
			var srcErr *source.Error
			if !errors.As(err, &srcErr) || srcErr.Kind != source.Unverified || !srcErr.Terminal() {
				t.Fatalf("Fetch = %+v, %v; want a terminal Unverified *source.Error", art, err)
			}
			if !strings.Contains(err.Error(), tc.wantErr) || !strings.Contains(err.Error(), "commit "+sha[:12]) || srcErr.Revision != sha {
				t.Errorf("error %q (revision %q); want it to name commit %s and say %q", err, srcErr.Revision, sha[:12], tc.wantErr)
			}
			if art.Dir != "" {
				t.Errorf("an unverified revision has the snapshot %s", art.Dir)
			}
			t.Logf("gitsync: %v\ngit: %v", err, gitErr)
		})
	}
}

func signedBy(s *gitserver.Signer) func(testing.TB, *gitserver.Repo) string {
	return func(t testing.TB, r *gitserver.Repo) string {
		return r.SignedCommit(t, s, "signed by "+s.Name, map[string]string{"app.yaml": "by: " + s.Name + "\n"})
	}
}

// TestVerifyTag follows a semver range to the newest tag and checks the
// annotated tag's signature, as git verify-tag does.
func TestVerifyTag(t *testing.T) {
	alice := gitserver.NewGPGSigner(t, "Alice", "alice@example.com", gitserver.GPGOptions{})
	bob := gitserver.NewSSHSigner(t, "Bob", "bob@example.com", "")
	keys := writeKeys(t, alice, bob)
	repo := gitserver.NewRepo(t)
	fetchTag := func(t *testing.T, semver string) (source.Artifact, error) {
		src := newSource(t, source.Options{URL: repo.URL(), SemVer: semver, Verify: &source.Verify{Mode: source.VerifyTag, Keys: []string{keys}}})
		return src.Fetch(context.Background())
	}

	for _, tc := range []struct {
		name, tag string
		make      func(name string)
		signer    string
		wantErr   string
	}{
		{"OpenPGP-signed tag", "v1.0.0", func(n string) { repo.SignedTag(t, alice, n, "release") }, "Alice <alice@example.com>", ""},
		{"SSH-signed tag", "v1.1.0", func(n string) { repo.SignedTag(t, bob, n, "release") }, "bob@example.com", ""},
		{"unsigned annotated tag", "v1.2.0", func(n string) { repo.AnnotatedTag(t, n, "release") }, "", "tag v1.2.0 is not signed"},
		{"lightweight tag", "v1.3.0", func(n string) { repo.Tag(t, n) }, "", "tag v1.3.0 is not an annotated tag"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// A signed commit does not make an unsigned tag of it trusted.
			sha := repo.SignedCommit(t, alice, tc.name, map[string]string{"app.yaml": tc.tag + "\n"})
			tc.make(tc.tag)
			gitErr := repo.GitVerify(t, tc.tag, alice, bob)
			art, err := fetchTag(t, ">=1.0.0 <2")
			if tc.wantErr == "" {
				if err != nil || gitErr != nil {
					t.Fatalf("Fetch: %v; git verify-tag: %v; want both to accept", err, gitErr)
				}
				if art.Ref != "refs/tags/"+tc.tag || art.Revision != sha || art.Signature.Signer != tc.signer {
					t.Fatalf("Fetch = %+v, signed %+v; want tag %s at %s signed by %s", art, art.Signature, tc.tag, sha, tc.signer)
				}
				return
			}
			if tc.name != "lightweight tag" && gitErr == nil { // git verify-tag cannot be asked about a lightweight tag
				t.Errorf("git verify-tag accepts %s; want it refused as gitsync refuses it", tc.tag)
			}
			if !errors.Is(err, source.Unverified) || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("Fetch = %+v, %v; want Unverified: %q", art, err, tc.wantErr)
			}
		})
	}
	// A tag named in full, not a range.
	src := newSource(t, source.Options{URL: repo.URL(), Ref: "refs/tags/v1.1.0", Verify: &source.Verify{Mode: source.VerifyTag, Keys: []string{keys}}})
	if art := fetch(t, src); art.Ref != "refs/tags/v1.1.0" || art.Signature == nil || art.Signature.Signer != "bob@example.com" {
		t.Errorf("ref refs/tags/v1.1.0: %+v, signed %+v", art, art.Signature)
	}
	if _, err := fetchTag(t, ">=3"); !errors.Is(err, source.RefNotFound) || !strings.Contains(err.Error(), `no tag on the remote is a version in the range ">=3"`) {
		t.Errorf("a range no tag is in: %v", err)
	}
}

// TestVerifyRefusedRevisionIsNotFetchedAgain checks what a loop polling a
// refused revision costs (one ls-remote, no download), that trusting the key
// later lets the same revision through, and that a new Source sharing the
// cache verifies a kept snapshot without downloading it.
func TestVerifyRefusedRevisionIsNotFetchedAgain(t *testing.T) {
	alice := gitserver.NewSSHSigner(t, "Alice", "alice@example.com", "")
	bob := gitserver.NewSSHSigner(t, "Bob", "bob@example.com", "")
	repo := gitserver.NewRepo(t)
	srv := gitserver.StartHTTP(t, repo.Root(), gitserver.Options{})
	sha := repo.SignedCommit(t, bob, "by bob", map[string]string{"app.yaml": "bob\n"})
	keys := filepath.Join(t.TempDir(), "allowed_signers")
	if err := os.WriteFile(keys, []byte(alice.PublicKey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	opts := source.Options{URL: srv.URL + "/" + repo.Name(), CacheDir: t.TempDir(), Verify: &source.Verify{Mode: source.VerifyHead, Keys: []string{keys}}}
	src := newSource(t, opts)

	if err := fetchErr(t, src); err.Kind != source.Unverified || err.Revision != sha {
		t.Fatalf("first fetch: %v (revision %s); want %s refused", err, err.Revision, sha)
	}
	before := srv.Requests()
	if err := fetchErr(t, src); err.Kind != source.Unverified {
		t.Fatalf("second fetch: %v; want it refused again", err)
	}
	if got := srv.Requests() - before; got != 1 {
		t.Errorf("refusing the same revision again took %d requests; want 1 (the ls-remote)", got)
	}

	// Bob's key is trusted now: the same revision is fetched and published.
	if err := os.WriteFile(keys, []byte(alice.PublicKey+"\n"+bob.PublicKey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	art := fetch(t, src)
	if art.Revision != sha || art.Cached || art.Signature.Signer != "bob@example.com" {
		t.Fatalf("after trusting bob: %+v, signed %+v", art, art.Signature)
	}

	// A new process verifies the kept snapshot from its kept commit.
	before = srv.Requests()
	again := fetch(t, newSource(t, opts))
	if !again.Cached || again.Dir != art.Dir || again.Signature.Signer != "bob@example.com" || srv.Requests()-before != 2 {
		t.Errorf("a new Source: %+v, signed %+v, %d requests; want the kept snapshot, verified, after one ls-refs (the server's capabilities, the refs)", again, again.Signature, srv.Requests()-before)
	}

	// Bob's key is no longer trusted: the kept snapshot is refused too.
	if err := os.WriteFile(keys, []byte(alice.PublicKey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := fetchErr(t, src); err.Kind != source.Unverified {
		t.Fatalf("after distrusting bob: %v; want the kept snapshot refused", err)
	}
}

func TestVerifyOptions(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	bob := gitserver.NewSSHSigner(t, "Bob", "bob@example.com", "")
	good := write("good", bob.PublicKey+"\n")
	for _, tc := range []struct {
		name    string
		opts    source.Options
		wantErr string
	}{
		{"no keys", source.Options{Verify: &source.Verify{Mode: source.VerifyHead}}, "Verify needs Keys"},
		{"unknown mode", source.Options{Verify: &source.Verify{Mode: "all", Keys: []string{good}}}, `Verify mode "all"`},
		{"tag mode on a branch", source.Options{Ref: "refs/heads/main", Verify: &source.Verify{Mode: source.VerifyTag, Keys: []string{good}}}, "needs a tag"},
		{"a missing key file", source.Options{Verify: &source.Verify{Mode: source.VerifyHead, Keys: []string{filepath.Join(dir, "nope")}}}, "no such file"},
		{"a bad allowed_signers line", source.Options{Verify: &source.Verify{Mode: source.VerifyHead, Keys: []string{write("bad", "# trusted\nbob@example.com ssh-ed25519 AAAAnotbase64\n")}}},
			"verify keys " + filepath.Join(dir, "bad") + ": line 2: the public key"},
		{"a cert-authority line", source.Options{Verify: &source.Verify{Mode: source.VerifyHead, Keys: []string{write("ca", "*@example.com cert-authority "+strings.SplitN(bob.PublicKey, " ", 2)[1]+"\n")}}},
			"cert-authority keys (signatures by SSH certificates) are not supported"},
		{"a bad range", source.Options{SemVer: ">>1"}, `SemVer ">>1"`},
		{"a ref and a range", source.Options{Ref: "main", SemVer: "1.x"}, "Ref and SemVer: give one"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.opts.URL, tc.opts.CacheDir = "https://git.example/repo.git", t.TempDir()
			_, err := source.New(tc.opts)
			if !errors.Is(err, source.InvalidOptions) || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("New: %v; want InvalidOptions saying %q", err, tc.wantErr)
			}
		})
	}
}

// TestVerifyKeysFromAMountedSecret reads keys the way the kubelet mounts a
// Secret: links to files in a hidden, timestamped directory.
func TestVerifyKeysFromAMountedSecret(t *testing.T) {
	alice := gitserver.NewGPGSigner(t, "Alice", "alice@example.com", gitserver.GPGOptions{})
	bob := gitserver.NewSSHSigner(t, "Bob", "bob@example.com", "")
	secret := t.TempDir()
	data := filepath.Join(secret, "..2026_12_06_10_00_00.000000001")
	if err := os.Mkdir(data, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, content := range map[string]string{"alice.asc": alice.PublicKey, "allowed_signers": bob.PublicKey} {
		if err := os.WriteFile(filepath.Join(data, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	must(t, os.Symlink(filepath.Base(data), filepath.Join(secret, "..data")))
	must(t, os.Symlink("..data/alice.asc", filepath.Join(secret, "alice.asc")))
	must(t, os.Symlink("..data/allowed_signers", filepath.Join(secret, "allowed_signers")))

	repo := gitserver.NewRepo(t)
	for _, signer := range []*gitserver.Signer{alice, bob} {
		sha := repo.SignedCommit(t, signer, "by "+signer.Name, nil)
		art := fetch(t, newSource(t, source.Options{URL: repo.URL(), Verify: &source.Verify{Mode: source.VerifyHead, Keys: []string{secret}}}))
		if art.Revision != sha || art.Signature == nil || !strings.Contains(art.Signature.Signer, signer.Email) {
			t.Errorf("signed by %s: %+v, signed %+v", signer.Name, art, art.Signature)
		}
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// BenchmarkVerify measures what verification adds to the fetch of a new
// revision of a 1000-file repository over HTTP. Each round commits a new
// signed revision and fetches it twice, with and without verification (in
// alternating order), so that each pair sees the same repository; it also
// times git verify-commit of the revision, keys imported beforehand. It
// reports medians over 15 rounds per signature type and iteration.
func BenchmarkVerify(b *testing.B) {
	alice := gitserver.NewGPGSigner(b, "Alice", "alice@example.com", gitserver.GPGOptions{})
	bob := gitserver.NewSSHSigner(b, "Bob", "bob@example.com", "")
	keys := writeKeys(b, alice, bob)
	repo := gitserver.NewRepo(b)
	files := map[string]string{}
	for i := range 1000 {
		files[fmt.Sprintf("apps/app%02d/cm%04d.yaml", i%40, i)] = fmt.Sprintf("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm%d\ndata:\n  key: value-%d\n", i, i)
	}
	repo.SignedCommit(b, alice, "1000 files", files)
	srv := gitserver.StartHTTP(b, repo.Root(), gitserver.Options{})
	gitVerify := repo.NewGitVerifier(b, alice, bob)
	const rounds = 15
	for _, signer := range []*gitserver.Signer{alice, bob} {
		kind := "ssh"
		if strings.HasPrefix(signer.PublicKey, "-----BEGIN PGP") {
			kind = "openpgp"
		}
		b.Run("signature="+kind, func(b *testing.B) {
			opts := source.Options{URL: srv.URL + "/" + repo.Name(), CacheDir: b.TempDir()}
			plain := newSource(b, opts)
			opts.CacheDir, opts.Verify = b.TempDir(), &source.Verify{Mode: source.VerifyHead, Keys: []string{keys}}
			verifying := newSource(b, opts)
			fetch(b, plain)
			fetch(b, verifying)
			timed := func(s *source.Source, sha string) time.Duration {
				start := time.Now()
				art := fetch(b, s)
				if art.Revision != sha || art.Cached || (art.Signature != nil) != (s == verifying) {
					b.Fatalf("fetch of %s: %+v", sha, art)
				}
				return time.Since(start)
			}
			var plains, added, peers []time.Duration
			for i := range b.N * rounds {
				sha := repo.SignedCommit(b, signer, "change", map[string]string{"apps/app00/cm0000.yaml": fmt.Sprintf("data: {n: \"%d\"}\n", i)})
				var p, v time.Duration
				if i%2 == 0 {
					p, v = timed(plain, sha), timed(verifying, sha)
				} else {
					v, p = timed(verifying, sha), timed(plain, sha)
				}
				plains, added = append(plains, p), append(added, v-p)
				start := time.Now()
				if err := gitVerify.Verify(sha); err != nil {
					b.Fatal(err)
				}
				peers = append(peers, time.Since(start))
			}
			b.ReportMetric(ms(median(plains)), "ms-fetch-p50")
			b.ReportMetric(ms(median(added)), "ms-added-by-verify-p50")
			b.ReportMetric(ms(median(peers)), "ms-git-verify-commit-p50")
		})
	}
}

func median(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

package gitserver

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// installGnuPG is the fix named when gpg is missing.
const installGnuPG = "apt-get install -y gnupg"

// Signer signs commits and tags as a developer's git does: with an OpenPGP
// key held by gpg, or with an SSH key (gpg.format=ssh).
type Signer struct {
	// Name and Email are the key's identity; commits it signs name it as
	// author and committer.
	Name, Email string
	// PublicKey is what a verifier trusts: an armored OpenPGP public key
	// block, or an allowed_signers line.
	PublicKey string
	// Fingerprint is the OpenPGP key's, or the SSH key's SHA256:... one.
	Fingerprint string

	gnupgHome string   // OpenPGP keys only
	config    []string // git -c options that make it sign
	env       []string // GIT_COMMITTER_DATE for a signer living in the past
}

// GPGOptions shape an OpenPGP key.
type GPGOptions struct {
	// Expire is gpg's expiry: "1y", "seconds=5"; default never.
	Expire string
	// At makes gpg, and git's commit dates, live at this time, in gpg's
	// --faked-system-time form (20200101T000000): a key that expired since
	// can then sign.
	At string
}

// NewGPGSigner makes an Ed25519 OpenPGP signing key in a GnuPG home of its
// own, whose agent is stopped when the test ends.
func NewGPGSigner(t testing.TB, name, email string, opts GPGOptions) *Signer {
	t.Helper()
	if _, err := exec.LookPath("gpg"); err != nil {
		t.Fatalf("gitserver: gpg is not installed: run `%s`", installGnuPG)
	}
	home, err := os.MkdirTemp("", "gnupg") // short: the agent's socket path is limited
	if err != nil {
		t.Fatal(err)
	}
	s := &Signer{Name: name, Email: email, gnupgHome: home}
	t.Cleanup(func() {
		_ = exec.Command("gpgconf", "--homedir", home, "--kill", "all").Run()
		os.RemoveAll(home)
	})
	program := filepath.Join(home, "gpg.sh")
	script := "#!/bin/sh\nexec gpg --homedir " + home + " --batch --pinentry-mode loopback --passphrase '' "
	if opts.At != "" {
		script += "--faked-system-time " + opts.At + "! "
		s.env = []string{"GIT_COMMITTER_DATE=" + opts.At[:8] + "T" + opts.At[9:] + "Z", "GIT_AUTHOR_DATE=" + opts.At[:8] + "T" + opts.At[9:] + "Z"}
	}
	if err := os.WriteFile(program, []byte(script+`"$@"`+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	expire := opts.Expire
	if expire == "" {
		expire = "never"
	}
	s.gpg(t, "--quick-gen-key", name+" <"+email+">", "ed25519", "sign", expire)
	for _, line := range strings.Split(s.gpg(t, "--list-keys", "--with-colons"), "\n") {
		if f := strings.Split(line, ":"); f[0] == "fpr" && s.Fingerprint == "" {
			s.Fingerprint = f[9]
		}
	}
	s.PublicKey = s.gpg(t, "--armor", "--export", s.Fingerprint)
	s.config = []string{"-c", "gpg.format=openpgp", "-c", "gpg.program=" + program, "-c", "user.signingkey=" + s.Fingerprint}
	return s
}

func (s *Signer) gpg(t testing.TB, args ...string) string {
	t.Helper()
	cmd := exec.Command(filepath.Join(s.gnupgHome, "gpg.sh"), args...)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("gitserver: gpg %s: %v: %s", strings.Join(args, " "), err, stderrOf(err))
	}
	return strings.TrimSpace(string(out))
}

// Revoke revokes the OpenPGP key with the certificate gpg made with it;
// PublicKey then carries the revocation.
func (s *Signer) Revoke(t testing.TB) {
	t.Helper()
	cert, err := os.ReadFile(filepath.Join(s.gnupgHome, "openpgp-revocs.d", s.Fingerprint+".rev"))
	if err != nil {
		t.Fatalf("gitserver: the revocation certificate: %v", err)
	}
	// gpg guards the certificate against an accidental import with a colon.
	cert = []byte(strings.Replace(string(cert), ":-----BEGIN", "-----BEGIN", 1))
	file := filepath.Join(s.gnupgHome, "revoke.asc")
	if err := os.WriteFile(file, cert, 0o600); err != nil {
		t.Fatal(err)
	}
	s.gpg(t, "--import", file)
	s.PublicKey = s.gpg(t, "--armor", "--export", s.Fingerprint)
}

// NewSSHSigner makes an Ed25519 SSH key; PublicKey is its allowed_signers
// line for email with options (such as `valid-before="20200101"`), if any.
func NewSSHSigner(t testing.TB, name, email, options string) *Signer {
	t.Helper()
	dir := t.TempDir()
	key := filepath.Join(dir, "id_ed25519")
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", email, "-f", key).CombinedOutput(); err != nil {
		t.Fatalf("gitserver: ssh-keygen: %v: %s (install it with `apt-get install -y openssh-client`)", err, out)
	}
	pub, err := os.ReadFile(key + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	fp, err := exec.Command("ssh-keygen", "-l", "-E", "sha256", "-f", key+".pub").Output()
	if err != nil {
		t.Fatalf("gitserver: ssh-keygen -l: %v", err)
	}
	line := strings.TrimSpace(email + " " + options + " " + strings.TrimSpace(string(pub)))
	return &Signer{Name: name, Email: email, PublicKey: strings.Join(strings.Fields(line), " "),
		Fingerprint: strings.Fields(string(fp))[1],
		config:      []string{"-c", "gpg.format=ssh", "-c", "user.signingkey=" + key}}
}

// SignedCommit is Commit, signed by s (nil: unsigned, by the signer's
// identity all the same).
func (r *Repo) SignedCommit(t testing.TB, s *Signer, msg string, files map[string]string) string {
	t.Helper()
	for path, content := range files {
		r.write(t, path, content)
	}
	git(t, r.work, "add", "--all")
	args := append(slices.Clone(s.config), "commit", "--quiet", "--allow-empty", "--message", msg)
	if s.config != nil {
		args = append(args, "--gpg-sign")
	}
	s.git(t, r.work, args...)
	r.push(t)
	return r.Head(t)
}

// SignedTag makes an annotated tag of the current commit signed by s, and
// pushes it.
func (r *Repo) SignedTag(t testing.TB, s *Signer, name, msg string) {
	t.Helper()
	s.git(t, r.work, append(slices.Clone(s.config), "tag", "--sign", "--message", msg, name)...)
	r.pushTag(t, name)
}

// Unsigned is a signer that does not sign: commits by it are plain.
func Unsigned(name, email string) *Signer { return &Signer{Name: name, Email: email} }

func (s *Signer) git(t testing.TB, dir string, args ...string) {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(append(os.Environ(), gitEnv()...), s.env...)
	cmd.Env = append(cmd.Env, "GIT_AUTHOR_NAME="+s.Name, "GIT_AUTHOR_EMAIL="+s.Email, "GIT_COMMITTER_NAME="+s.Name, "GIT_COMMITTER_EMAIL="+s.Email)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("gitserver: git %s: %v: %s", strings.Join(args, " "), err, out)
	}
}

// GitVerify runs git verify-commit (or verify-tag, for a tag name) on rev in
// the bare repository, trusting exactly the keys of trusted, as a developer
// would with gpg --import and gpg.ssh.allowedSignersFile. It returns nil
// when git accepts the signature, else git's output as the error.
func (r *Repo) GitVerify(t testing.TB, rev string, trusted ...*Signer) error {
	t.Helper()
	return r.NewGitVerifier(t, trusted...).Verify(rev)
}

// GitVerifier is git verify-commit with a set of trusted keys, imported
// once: GitVerify for many revisions.
type GitVerifier struct {
	repo              *Repo
	home, signersFile string
}

// NewGitVerifier imports the keys of trusted into a GnuPG home and an
// allowed_signers file of its own, removed when the test ends.
func (r *Repo) NewGitVerifier(t testing.TB, trusted ...*Signer) *GitVerifier {
	t.Helper()
	home, err := os.MkdirTemp("", "gnupg")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = exec.Command("gpgconf", "--homedir", home, "--kill", "all").Run()
		os.RemoveAll(home)
	})
	v := &GitVerifier{repo: r, home: home, signersFile: filepath.Join(home, "allowed_signers")}
	var lines []string
	for _, s := range trusted {
		if s.gnupgHome == "" {
			lines = append(lines, s.PublicKey)
			continue
		}
		cmd := exec.Command("gpg", "--homedir", home, "--batch", "--import")
		cmd.Stdin = strings.NewReader(s.PublicKey)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("gitserver: gpg --import: %v: %s", err, out)
		}
	}
	if err := os.WriteFile(v.signersFile, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return v
}

// Verify runs git verify-commit, or verify-tag when rev is not a SHA.
func (v *GitVerifier) Verify(rev string) error {
	verb := "verify-commit"
	if !isHex40(rev) {
		verb = "verify-tag"
	}
	cmd := exec.Command("git", "-c", "gpg.ssh.allowedSignersFile="+v.signersFile, verb, rev)
	cmd.Dir = v.repo.Dir()
	cmd.Env = append(append(os.Environ(), gitEnv()...), "GNUPGHOME="+v.home)
	if out, err := cmd.CombinedOutput(); err != nil {
		return &verifyError{out: strings.TrimSpace(string(out))}
	}
	return nil
}

type verifyError struct{ out string }

func (e *verifyError) Error() string { return "git refuses the signature: " + e.out }

func isHex40(s string) bool {
	if len(s) != 40 {
		return false
	}
	return strings.Trim(s, "0123456789abcdef") == ""
}

// TamperHead replaces the branch's head with a copy whose message differs
// but whose signature is the original's, as someone forging a signed commit
// would, and returns the copy's SHA.
func (r *Repo) TamperHead(t testing.TB) string {
	t.Helper()
	raw := git(t, r.Dir(), "cat-file", "commit", r.Head(t))
	cmd := exec.Command("git", "hash-object", "-t", "commit", "-w", "--stdin")
	cmd.Dir = r.Dir()
	cmd.Env = append(os.Environ(), gitEnv()...)
	cmd.Stdin = strings.NewReader(raw + "\ntampered\n")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("gitserver: hash-object: %v: %s", err, stderrOf(err))
	}
	sha := strings.TrimSpace(string(out))
	git(t, r.Dir(), "update-ref", "refs/heads/"+r.branch, sha)
	return sha
}

package source

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/Masterminds/semver/v3"
	"github.com/go-git/go-git/v5/plumbing"
)

// DefaultKeepSnapshots is how many snapshots of a repository pruning keeps
// when Options.KeepSnapshots is 0.
const DefaultKeepSnapshots = 3

// Options says which revision of which repository to fetch and where to keep
// its snapshots. New rejects options that cannot work, naming the field.
type Options struct {
	// URL is https://, http://, ssh://, scp-like user@host:path, file://, or a
	// local path (relative to the working directory when New is called).
	// Credentials in it are moved to Auth and never shown.
	URL string
	// Ref is a branch, a tag, a full reference name (refs/...) or a full
	// 40-hex commit SHA. Empty means the remote's default branch (HEAD).
	Ref string
	// SemVer, instead of Ref, follows the tag of the highest version in a
	// range, such as ">=1.2.0 <2" (Masterminds/semver syntax).
	SemVer string
	// Verify, if set, requires the revision to be signed by a trusted key.
	Verify *Verify
	// CacheDir holds the snapshots. Required.
	CacheDir string
	Auth     Auth
	// KeepSnapshots is how many of this repository's most recently used
	// snapshots survive pruning; 0 means DefaultKeepSnapshots.
	KeepSnapshots int
	// NoCheckout leaves Artifact.Dir empty: the snapshot's files are read
	// with Artifact.ReadFile, and written out as a directory only when
	// Artifact.Checkout is called. A render reads a snapshot without its
	// directory (render.Tree), and writing a directory of 10,000 files,
	// though most are links, is most of a fetch after a small commit.
	NoCheckout bool
}

// Auth holds the credentials for the remote. Only the fields of the URL's
// protocol are used.
type Auth struct {
	// Username and Password are HTTP basic auth; a token goes in Password.
	// Username defaults to "git". For SSH, Username is the login, which
	// defaults to the URL's user, then "git".
	Username, Password string
	// SSHKeyFile is a private key file, decrypted with SSHKeyPassphrase.
	SSHKeyFile, SSHKeyPassphrase string
	// SSHAgent signs with the keys of the agent at $SSH_AUTH_SOCK.
	SSHAgent bool
	// KnownHostsFile verifies SSH host keys; default ~/.ssh/known_hosts.
	KnownHostsFile string
	// AcceptNewHostKeys records the key of a host KnownHostsFile does not
	// list yet, and trusts it from then on. A changed key is always refused.
	AcceptNewHostKeys bool
}

// Artifact is one fetched revision.
type Artifact struct {
	URL string // the repository, without credentials
	// Ref is the reference fetched in full (refs/heads/main, refs/tags/v1),
	// or the commit SHA when one was asked for.
	Ref      string
	Revision string // the full commit SHA
	// Dir is a snapshot of the commit's tree, without .git: files are
	// read-only (0444, or 0555 if executable), symlinks are kept as links,
	// submodules are left out. It is never modified once published; pruning
	// removes it only once newer snapshots have replaced it. Empty with
	// Options.NoCheckout; see Checkout.
	Dir string
	// Cached means the snapshot already existed: the only network traffic
	// was the check of the remote's refs (none at all for a commit SHA).
	Cached bool
	// Blobs maps each file of Dir (repository-relative, slash-separated) to
	// its git mode and blob, "0100644 <sha1>": a file whose blob a reader has
	// seen before holds what it held then. Nil if the snapshot's record is
	// lost. It is shared: do not modify it.
	Blobs map[string]string
	// Signature is who signed the revision, when Options.Verify asked.
	Signature *Signature
}

// Checkout returns art.Dir, writing it first if it is not there
// (Options.NoCheckout). art is one of this Source's.
func (s *Source) Checkout(art Artifact) (string, error) {
	if art.Dir != "" {
		return art.Dir, nil
	}
	dir, err := s.snapshots.checkout(plumbing.NewHash(art.Revision), art.Blobs)
	if err != nil {
		return "", &Error{Op: "checkout", URL: s.remote.display, Kind: classify(err), Err: err}
	}
	return dir, nil
}

// ReadFile returns what the file name of art.Blobs holds (for a symbolic
// link, its target), from the blobs kept of the repository, as render.Tree's
// Read wants it. art is one of this Source's. A blob that is gone or damaged
// makes the next Fetch download the revision again.
func (s *Source) ReadFile(art Artifact, name string) ([]byte, error) {
	_, hash, ok := strings.Cut(art.Blobs[name], " ")
	if !ok || !plumbing.IsHash(hash) {
		return nil, fmt.Errorf("the snapshot of %s holds no file %q", art.Revision, name)
	}
	data, err := s.snapshots.store.read(plumbing.NewHash(hash))
	if err != nil {
		s.snapshots.forget(plumbing.NewHash(art.Revision))
		return nil, fmt.Errorf("read %q of the snapshot of %s: %w; the next fetch downloads it again", name, art.Revision, err)
	}
	return data, nil
}

// Source fetches snapshots of one repository's ref. It is safe for
// concurrent use; its fetches run one at a time.
type Source struct {
	remote       endpoint
	ref          string
	semver       *semver.Constraints
	verify       *Verify
	auth         Auth // with defaults applied and the URL's credentials moved in
	agentSocket  string
	snapshots    snapshots
	blobs        lastBlobs
	keep         int
	noCheckout   bool
	protocol     protocol     // the remote's wire protocol, as far as known (protocolv2.go)
	capabilities capabilities // what the server said it can do, in version 2 over HTTP
	stream       *sshStream   // git-upload-pack over SSH, open for the length of one Fetch
	mu           sync.Mutex
}

// New validates opts. Its errors are *Error of Kind InvalidOptions.
func New(opts Options) (*Source, error) {
	remote, err := parseEndpoint(opts.URL)
	if err != nil {
		return nil, &Error{Op: "new", URL: "(invalid URL)", Kind: InvalidOptions, Err: fmt.Errorf("URL %w", err)}
	}
	s := &Source{remote: remote, ref: opts.Ref, auth: opts.Auth, keep: opts.KeepSnapshots, noCheckout: opts.NoCheckout}
	if isCommitSHA(s.ref) {
		s.ref = strings.ToLower(s.ref)
	}
	if err := s.configure(opts); err != nil {
		return nil, &Error{Op: "new", URL: remote.display, Kind: InvalidOptions, Err: s.scrub(err)}
	}
	return s, nil
}

// URL is the repository's URL without credentials.
func (s *Source) URL() string { return s.remote.display }

func (s *Source) configure(opts Options) error {
	if err := validateRef(opts.Ref); err != nil {
		return err
	}
	if err := s.configureTrust(opts); err != nil {
		return err
	}
	if err := s.configureCache(opts.CacheDir); err != nil {
		return err
	}
	var err error
	s.auth, s.agentSocket, err = resolveAuth(opts.Auth, s.remote)
	return err
}

func (s *Source) configureCache(dir string) error {
	if dir == "" {
		return errors.New("CacheDir is required")
	}
	if s.keep < 0 {
		return errors.New("KeepSnapshots must not be negative")
	}
	if s.keep == 0 {
		s.keep = DefaultKeepSnapshots
	}
	abs, err := filepath.Abs(dir)
	s.snapshots = newSnapshots(abs, s.remote.display)
	return err
}

// configureTrust checks SemVer and Verify, and that the keys can be read.
func (s *Source) configureTrust(opts Options) error {
	if opts.SemVer != "" {
		if opts.Ref != "" {
			return errors.New("Ref and SemVer: give one, not both")
		}
		c, err := semver.NewConstraint(opts.SemVer)
		if err != nil {
			return fmt.Errorf("SemVer %q: %w", opts.SemVer, err)
		}
		s.semver = c
	}
	v := opts.Verify
	if v == nil {
		return nil
	}
	switch {
	case v.Mode == VerifyTag && opts.SemVer == "" && (opts.Ref == "" || isCommitSHA(opts.Ref) || strings.HasPrefix(opts.Ref, "refs/heads/")):
		return fmt.Errorf("Verify mode %q needs a tag: Ref naming a tag, or SemVer", v.Mode)
	case v.Mode != VerifyHead && v.Mode != VerifyTag:
		return fmt.Errorf("Verify mode %q: want %q or %q", v.Mode, VerifyHead, VerifyTag)
	case len(v.Keys) == 0:
		return errors.New("Verify needs Keys: files or directories of trusted OpenPGP and SSH keys")
	}
	if _, err := v.loadKeys(); err != nil {
		return err
	}
	s.verify = &Verify{Mode: v.Mode, Keys: slices.Clone(v.Keys)}
	return nil
}

func validateRef(ref string) error {
	if ref == "" || isCommitSHA(ref) {
		return nil
	}
	name := plumbing.ReferenceName(ref)
	if !strings.HasPrefix(ref, "refs/") {
		name = plumbing.NewBranchReferenceName(ref)
	}
	if name.Validate() != nil {
		return fmt.Errorf("Ref %q is not a valid branch, tag or reference name (a commit must be a full 40-hex SHA)", ref)
	}
	return nil
}

func isCommitSHA(ref string) bool {
	return len(ref) == 40 && plumbing.IsHash(ref)
}

// fail turns err into an *Error for op, classified and scrubbed of secrets.
// When the context ended, that is the cause the caller sees first.
func (s *Source) fail(ctx context.Context, op string, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil && !errors.Is(err, ctxErr) {
		err = fmt.Errorf("%w: %w", ctxErr, err)
	}
	return &Error{Op: op, URL: s.remote.display, Kind: classify(err), Err: s.scrub(err)}
}

// scrub hides the credentials this Source holds from err's text.
func (s *Source) scrub(err error) error {
	return &scrubbed{err: err, secrets: s.secrets()}
}

// secrets are the credentials to hide. An HTTP user without a password is a
// token, as in https://TOKEN@host/repo.
func (s *Source) secrets() []string {
	candidates := []string{s.auth.Password, s.auth.SSHKeyPassphrase, s.remote.password}
	if s.remote.protocol != "ssh" && s.auth.Password == "" {
		candidates = append(candidates, s.auth.Username, s.remote.user)
	}
	var secrets []string
	for _, c := range candidates {
		if c != "" {
			secrets = append(secrets, c)
		}
	}
	return secrets
}

// DefaultCacheDir is where snapshots go when no CacheDir is given: the
// user's cache directory (XDG_CACHE_HOME, else ~/.cache) under gitsync/git.
func DefaultCacheDir() (string, error) {
	dir, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("no cache directory: %w", err)
	}
	return filepath.Join(dir, "gitsync", "git"), nil
}

// Snapshot fetches ref of the repository at url into a snapshot under
// cacheDir and returns the snapshot's directory and commit: how remote
// kustomize bases are fetched.
func Snapshot(ctx context.Context, url, ref, cacheDir string, auth Auth) (dir, revision string, err error) {
	src, err := New(Options{URL: url, Ref: ref, CacheDir: cacheDir, Auth: auth})
	if err != nil {
		return "", "", err
	}
	art, err := src.Fetch(ctx)
	return art.Dir, art.Revision, err
}

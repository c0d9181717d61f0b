package source

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	pgperrors "github.com/ProtonMail/go-crypto/openpgp/errors"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/hiddeco/sshsig"
	"golang.org/x/crypto/ssh"
)

// VerifyMode says which object of a revision must carry a trusted signature.
type VerifyMode string

const (
	// VerifyHead requires the commit the ref points to to be signed.
	VerifyHead VerifyMode = "head"
	// VerifyTag requires the annotated tag the ref names to be signed; the
	// ref must be a tag or a semver range.
	VerifyTag VerifyMode = "tag"
)

// Verify turns on signature verification: a revision whose signature is
// missing, bad, or made by a key Keys does not trust fails the fetch with
// Kind Unverified, before its files are written.
type Verify struct {
	Mode VerifyMode
	// Keys are files, or directories such as a mounted Secret (each file in
	// them, skipping dot files), holding the trusted keys: OpenPGP public
	// keys (armored or binary, as gpg --export writes them) and SSH keys in
	// allowed_signers format (as git's gpg.ssh.allowedSignersFile). They are
	// read again at each fetch that verifies, so a rotated key takes effect
	// without a restart.
	Keys []string
}

// Signature is who signed a verified revision.
type Signature struct {
	Type   string // "openpgp" or "ssh"
	Signer string // the key's primary identity (OpenPGP) or its principals (SSH)
	Key    string // the OpenPGP fingerprint, or the SSH key's SHA256 fingerprint
}

func (s Signature) String() string {
	return fmt.Sprintf("%s (%s key %s)", s.Signer, s.Type, s.Key)
}

// sshNamespace is the namespace git signs commits and tags in.
const sshNamespace = "git"

// keyring is the trusted keys of a Verify.
type keyring struct {
	openpgp openpgp.EntityList
	ssh     []allowedSigner
}

// loadKeys reads every key file of v. Each error names the file.
func (v *Verify) loadKeys() (*keyring, error) {
	var files []string
	for _, path := range v.Keys {
		found, err := keyFiles(path)
		if err != nil {
			return nil, err
		}
		files = append(files, found...)
	}
	kr := &keyring{}
	for _, f := range files {
		if err := kr.read(f); err != nil {
			return nil, fmt.Errorf("verify keys %s: %w", f, err)
		}
	}
	if len(kr.openpgp) == 0 && len(kr.ssh) == 0 {
		return nil, fmt.Errorf("verify keys %s: no OpenPGP public key and no allowed_signers line found", strings.Join(v.Keys, ", "))
	}
	return kr, nil
}

// keyFiles is path itself, or the files of the directory path. Kubernetes
// mounts a Secret as links to files in a hidden "..data" directory: links
// are followed and dot files skipped.
func keyFiles(path string) ([]string, error) {
	info, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("verify keys: %w", err)
	}
	if !info.IsDir() {
		return []string{path}, nil
	}
	entries, err := os.ReadDir(path)
	if err != nil {
		return nil, fmt.Errorf("verify keys: %w", err)
	}
	var files []string
	for _, e := range entries {
		name := filepath.Join(path, e.Name())
		if strings.HasPrefix(e.Name(), ".") {
			continue
		}
		if info, err := os.Stat(name); err == nil && info.Mode().IsRegular() {
			files = append(files, name)
		}
	}
	return files, nil
}

// read adds the keys of one file: an OpenPGP keyring, armored or binary,
// or allowed_signers lines.
func (kr *keyring) read(file string) error {
	data, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	var entities openpgp.EntityList
	switch {
	case bytes.Contains(data, []byte("-----BEGIN PGP PUBLIC KEY BLOCK-----")):
		entities, err = readArmoredKeyRings(data)
	case len(data) > 0 && data[0]&0x80 != 0: // an OpenPGP packet tag
		entities, err = openpgp.ReadKeyRing(bytes.NewReader(data))
	default:
		var signers []allowedSigner
		signers, err = parseAllowedSigners(data)
		kr.ssh = append(kr.ssh, signers...)
	}
	kr.openpgp = append(kr.openpgp, entities...)
	return err
}

// readArmoredKeyRings reads every armored key block of data; gpg --export
// --armor of several keys writes one block, but files are often concatenated.
func readArmoredKeyRings(data []byte) (openpgp.EntityList, error) {
	var all openpgp.EntityList
	for {
		start := bytes.Index(data, []byte("-----BEGIN PGP PUBLIC KEY BLOCK-----"))
		if start < 0 {
			return all, nil
		}
		data = data[start:]
		block, err := armor.Decode(bytes.NewReader(data))
		if err != nil {
			return nil, err
		}
		entities, err := openpgp.ReadKeyRing(block.Body)
		if err != nil {
			return nil, err
		}
		all = append(all, entities...)
		end := bytes.Index(data, []byte("-----END PGP PUBLIC KEY BLOCK-----"))
		if end < 0 {
			return all, nil
		}
		data = data[end+1:]
	}
}

// signed is a commit or an annotated tag: what it says, its signature, and
// when it was made (SSH keys may be valid for a time only).
type signed struct {
	what      string // "commit 1a2b3c4d5e6f" or "tag v1.2.0"
	payload   []byte
	signature string
	when      time.Time
}

func signedCommit(c *object.Commit) (signed, error) {
	payload := &plumbing.MemoryObject{}
	if err := c.EncodeWithoutSignature(payload); err != nil {
		return signed{}, err
	}
	data, err := readAll(payload)
	return signed{what: "commit " + short(c.Hash.String()), payload: data, signature: c.PGPSignature, when: c.Committer.When}, err
}

func signedTag(t *object.Tag) (signed, error) {
	payload := &plumbing.MemoryObject{}
	if err := t.EncodeWithoutSignature(payload); err != nil {
		return signed{}, err
	}
	data, err := readAll(payload)
	return signed{what: "tag " + t.Name, payload: data, signature: t.PGPSignature, when: t.Tagger.When}, err
}

func readAll(o plumbing.EncodedObject) ([]byte, error) {
	r, err := o.Reader()
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return io.ReadAll(r)
}

func short(rev string) string { return rev[:min(12, len(rev))] }

// verify checks the signature of s against the keyring, as git
// verify-commit does: one signature, OpenPGP or SSH, by a trusted key that
// is neither revoked nor expired. Its errors are one line naming the
// object, the signer if known, and the reason.
func (kr *keyring) verify(s signed) (Signature, error) {
	sig := strings.TrimSpace(s.signature)
	switch {
	case sig == "":
		return Signature{}, fmt.Errorf("%s is not signed", s.what)
	case strings.Count(sig, "-----BEGIN ") > 1:
		return Signature{}, fmt.Errorf("%s carries more than one signature", s.what)
	case strings.HasPrefix(sig, "-----BEGIN PGP SIGNATURE-----"):
		return kr.verifyOpenPGP(s)
	case strings.HasPrefix(sig, "-----BEGIN SSH SIGNATURE-----"):
		return kr.verifySSH(s)
	}
	return Signature{}, fmt.Errorf("%s has a signature of a kind gitsync cannot verify (only OpenPGP and SSH)", s.what)
}

func (kr *keyring) verifyOpenPGP(s signed) (Signature, error) {
	entity, err := openpgp.CheckArmoredDetachedSignature(kr.openpgp, bytes.NewReader(s.payload), strings.NewReader(s.signature), nil)
	if entity == nil {
		issuer := signatureIssuer(s.signature)
		if errors.Is(err, pgperrors.ErrUnknownIssuer) {
			return Signature{}, fmt.Errorf("%s is signed by OpenPGP key %s, which is not trusted", s.what, issuer)
		}
		return Signature{}, fmt.Errorf("%s has a bad OpenPGP signature (key %s): %w", s.what, issuer, err)
	}
	who := Signature{Type: "openpgp", Signer: identity(entity), Key: fmt.Sprintf("%X", entity.PrimaryKey.Fingerprint)}
	switch {
	case errors.Is(err, pgperrors.ErrKeyRevoked):
		return who, fmt.Errorf("%s is signed by %s, which is revoked", s.what, who)
	case errors.Is(err, pgperrors.ErrKeyExpired):
		return who, fmt.Errorf("%s is signed by %s, which has expired", s.what, who)
	case errors.Is(err, pgperrors.ErrSignatureExpired):
		return who, fmt.Errorf("%s is signed by %s, but the signature has expired", s.what, who)
	case err != nil:
		return who, fmt.Errorf("%s is signed by %s, but it does not verify: %w", s.what, who, err)
	}
	return who, nil
}

// identity is the entity's primary user id, "Name <email>".
func identity(e *openpgp.Entity) string {
	if id := e.PrimaryIdentity(); id != nil {
		return id.Name
	}
	return "(no user id)"
}

// signatureIssuer is the key id or fingerprint an armored OpenPGP
// signature names, or "(unknown)".
func signatureIssuer(armored string) string {
	block, err := armor.Decode(strings.NewReader(armored))
	if err != nil {
		return "(unreadable)"
	}
	p, err := packet.Read(block.Body)
	sig, ok := p.(*packet.Signature)
	switch {
	case err != nil || !ok:
		return "(unreadable)"
	case sig.IssuerFingerprint != nil:
		return fmt.Sprintf("%X", sig.IssuerFingerprint)
	case sig.IssuerKeyId != nil:
		return fmt.Sprintf("%016X", *sig.IssuerKeyId)
	}
	return "(unknown)"
}

func (kr *keyring) verifySSH(s signed) (Signature, error) {
	sig, err := sshsig.Unarmor([]byte(s.signature))
	if err != nil {
		return Signature{}, fmt.Errorf("%s has an unreadable SSH signature: %w", s.what, err)
	}
	key := ssh.FingerprintSHA256(sig.PublicKey)
	signer, err := kr.sshSigner(sig.PublicKey, s.when)
	if err != nil {
		return Signature{}, fmt.Errorf("%s is signed by SSH key %s, %w", s.what, key, err)
	}
	who := Signature{Type: "ssh", Signer: signer.principals, Key: key}
	if err := sshsig.Verify(bytes.NewReader(s.payload), sig, sig.PublicKey, sig.HashAlgorithm, sshNamespace); err != nil {
		return who, fmt.Errorf("%s has a bad SSH signature by %s: %w", s.what, who, err)
	}
	return who, nil
}

// sshSigner finds the allowed signer of key that may sign git objects at
// when, or says why none may.
func (kr *keyring) sshSigner(key ssh.PublicKey, when time.Time) (allowedSigner, error) {
	var reasons []string
	for _, a := range kr.ssh {
		if !bytes.Equal(a.key.Marshal(), key.Marshal()) {
			continue
		}
		if reason := a.refuses(sshNamespace, when); reason != "" {
			reasons = append(reasons, reason)
			continue
		}
		return a, nil
	}
	if len(reasons) == 0 {
		return allowedSigner{}, errors.New("which is not trusted (no allowed_signers line has it)")
	}
	return allowedSigner{}, fmt.Errorf("which is trusted but %s", strings.Join(reasons, "; "))
}

// verifyKept verifies the target from the objects kept of an earlier
// fetch. known is false when they are not kept: the target must be
// downloaded to be verified. Without Options.Verify every target is known
// and trusted.
func (s *Source) verifyKept(t target) (sig *Signature, known bool, err error) {
	if s.verify == nil {
		return nil, true, nil
	}
	var obj signed
	switch {
	case s.verify.Mode == VerifyTag && t.tag.IsZero():
		return nil, true, s.notAnnotated(t)
	case s.verify.Mode == VerifyTag:
		var tag *object.Tag
		if tag, err = s.snapshots.loadTag(t.tag); err == nil {
			obj, err = signedTag(tag)
		}
	default:
		var commit *object.Commit
		if commit, err = s.snapshots.loadCommit(t.commit); err == nil {
			obj, err = signedCommit(commit)
		}
	}
	if err != nil { // not kept, or damaged: the download replaces it
		return nil, false, nil
	}
	sig, err = s.check(obj)
	return sig, true, err
}

// verifyFetched verifies what a download brought.
func (s *Source) verifyFetched(got fetched) (*Signature, error) {
	if s.verify == nil {
		return nil, nil
	}
	var obj signed
	var err error
	switch {
	case s.verify.Mode == VerifyTag && got.tag.IsZero():
		return nil, s.notAnnotated(target{commit: got.commit.Hash})
	case s.verify.Mode == VerifyTag:
		var tag *object.Tag
		if tag, err = got.repo.TagObject(got.tag); err == nil {
			obj, err = signedTag(tag)
		}
	default:
		obj, err = signedCommit(got.commit)
	}
	if err != nil {
		return nil, err
	}
	return s.check(obj)
}

func (s *Source) notAnnotated(t target) error {
	return withKind(Unverified, fmt.Errorf("%s is not an annotated tag, so it carries no signature (verify mode tag needs signed annotated tags)", t.describe()))
}

// check verifies obj with the keys as they are now.
func (s *Source) check(obj signed) (*Signature, error) {
	kr, err := s.verify.loadKeys()
	if err != nil {
		return nil, withKind(InvalidOptions, err)
	}
	sig, err := kr.verify(obj)
	if err != nil {
		return nil, withKind(Unverified, err)
	}
	return &sig, nil
}

// failVerify is the *Error of a revision that failed verification; it names
// the revision, which a caller must not apply. Keys that cannot be read
// are no fault of the revision: that error names none.
func (s *Source) failVerify(ctx context.Context, t target, err error) error {
	e := s.fail(ctx, "verify", err)
	var srcErr *Error
	if errors.As(e, &srcErr) && srcErr.Kind == Unverified {
		srcErr.Revision = t.commit.String()
	}
	return e
}

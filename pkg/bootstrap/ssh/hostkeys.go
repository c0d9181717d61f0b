package ssh

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"slices"

	xssh "golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// hostKeys verifies host keys against one known_hosts file and, with
// acceptNew, records the key of a host the file does not list.
type hostKeys struct {
	file      string
	acceptNew bool
	known     xssh.HostKeyCallback
}

// loadHostKeys reads the known_hosts file; a missing file knows no host.
func loadHostKeys(file string, acceptNew bool) (*hostKeys, error) {
	var files []string
	if _, err := os.Stat(file); err == nil {
		files = append(files, file)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("known_hosts: %w", err)
	}
	known, err := knownhosts.New(files...)
	if err != nil {
		return nil, fmt.Errorf("known_hosts: %w", err)
	}
	return &hostKeys{file: file, acceptNew: acceptNew, known: known}, nil
}

// verify is the ssh.HostKeyCallback: a listed key passes, a changed or
// revoked key is refused, an unknown host is recorded or refused.
func (h *hostKeys) verify(host string, remote net.Addr, key xssh.PublicKey) error {
	err := h.known(host, remote, key)
	var keyErr *knownhosts.KeyError
	var revoked *knownhosts.RevokedError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &revoked):
		return &HostKeyChangedError{Host: knownhosts.Normalize(host), Key: key, Known: []knownhosts.KnownKey{revoked.Revoked}, Revoked: true}
	case !errors.As(err, &keyErr):
		return fmt.Errorf("host key %s of %s: %w", xssh.FingerprintSHA256(key), host, err)
	case len(keyErr.Want) > 0:
		return &HostKeyChangedError{Host: knownhosts.Normalize(host), Key: key, Known: keyErr.Want}
	case h.acceptNew:
		return h.record(host, key)
	}
	return &UnknownHostError{Host: knownhosts.Normalize(host), Key: key, KnownHostsFile: h.file}
}

// record appends the host's key to the known_hosts file, creating it 0600
// (and its directory 0700) when missing.
func (h *hostKeys) record(host string, key xssh.PublicKey) error {
	if err := os.MkdirAll(filepath.Dir(h.file), 0o700); err != nil {
		return fmt.Errorf("recording host key of %s: %w", host, err)
	}
	f, err := os.OpenFile(h.file, os.O_RDWR|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("recording host key of %s: %w", host, err)
	}
	line := knownhosts.Line([]string{knownhosts.Normalize(host)}, key) + "\n"
	if !endsWithNewline(f) {
		line = "\n" + line
	}
	_, err = f.WriteString(line)
	if err = errors.Join(err, f.Close()); err != nil {
		return fmt.Errorf("recording host key of %s in %s: %w", host, h.file, err)
	}
	return nil
}

// endsWithNewline reports whether f is empty or ends with a newline, so an
// appended line never joins the last one.
func endsWithNewline(f *os.File) bool {
	info, err := f.Stat()
	if err != nil || info.Size() == 0 {
		return true
	}
	last := make([]byte, 1)
	_, err = f.ReadAt(last, info.Size()-1)
	return err != nil || last[0] == '\n'
}

// hostKeyAlgorithms are the host key algorithms offered, in OpenSSH's
// order of preference (x/crypto's default prefers RSA and ECDSA; OpenSSH,
// and so most known_hosts files, ed25519).
var hostKeyAlgorithms = []string{
	xssh.KeyAlgoED25519,
	xssh.KeyAlgoECDSA256, xssh.KeyAlgoECDSA384, xssh.KeyAlgoECDSA521,
	xssh.KeyAlgoRSASHA512, xssh.KeyAlgoRSASHA256,
}

// algorithms returns the host key algorithms to offer to address: those of
// the keys known_hosts lists for it, so that the server shows a key we can
// check (a host known only by one key type would otherwise look changed,
// golang/go#29286), or all of them for an unknown host. Certificates are
// not offered: @cert-authority lines are not supported.
func (h *hostKeys) algorithms(address string) []string {
	known := h.knownKeyTypes(address)
	if len(known) == 0 {
		return hostKeyAlgorithms
	}
	var algos []string
	for _, algo := range hostKeyAlgorithms {
		if slices.Contains(known, keyFormat(algo)) {
			algos = append(algos, algo)
		}
	}
	return algos
}

// knownKeyTypes asks the known_hosts database which keys it holds for
// address by presenting a key it cannot know.
func (h *hostKeys) knownKeyTypes(address string) []string {
	pub, _, err := ed25519.GenerateKey(nil)
	if err != nil {
		return nil
	}
	probe, err := xssh.NewPublicKey(pub)
	if err != nil {
		return nil
	}
	var keyErr *knownhosts.KeyError
	if !errors.As(h.known(address, &net.TCPAddr{IP: net.IPv4zero}, probe), &keyErr) {
		return nil
	}
	var types []string
	for _, k := range keyErr.Want {
		types = append(types, k.Key.Type())
	}
	return types
}

// keyFormat is the type of the keys an algorithm signs with.
func keyFormat(algo string) string {
	if algo == xssh.KeyAlgoRSASHA512 || algo == xssh.KeyAlgoRSASHA256 {
		return xssh.KeyAlgoRSA
	}
	return algo
}

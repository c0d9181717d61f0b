package source

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"slices"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// hostKeys verifies SSH host keys against one known_hosts file, and records
// unknown hosts in it when acceptNew is set.
type hostKeys struct {
	file      string
	acceptNew bool
}

func (s *Source) hostKeys() hostKeys {
	return hostKeys{file: s.auth.KnownHostsFile, acceptNew: s.auth.AcceptNewHostKeys}
}

// config returns the host key callback and, when known_hosts lists the host,
// the algorithms of its recorded keys: otherwise Go's client may negotiate
// ECDSA with a host known only by its ed25519 key and see a mismatch.
func (h hostKeys) config(hostPort string) (ssh.HostKeyCallback, []string, error) {
	known, err := h.load()
	if err != nil {
		return nil, nil, withKind(InvalidOptions, err)
	}
	return h.verify(known), knownAlgorithms(known, hostPort), nil
}

func (h hostKeys) load() (ssh.HostKeyCallback, error) {
	if _, err := os.Stat(h.file); errors.Is(err, fs.ErrNotExist) {
		return knownhosts.New()
	}
	return knownhosts.New(h.file)
}

// verify accepts a listed key, refuses a changed or revoked one, and records
// or refuses an unknown host.
func (h hostKeys) verify(known ssh.HostKeyCallback) ssh.HostKeyCallback {
	return func(host string, remote net.Addr, key ssh.PublicKey) error {
		err := known(host, remote, key)
		var keyErr *knownhosts.KeyError
		switch {
		case err == nil:
			return nil
		case !errors.As(err, &keyErr):
			return withKind(HostKeyChanged, fmt.Errorf("host key %s of %s: %w", ssh.FingerprintSHA256(key), host, err))
		case len(keyErr.Want) > 0:
			return withKind(HostKeyChanged, fmt.Errorf("host key %s of %s does not match the key %s lists: refusing it (possible man-in-the-middle)", ssh.FingerprintSHA256(key), host, h.file))
		case h.acceptNew:
			return h.record(host, key)
		}
		return withKind(HostKeyUnknown, fmt.Errorf("host %s (key %s) is not in %s: add it, or accept new host keys", host, ssh.FingerprintSHA256(key), h.file))
	}
}

// record appends the host's key to the known_hosts file.
func (h hostKeys) record(host string, key ssh.PublicKey) error {
	if err := os.MkdirAll(filepath.Dir(h.file), 0o700); err != nil {
		return err
	}
	f, err := os.OpenFile(h.file, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(f, knownhosts.Line([]string{knownhosts.Normalize(host)}, key))
	return errors.Join(err, f.Close())
}

// knownAlgorithms asks the known_hosts database which keys it holds for
// hostPort, by presenting a key it cannot know, and returns their algorithms.
func knownAlgorithms(known ssh.HostKeyCallback, hostPort string) []string {
	probe, err := probeKey()
	if err != nil {
		return nil
	}
	var keyErr *knownhosts.KeyError
	if !errors.As(known(hostPort, &net.TCPAddr{IP: net.IPv4zero}, probe), &keyErr) {
		return nil
	}
	var algorithms []string
	for _, k := range keyErr.Want {
		algorithms = append(algorithms, keyAlgorithms(k.Key.Type())...)
	}
	return slices.Compact(algorithms)
}

func probeKey() (ssh.PublicKey, error) {
	pub, _, err := ed25519.GenerateKey(nil)
	if err != nil {
		return nil, err
	}
	return ssh.NewPublicKey(pub)
}

// keyAlgorithms lists the signature algorithms of a key type: an RSA key
// signs with SHA-2 or, for old servers, SHA-1.
func keyAlgorithms(keyType string) []string {
	if keyType == ssh.KeyAlgoRSA {
		return []string{ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256, ssh.KeyAlgoRSA}
	}
	return []string{keyType}
}

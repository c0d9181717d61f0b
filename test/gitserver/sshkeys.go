package gitserver

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/pem"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

type keyPair struct {
	private crypto.Signer
	signer  ssh.Signer
}

func newKeyPair(t testing.TB, private crypto.Signer) *keyPair {
	t.Helper()
	signer, err := ssh.NewSignerFromSigner(private)
	if err != nil {
		t.Fatalf("gitserver: %v", err)
	}
	return &keyPair{private: private, signer: signer}
}

func newEd25519(t testing.TB) *keyPair {
	t.Helper()
	_, private, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatalf("gitserver: %v", err)
	}
	return newKeyPair(t, private)
}

func newECDSA(t testing.TB) *keyPair {
	t.Helper()
	private, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatalf("gitserver: %v", err)
	}
	return newKeyPair(t, private)
}

// newHostKeys makes one ed25519 and one ECDSA host key: Go's SSH client
// prefers ECDSA, so a client that knows only the ed25519 key must say so.
func newHostKeys(t testing.TB) []*keyPair {
	t.Helper()
	return []*keyPair{newEd25519(t), newECDSA(t)}
}

// RotateHostKeys replaces the host keys with new ones, as a reinstalled or
// impersonated server would present. Clients that knew the old keys must
// refuse the next connection.
func (s *SSHServer) RotateHostKeys(t testing.TB) {
	t.Helper()
	keys := newHostKeys(t)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hostKeys = keys
}

// KnownHostsFile writes a known_hosts file listing the current host keys
// under "[127.0.0.1]:PORT" and returns its path. With keyTypes (such as
// ssh.KeyAlgoED25519) it lists only keys of those types.
func (s *SSHServer) KnownHostsFile(t testing.TB, keyTypes ...string) string {
	t.Helper()
	var lines []string
	s.mu.Lock()
	for _, k := range s.hostKeys {
		pub := k.signer.PublicKey()
		if len(keyTypes) == 0 || slices.Contains(keyTypes, pub.Type()) {
			lines = append(lines, knownhosts.Line([]string{knownhosts.Normalize(s.addr)}, pub))
		}
	}
	s.mu.Unlock()
	return writeFile(t, "known_hosts", strings.Join(lines, "\n")+"\n")
}

// EncryptedClientKeyFile writes the client key, encrypted with passphrase
// (none if empty), as an OpenSSH private key file and returns its path.
func (s *SSHServer) EncryptedClientKeyFile(t testing.TB, passphrase string) string {
	t.Helper()
	var block *pem.Block
	var err error
	if passphrase == "" {
		block, err = ssh.MarshalPrivateKey(s.clientKey.private, "gitserver client")
	} else {
		block, err = ssh.MarshalPrivateKeyWithPassphrase(s.clientKey.private, "gitserver client", []byte(passphrase))
	}
	if err != nil {
		t.Fatalf("gitserver: %v", err)
	}
	return writeFile(t, "id_ed25519", string(pem.EncodeToMemory(block)))
}

func writeFile(t testing.TB, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatalf("gitserver: %v", err)
	}
	return path
}

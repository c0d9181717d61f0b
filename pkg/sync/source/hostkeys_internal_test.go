package source

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

func publicKey(t *testing.T, key any) ssh.PublicKey {
	t.Helper()
	pub, err := ssh.NewPublicKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pub
}

func TestKnownAlgorithms(t *testing.T) {
	edPub, _, _ := ed25519.GenerateKey(rand.Reader)
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	ed, ecPub, rsaPub := publicKey(t, edPub), publicKey(t, &ec.PublicKey), publicKey(t, &rsaKey.PublicKey)
	line := func(host string, key ssh.PublicKey) string { return knownhosts.Line([]string{host}, key) }
	for _, tc := range []struct {
		name, hostPort string
		lines          []string
		want           []string
	}{
		{"offers only ed25519 for a host known by its ed25519 key", "example.com:22",
			[]string{line("example.com", ed)}, []string{ssh.KeyAlgoED25519}},
		{"offers every recorded key type", "example.com:22",
			[]string{line("example.com", ed), line("example.com", ecPub)}, []string{ssh.KeyAlgoED25519, ssh.KeyAlgoECDSA256}},
		{"offers the SHA-2 signatures of an RSA key first", "example.com:22",
			[]string{line("example.com", rsaPub)}, []string{ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256, ssh.KeyAlgoRSA}},
		{"matches a non-default port in brackets", "127.0.0.1:2222",
			[]string{line("[127.0.0.1]:2222", ed), line("127.0.0.1", ecPub)}, []string{ssh.KeyAlgoED25519}},
		{"leaves the choice to Go for an unknown host", "other.example.com:22",
			[]string{line("example.com", ed)}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			file := filepath.Join(t.TempDir(), "known_hosts")
			if err := os.WriteFile(file, []byte(strings.Join(tc.lines, "\n")+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			_, got, err := hostKeys{file: file}.config(tc.hostPort)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("algorithms (-want +got):\n%s", diff)
			}
		})
	}
}

package knownhosts_test

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/crypto/ssh"

	"github.com/gitsync-io/gitsync/pkg/knownhosts"
)

func TestAlgorithms(t *testing.T) {
	host := newHostKeys(t)
	all := []string{ssh.KeyAlgoED25519, ssh.KeyAlgoECDSA256, ssh.KeyAlgoECDSA384, ssh.KeyAlgoECDSA521,
		ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256, ssh.KeyAlgoRSA}
	for _, tc := range []struct {
		name, address string
		lines         []string
		want          []string
	}{
		{"offers only ed25519 for a host known by its ed25519 key", "example.com:22",
			[]string{line("example.com", host.ed25519)}, []string{ssh.KeyAlgoED25519}},
		{"offers every recorded key type, in OpenSSH's order", "example.com:22",
			[]string{line("example.com", host.ecdsa), line("example.com", host.ed25519)}, []string{ssh.KeyAlgoED25519, ssh.KeyAlgoECDSA256}},
		{"offers the SHA-2 signatures of an RSA key first", "example.com:22",
			[]string{line("example.com", host.rsa)}, []string{ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256, ssh.KeyAlgoRSA}},
		{"matches a non-default port in brackets", "127.0.0.1:2222",
			[]string{line("[127.0.0.1]:2222", host.ed25519), line("127.0.0.1", host.ecdsa)}, []string{ssh.KeyAlgoED25519}},
		{"offers every algorithm, ed25519 first, for an unknown host", "other.example.com:22",
			[]string{line("example.com", host.ed25519)}, all},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "known_hosts")
			if err := os.WriteFile(path, []byte(strings.Join(tc.lines, "\n")+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			f, err := knownhosts.Open(path, false)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, f.Algorithms(tc.address)); diff != "" {
				t.Errorf("algorithms (-want +got):\n%s", diff)
			}
		})
	}
}

// serveSSH runs SSH handshakes on loopback with every one of keys' host keys, as sshd does,
// and returns the address.
func serveSSH(t *testing.T, keys hostKeys) string {
	t.Helper()
	config := &ssh.ServerConfig{NoClientAuth: true}
	for _, signer := range keys.signers {
		config.AddHostKey(signer)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer conn.Close()
				if c, _, _, err := ssh.NewServerConn(conn, config); err == nil {
					c.Close()
				}
			})
		}
	})
	return ln.Addr().String()
}

// handshake connects to address, checking its key with f, as the callers of this package do.
func handshake(ctx context.Context, address string, f *knownhosts.File) error {
	conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", address)
	if err != nil {
		return err
	}
	defer conn.Close()
	c, _, _, err := ssh.NewClientConn(conn, address, &ssh.ClientConfig{
		User: "git", HostKeyCallback: f.Check, HostKeyAlgorithms: f.Algorithms(address),
	})
	if err != nil {
		return err
	}
	_ = c.Close() // the server may have closed it first
	return nil
}

// x/crypto asks for ECDSA first, OpenSSH for ed25519: a client must ask for the key types
// known_hosts holds, or a host that has several looks changed.
func TestHandshake(t *testing.T) {
	keys := newHostKeys(t)
	address := serveSSH(t, keys)
	host := "[127.0.0.1]:" + address[strings.LastIndex(address, ":")+1:]
	for _, key := range []ssh.PublicKey{keys.ed25519, keys.ecdsa, keys.rsa} {
		t.Run("connects to a host known only by its "+key.Type()+" key", func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "known_hosts")
			writeFile(t, path, ptr(line(host, key)+"\n"))
			f, err := knownhosts.Open(path, false)
			if err != nil {
				t.Fatal(err)
			}
			if err := handshake(t.Context(), address, f); err != nil {
				t.Error(err)
			}
		})
	}
	t.Run("records the ed25519 key of an unknown host, as OpenSSH does", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "known_hosts")
		f, err := knownhosts.Open(path, true)
		if err != nil {
			t.Fatal(err)
		}
		if err := handshake(t.Context(), address, f); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(ptr(line(host, keys.ed25519)+"\n"), readFile(t, path)); diff != "" {
			t.Errorf("known_hosts (-want +got):\n%s", diff)
		}
	})
	t.Run("refuses a host whose key changed, through the handshake", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "known_hosts")
		writeFile(t, path, ptr(line(host, newHostKeys(t).ed25519)+"\n"))
		f, err := knownhosts.Open(path, true)
		if err != nil {
			t.Fatal(err)
		}
		if got := verdict(handshake(t.Context(), address, f)); got != "changed" {
			t.Errorf("handshake: %s, want changed", got)
		}
	})
}

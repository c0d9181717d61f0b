package knownhosts_test

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/crypto/ssh"
	xknownhosts "golang.org/x/crypto/ssh/knownhosts"

	"github.com/gitsync-io/gitsync/pkg/knownhosts"
)

// hostKeys are one host's key of each type, and their signers for a test server.
type hostKeys struct {
	ed25519, ecdsa, rsa ssh.PublicKey
	signers             []ssh.Signer
}

func newHostKeys(t *testing.T) hostKeys {
	t.Helper()
	_, ed, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	rs, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	var keys hostKeys
	for _, private := range []any{ed, ec, rs} {
		signer, err := ssh.NewSignerFromKey(private)
		if err != nil {
			t.Fatal(err)
		}
		keys.signers = append(keys.signers, signer)
	}
	keys.ed25519, keys.ecdsa, keys.rsa = keys.signers[0].PublicKey(), keys.signers[1].PublicKey(), keys.signers[2].PublicKey()
	return keys
}

func line(host string, key ssh.PublicKey) string { return xknownhosts.Line([]string{host}, key) }

// remote is the address the connection came from; Check prefers the host name it is given.
var remote = &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 2222}

func readFile(t *testing.T, path string) *string {
	t.Helper()
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	} else if err != nil {
		t.Fatal(err)
	}
	s := string(data)
	return &s
}

func writeFile(t *testing.T, path string, content *string) {
	t.Helper()
	if content == nil {
		return
	}
	if err := os.WriteFile(path, []byte(*content), 0o600); err != nil {
		t.Fatal(err)
	}
}

func ptr(s string) *string { return &s }

// verdict names what Check made of a key.
func verdict(err error) string {
	var unknown *knownhosts.UnknownHostError
	var changed *knownhosts.ChangedKeyError
	switch {
	case err == nil:
		return "accepted"
	case errors.As(err, &unknown):
		return "unknown"
	case errors.As(err, &changed) && changed.Revoked:
		return "revoked"
	case errors.As(err, &changed):
		return "changed"
	}
	return "error: " + err.Error()
}

func TestCheck(t *testing.T) {
	host, other := newHostKeys(t), newHostKeys(t)
	for _, tc := range []struct {
		name      string
		file      string  // relative to a temporary directory
		content   *string // nil: no file
		acceptNew bool
		host      string
		key       ssh.PublicKey
		want      string
		after     *string // the file's content after; nil: as before
	}{
		{name: "accepts a key the file lists for the host",
			file: "known_hosts", content: ptr(line("example.com", host.ed25519) + "\n"),
			host: "example.com:22", key: host.ed25519, want: "accepted"},
		{name: "accepts a key listed under a hashed host name",
			file: "known_hosts", content: ptr(line(xknownhosts.HashHostname("example.com"), host.ecdsa) + "\n"),
			host: "example.com:22", key: host.ecdsa, want: "accepted"},
		{name: "accepts a key listed for a non-default port in brackets",
			file: "known_hosts", content: ptr(line("[127.0.0.1]:2222", host.ed25519) + "\n"),
			host: "127.0.0.1:2222", key: host.ed25519, want: "accepted"},
		{name: "accepts a host among others, in a file without a final newline",
			file: "known_hosts", content: ptr(line("a.example", other.ed25519) + "\n" + line("example.com", host.rsa)),
			host: "example.com:22", key: host.rsa, want: "accepted"},
		{name: "does not take a port 22 entry for another port",
			file: "known_hosts", content: ptr(line("127.0.0.1", host.ed25519) + "\n"),
			host: "127.0.0.1:2222", key: host.ed25519, want: "unknown"},
		{name: "refuses an unknown host and records nothing",
			file: "known_hosts", content: ptr(line("a.example", other.ed25519) + "\n"),
			host: "example.com:22", key: host.ed25519, want: "unknown"},
		{name: "refuses every host when the file is missing, and creates nothing",
			file: "known_hosts",
			host: "example.com:22", key: host.ed25519, want: "unknown"},
		{name: "records an unknown host when accepting new keys",
			file: "known_hosts", content: ptr(line("a.example", other.ed25519) + "\n"), acceptNew: true,
			host: "example.com:22", key: host.ed25519, want: "accepted",
			after: ptr(line("a.example", other.ed25519) + "\n" + line("example.com", host.ed25519) + "\n")},
		{name: "records a non-default port as [host]:port",
			file: "known_hosts", acceptNew: true,
			host: "127.0.0.1:2222", key: host.ecdsa, want: "accepted",
			after: ptr(line("[127.0.0.1]:2222", host.ecdsa) + "\n")},
		{name: "records on a line of its own in a file without a final newline",
			file: "known_hosts", content: ptr("# no newline"), acceptNew: true,
			host: "example.com:22", key: host.ed25519, want: "accepted",
			after: ptr("# no newline\n" + line("example.com", host.ed25519) + "\n")},
		{name: "creates the file and its directory when accepting new keys",
			file: "new/.ssh/known_hosts", acceptNew: true,
			host: "example.com:22", key: host.ed25519, want: "accepted",
			after: ptr(line("example.com", host.ed25519) + "\n")},
		{name: "refuses a changed key",
			file: "known_hosts", content: ptr(line("example.com", host.ed25519) + "\n"),
			host: "example.com:22", key: other.ed25519, want: "changed"},
		{name: "refuses a changed key even when accepting new keys",
			file: "known_hosts", content: ptr(line("example.com", host.ed25519) + "\n"), acceptNew: true,
			host: "example.com:22", key: other.ed25519, want: "changed"},
		{name: "refuses a changed key of a host known only by another key type, when accepting new keys",
			file: "known_hosts", content: ptr(line("example.com", host.ed25519) + "\n"), acceptNew: true,
			host: "example.com:22", key: host.ecdsa, want: "changed"},
		{name: "refuses a changed key under a hashed host name",
			file: "known_hosts", content: ptr(line(xknownhosts.HashHostname("[127.0.0.1]:2222"), host.ed25519) + "\n"), acceptNew: true,
			host: "127.0.0.1:2222", key: other.ed25519, want: "changed"},
		{name: "refuses a key marked @revoked, although the file also lists it",
			file: "known_hosts", content: ptr(line("example.com", host.ed25519) + "\n@revoked " + line("*", host.ed25519) + "\n"),
			host: "example.com:22", key: host.ed25519, want: "revoked"},
		{name: "refuses a key marked @revoked, even when accepting new keys",
			file: "known_hosts", content: ptr("@revoked " + line("*", host.ed25519) + "\n"), acceptNew: true,
			host: "example.com:22", key: host.ed25519, want: "revoked"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), tc.file)
			writeFile(t, path, tc.content)
			f, err := knownhosts.Open(path, tc.acceptNew)
			if err != nil {
				t.Fatal(err)
			}
			if got := verdict(f.Check(tc.host, remote, tc.key)); got != tc.want {
				t.Errorf("Check: %s, want %s", got, tc.want)
			}
			want := tc.content
			if tc.after != nil {
				want = tc.after
			}
			if diff := cmp.Diff(want, readFile(t, path)); diff != "" {
				t.Errorf("known_hosts (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRecordedKeys(t *testing.T) {
	key := newHostKeys(t).ed25519
	path := filepath.Join(t.TempDir(), ".ssh", "known_hosts")
	f, err := knownhosts.Open(path, true)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Check("example.com:22", remote, key); err != nil {
		t.Fatal(err)
	}
	recorded := readFile(t, path)

	t.Run("are readable by the owner alone, in a directory of the owner alone", func(t *testing.T) {
		for p, want := range map[string]fs.FileMode{path: 0o600, filepath.Dir(path): 0o700} {
			if info, err := os.Stat(p); err != nil || info.Mode().Perm() != want {
				t.Errorf("%s: mode %v (%v), want %v", p, info.Mode().Perm(), err, want)
			}
		}
	})
	t.Run("are known to the same File without being recorded twice", func(t *testing.T) {
		if err := f.Check("example.com:22", remote, key); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(recorded, readFile(t, path)); diff != "" {
			t.Errorf("known_hosts (-want +got):\n%s", diff)
		}
	})
	t.Run("are verified from then on without accepting new keys", func(t *testing.T) {
		again, err := knownhosts.Open(path, false)
		if err != nil {
			t.Fatal(err)
		}
		if err := again.Check("example.com:22", remote, key); err != nil {
			t.Error(err)
		}
	})
}

func TestOpen(t *testing.T) {
	t.Run("refuses a malformed file, naming the file and the line", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "known_hosts")
		writeFile(t, path, ptr("# fine\nexample.com ssh-ed25519 not-base64\n"))
		_, err := knownhosts.Open(path, false)
		if err == nil || !strings.Contains(err.Error(), path+":2") {
			t.Errorf("Open: %v, want an error naming %s:2", err, path)
		}
	})
	t.Run("refuses a path it cannot read", func(t *testing.T) {
		dir := t.TempDir()
		if _, err := knownhosts.Open(dir, false); err == nil || !strings.Contains(err.Error(), dir) {
			t.Errorf("Open of a directory: %v, want an error naming it", err)
		}
	})
}

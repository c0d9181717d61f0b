package knownhosts_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
	xknownhosts "golang.org/x/crypto/ssh/knownhosts"

	"github.com/gitsync-io/gitsync/pkg/knownhosts"
)

func TestErrorMessages(t *testing.T) {
	host, other := newHostKeys(t), newHostKeys(t)
	dir := filepath.Join(t.TempDir(), "a dir")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		content string
		host    string
		key     ssh.PublicKey
		want    []string
	}{
		{name: "an unknown host is named with its key's fingerprint, where to check it and the fix",
			host: "127.0.0.1:2222", key: host.ecdsa,
			want: []string{"host [127.0.0.1]:2222 is unknown", filepath.Join(dir, "known_hosts") + " does not list it",
				"ecdsa-sha2-nistp256 key " + ssh.FingerprintSHA256(host.ecdsa), "ssh-keygen -lf /etc/ssh/ssh_host_ecdsa_key.pub",
				"add the host's key to " + filepath.Join(dir, "known_hosts"), "accept new host keys"}},
		{name: "a changed key names the host, both keys, the file and line, and the command that removes the old key",
			content: "# first\n" + line("[127.0.0.1]:2222", host.ed25519) + "\n",
			host:    "127.0.0.1:2222", key: other.ed25519,
			want: []string{"host key of [127.0.0.1]:2222 has CHANGED", "it offered ssh-ed25519 " + ssh.FingerprintSHA256(other.ed25519),
				filepath.Join(dir, "known_hosts") + ":2 lists ssh-ed25519 " + ssh.FingerprintSHA256(host.ed25519),
				"man-in-the-middle", "ssh-keygen -R '[127.0.0.1]:2222' -f '" + filepath.Join(dir, "known_hosts") + "'"}},
		{name: "every listed key of a changed host is named",
			content: line("example.com", host.ed25519) + "\n" + line("example.com", host.rsa) + "\n",
			host:    "example.com:22", key: other.ecdsa,
			want: []string{"known_hosts:1 lists ssh-ed25519", "known_hosts:2 lists ssh-rsa", "ssh-keygen -R example.com -f"}},
		{name: "a revoked key names the @revoked line",
			content: "@revoked " + line("*", host.ed25519) + "\n",
			host:    "example.com:22", key: host.ed25519,
			want: []string{"host key of example.com (ssh-ed25519 " + ssh.FingerprintSHA256(host.ed25519) + ") is marked @revoked in " + filepath.Join(dir, "known_hosts") + ":1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, "known_hosts")
			writeFile(t, path, &tc.content)
			f, err := knownhosts.Open(path, false)
			if err != nil {
				t.Fatal(err)
			}
			err = f.Check(tc.host, remote, tc.key)
			for _, want := range tc.want {
				if err == nil || !strings.Contains(err.Error(), want) {
					t.Errorf("error %v does not contain %q", err, want)
				}
			}
		})
	}
}

func TestFingerprint(t *testing.T) {
	key := newHostKeys(t).ed25519
	want := ssh.FingerprintSHA256(key)
	unknown := &knownhosts.UnknownHostError{Host: "example.com", Key: key}
	changed := &knownhosts.ChangedKeyError{Host: "example.com", Key: key, Known: []xknownhosts.KnownKey{{Key: key}}}
	if unknown.Fingerprint() != want || changed.Fingerprint() != want {
		t.Errorf("fingerprints %s and %s, want the offered key's %s", unknown.Fingerprint(), changed.Fingerprint(), want)
	}
}

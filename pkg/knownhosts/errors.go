package knownhosts

import (
	"fmt"
	"strings"

	"golang.org/x/crypto/ssh"
	xknownhosts "golang.org/x/crypto/ssh/knownhosts"
)

// UnknownHostError refuses a host that the known_hosts file does not list, when new keys
// are not accepted.
type UnknownHostError struct {
	Host string        // as known_hosts writes it: host, or [host]:port
	Key  ssh.PublicKey // the key the host offered
	File string        // the known_hosts file
}

func (e *UnknownHostError) Error() string {
	return fmt.Sprintf("host %s is unknown: %s does not list it (it offered %s key %s); "+
		"check that fingerprint on the host (ssh-keygen -lf /etc/ssh/%s), "+
		"then add the host's key to %s or accept new host keys",
		e.Host, e.File, e.Key.Type(), e.Fingerprint(), hostKeyFile(e.Key.Type()), e.File)
}

// Fingerprint is the SHA256 fingerprint of the offered key, as ssh-keygen -l prints it.
func (e *UnknownHostError) Fingerprint() string { return ssh.FingerprintSHA256(e.Key) }

// ChangedKeyError refuses a host whose key differs from those the known_hosts file lists
// for it, or whose key is marked @revoked. Nothing bypasses it, not even accepting new keys.
type ChangedKeyError struct {
	Host    string
	Key     ssh.PublicKey          // the key the host offered
	Known   []xknownhosts.KnownKey // the listed keys (or the @revoked line), with file and line
	Revoked bool
}

func (e *ChangedKeyError) Error() string {
	if e.Revoked {
		return fmt.Sprintf("host key of %s (%s %s) is marked @revoked in %s; refusing to connect",
			e.Host, e.Key.Type(), e.Fingerprint(), location(e.Known[0]))
	}
	listed := make([]string, 0, len(e.Known))
	for _, k := range e.Known {
		listed = append(listed, fmt.Sprintf("%s lists %s %s", location(k), k.Key.Type(), ssh.FingerprintSHA256(k.Key)))
	}
	return fmt.Sprintf("host key of %s has CHANGED: it offered %s %s but %s; "+
		"this may be a man-in-the-middle attack, refusing to connect. "+
		"If the host was reinstalled, remove the old key with: ssh-keygen -R %s -f %s",
		e.Host, e.Key.Type(), e.Fingerprint(), strings.Join(listed, ", "), shellQuote(e.Host), shellQuote(e.Known[0].Filename))
}

// Fingerprint is the SHA256 fingerprint of the offered key.
func (e *ChangedKeyError) Fingerprint() string { return ssh.FingerprintSHA256(e.Key) }

func location(k xknownhosts.KnownKey) string { return fmt.Sprintf("%s:%d", k.Filename, k.Line) }

// hostKeyFile names the public host key file sshd keeps for a key type.
func hostKeyFile(keyType string) string {
	switch {
	case keyType == ssh.KeyAlgoED25519:
		return "ssh_host_ed25519_key.pub"
	case strings.HasPrefix(keyType, "ecdsa-"):
		return "ssh_host_ecdsa_key.pub"
	}
	return "ssh_host_rsa_key.pub"
}

// shellQuote returns s as one POSIX shell word, so that the command in a message can be
// pasted: bare when no shell reads anything special in it, else in single quotes.
func shellQuote(s string) string {
	plain := func(r rune) bool {
		return 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || strings.ContainsRune("_-+=.,:/@%", r)
	}
	if s != "" && strings.IndexFunc(s, func(r rune) bool { return !plain(r) }) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

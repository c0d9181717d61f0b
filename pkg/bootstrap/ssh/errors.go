package ssh

import (
	"fmt"
	"net"
	"strings"

	xssh "golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// UnknownHostError refuses a host that known_hosts does not list, when
// AcceptNew is off.
type UnknownHostError struct {
	Host           string // as known_hosts writes it: host, or [host]:port
	Key            xssh.PublicKey
	KnownHostsFile string
}

func (e *UnknownHostError) Error() string {
	return fmt.Sprintf("host %s is unknown: %s does not list it (it offered %s key %s); "+
		"check that fingerprint on the host (ssh-keygen -lf /etc/ssh/%s), then re-run with --ssh-accept-new "+
		"or add the host's key to %s",
		e.Host, e.KnownHostsFile, e.Key.Type(), xssh.FingerprintSHA256(e.Key), hostKeyFile(e.Key.Type()), e.KnownHostsFile)
}

// Fingerprint is the SHA256 fingerprint of the offered key, as ssh-keygen -l
// prints it.
func (e *UnknownHostError) Fingerprint() string { return xssh.FingerprintSHA256(e.Key) }

// HostKeyChangedError refuses a host whose key differs from the one
// known_hosts lists, or whose key is marked @revoked. It is never bypassed,
// not even by AcceptNew.
type HostKeyChangedError struct {
	Host    string
	Key     xssh.PublicKey        // the key the host offered
	Known   []knownhosts.KnownKey // the listed keys, with file and line
	Revoked bool
}

func (e *HostKeyChangedError) Error() string {
	if e.Revoked {
		return fmt.Sprintf("host key of %s (%s %s) is marked @revoked in %s; refusing to connect",
			e.Host, e.Key.Type(), xssh.FingerprintSHA256(e.Key), location(e.Known[0]))
	}
	listed := make([]string, 0, len(e.Known))
	for _, k := range e.Known {
		listed = append(listed, fmt.Sprintf("%s lists %s %s", location(k), k.Key.Type(), xssh.FingerprintSHA256(k.Key)))
	}
	file := e.Known[0].Filename
	return fmt.Sprintf("host key of %s has CHANGED: it offered %s %s but %s; "+
		"this may be a man-in-the-middle attack, refusing to connect. "+
		"If the host was reinstalled, remove the old key with: ssh-keygen -R %s -f %s",
		e.Host, e.Key.Type(), xssh.FingerprintSHA256(e.Key), strings.Join(listed, ", "), quote(e.Host), quote(file))
}

// Fingerprint is the SHA256 fingerprint of the offered key.
func (e *HostKeyChangedError) Fingerprint() string { return xssh.FingerprintSHA256(e.Key) }

func location(k knownhosts.KnownKey) string { return fmt.Sprintf("%s:%d", k.Filename, k.Line) }

// hostKeyFile names the public host key file sshd keeps for a key type.
func hostKeyFile(keyType string) string {
	switch {
	case keyType == xssh.KeyAlgoED25519:
		return "ssh_host_ed25519_key.pub"
	case strings.HasPrefix(keyType, "ecdsa-"):
		return "ssh_host_ecdsa_key.pub"
	}
	return "ssh_host_rsa_key.pub"
}

// AuthError says that the server accepted none of the offered credentials.
type AuthError struct {
	User    string
	Address string
	Offered []string // descriptions of the key file and agent keys offered
	Err     error
}

func (e *AuthError) Error() string {
	host, _, _ := net.SplitHostPort(e.Address)
	return fmt.Sprintf("%s@%s: authentication failed: the server accepted none of the offered keys (%s); "+
		"add the public key to ~%s/.ssh/authorized_keys on %s (ssh-copy-id), or pass the right key file",
		e.User, e.Address, strings.Join(e.Offered, "; "), e.User, host)
}

func (e *AuthError) Unwrap() error { return e.Err }

// ExitError is a command that ran and exited non-zero (or was killed by a
// signal). Command is the command line as a user would type it, secrets
// redacted; Stderr is the tail of its standard error, redacted.
type ExitError struct {
	Host       string
	Command    string
	ExitStatus int
	Signal     string
	Stderr     string
}

// stderrTailLines bounds the stderr an ExitError prints.
const stderrTailLines = 20

func (e *ExitError) Error() string {
	msg := fmt.Sprintf("%s: %s %s", e.Host, e.Command, e.status())
	tail := lastLines(strings.TrimRight(e.Stderr, "\n"), stderrTailLines)
	if tail == "" {
		return msg + " (no stderr)"
	}
	return msg + "; stderr:\n  " + strings.ReplaceAll(tail, "\n", "\n  ")
}

func (e *ExitError) status() string {
	if e.Signal != "" {
		return "was killed by signal " + e.Signal
	}
	return fmt.Sprintf("exited with status %d", e.ExitStatus)
}

// lastLines returns the last n lines of s.
func lastLines(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// SudoError says that commands cannot run as root through sudo, and what to
// change.
type SudoError struct {
	Host   string
	User   string
	Reason string
	Stderr string
}

func (e *SudoError) Error() string {
	msg := fmt.Sprintf("%s: sudo for user %s: %s", e.Host, e.User, e.Reason)
	if tail := lastLines(strings.TrimSpace(e.Stderr), 3); tail != "" {
		msg += " (sudo said: " + strings.ReplaceAll(tail, "\n", " / ") + ")"
	}
	return msg
}

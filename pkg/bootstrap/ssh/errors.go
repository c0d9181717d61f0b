package ssh

import (
	"fmt"
	"net"
	"strings"
)

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

package source

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"

	"github.com/go-git/go-git/v5/plumbing/transport"

	"github.com/gitsync-io/gitsync/pkg/knownhosts"
)

// Kind classifies why a fetch failed, so the caller can branch on it with
// errors.Is(err, source.AuthFailed) or by reading (*Error).Kind.
type Kind string

// The kinds of failure. Terminal ones are marked: retrying cannot fix them.
const (
	InvalidOptions Kind = "invalid options"       // terminal
	RepoNotFound   Kind = "repository not found"  // terminal
	RefNotFound    Kind = "ref not found"         // terminal
	AuthFailed     Kind = "authentication failed" // terminal
	HostKeyUnknown Kind = "host key unknown"      // terminal
	HostKeyChanged Kind = "host key changed"      // terminal
	InvalidTree    Kind = "invalid tree"          // terminal: the revision cannot be checked out safely
	Unverified     Kind = "unverified"            // terminal: the revision's signature is missing, bad or untrusted
	Unreachable    Kind = "unreachable"           // the network or the server failed, or timed out
	Canceled       Kind = "canceled"              // the context was canceled
	Failed         Kind = "failed"                // anything else, such as a full disk
)

// Error lets a Kind be used as an errors.Is target.
func (k Kind) Error() string { return string(k) }

// Terminal reports whether retrying cannot fix a failure of this kind.
func (k Kind) Terminal() bool {
	switch k {
	case InvalidOptions, RepoNotFound, RefNotFound, AuthFailed, HostKeyUnknown, HostKeyChanged, InvalidTree, Unverified:
		return true
	}
	return false
}

// Error is the error New and Fetch return. It never holds a credential: URL
// is redacted and causes are scrubbed of the secrets the Source knows.
type Error struct {
	Op   string // what failed: "new", "ls-remote", "fetch", "verify", "checkout", "publish"
	URL  string // the repository, without credentials
	Kind Kind
	// Revision is the commit the failure is about, when it is known and
	// matters: the revision that failed verification, which must not be
	// applied (nor fetched again until the keys change).
	Revision string
	Err      error
}

// Error is one line: the repository, the operation, the kind and the cause.
func (e *Error) Error() string {
	cause := string(e.Kind)
	if e.Err != nil {
		cause = strings.TrimSuffix(strings.Join(strings.Fields(e.Err.Error()), " "), ":")
	}
	if strings.HasPrefix(cause, string(e.Kind)) {
		return fmt.Sprintf("git %s: %s: %s", e.URL, e.Op, cause)
	}
	return fmt.Sprintf("git %s: %s: %s: %s", e.URL, e.Op, e.Kind, cause)
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Is makes errors.Is(err, Kind) true for the error's Kind.
func (e *Error) Is(target error) bool { return target == error(e.Kind) }

// Terminal reports whether retrying cannot fix the failure.
func (e *Error) Terminal() bool { return e.Kind.Terminal() }

// classify finds the Kind of a go-git, x/crypto/ssh, known_hosts, network or context error.
func classify(err error) Kind {
	var kind Kind
	var netErr net.Error
	var unknownHost *knownhosts.UnknownHostError
	var changedKey *knownhosts.ChangedKeyError
	switch {
	case errors.Is(err, context.Canceled):
		return Canceled
	case errors.Is(err, context.DeadlineExceeded):
		return Unreachable
	case errors.As(err, &kind):
		return kind
	case errors.As(err, &unknownHost):
		return HostKeyUnknown
	case errors.As(err, &changedKey):
		return HostKeyChanged
	case isAuthError(err):
		return AuthFailed
	case errors.Is(err, transport.ErrRepositoryNotFound):
		return RepoNotFound
	case errors.Is(err, transport.ErrEmptyRemoteRepository):
		return RefNotFound
	case errors.As(err, &netErr):
		return Unreachable
	}
	return Failed
}

// isAuthError reports credentials the server refused. x/crypto/ssh has no
// error type for "no key was accepted", only this message.
func isAuthError(err error) bool {
	return errors.Is(err, transport.ErrAuthenticationRequired) ||
		errors.Is(err, transport.ErrAuthorizationFailed) ||
		errors.Is(err, transport.ErrInvalidAuthMethod) ||
		strings.Contains(err.Error(), "ssh: unable to authenticate")
}

// withKind marks err as a failure of kind without changing its text.
func withKind(kind Kind, err error) error { return &kindError{kind: kind, err: err} }

type kindError struct {
	kind Kind
	err  error
}

func (e *kindError) Error() string   { return e.err.Error() }
func (e *kindError) Unwrap() []error { return []error{e.kind, e.err} }

// scrubbed hides secrets in an error's text while keeping it unwrappable,
// in case a server or library echoes a credential back.
type scrubbed struct {
	err     error
	secrets []string
}

func (s *scrubbed) Error() string {
	text := s.err.Error()
	for _, secret := range s.secrets {
		text = strings.ReplaceAll(text, secret, "xxxxx")
	}
	return text
}

func (s *scrubbed) Unwrap() error { return s.err }

package source

import (
	"context"
	"errors"
	"fmt"
	"net"
	"testing"

	"github.com/go-git/go-git/v5/plumbing/transport"

	"github.com/gitsync-io/gitsync/pkg/knownhosts"
)

func TestClassify(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want Kind
	}{
		{"a canceled context", fmt.Errorf("read: %w", context.Canceled), Canceled},
		{"a deadline is a retryable timeout", context.DeadlineExceeded, Unreachable},
		{"an HTTP 401", fmt.Errorf("%w: unauthorized", transport.ErrAuthenticationRequired), AuthFailed},
		{"an HTTP 403", transport.ErrAuthorizationFailed, AuthFailed},
		{"an SSH key the server refused", errors.New("ssh: handshake failed: ssh: unable to authenticate, attempted methods [none publickey]"), AuthFailed},
		{"a missing repository", transport.ErrRepositoryNotFound, RepoNotFound},
		{"an empty repository", transport.ErrEmptyRemoteRepository, RefNotFound},
		{"a refused connection", &net.OpError{Op: "dial", Err: errors.New("connection refused")}, Unreachable},
		{"a kind set where the failure was found", fmt.Errorf("handshake: %w", withKind(HostKeyChanged, errors.New("mismatch"))), HostKeyChanged},
		{"an unknown SSH host", fmt.Errorf("ssh: handshake failed: %w", &knownhosts.UnknownHostError{}), HostKeyUnknown},
		{"a changed SSH host key", fmt.Errorf("ssh: handshake failed: %w", &knownhosts.ChangedKeyError{}), HostKeyChanged},
		{"a revoked SSH host key", fmt.Errorf("ssh: handshake failed: %w", &knownhosts.ChangedKeyError{Revoked: true}), HostKeyChanged},
		{"anything else", errors.New("disk full"), Failed},
	} {
		t.Run("classifies "+tc.name, func(t *testing.T) {
			if got := classify(tc.err); got != tc.want {
				t.Errorf("classify(%v) = %q, want %q", tc.err, got, tc.want)
			}
		})
	}
}

func TestError(t *testing.T) {
	err := error(&Error{Op: "fetch", URL: "https://example.com/r.git", Kind: AuthFailed,
		Err: &scrubbed{err: errors.New("server said:\nbad password s3cret\n"), secrets: []string{"s3cret"}}})
	t.Run("reads as one line naming the repository, the operation and the kind", func(t *testing.T) {
		want := "git https://example.com/r.git: fetch: authentication failed: server said: bad password xxxxx"
		if err.Error() != want {
			t.Errorf("Error() = %q, want %q", err.Error(), want)
		}
	})
	t.Run("matches its kind with errors.Is and no other", func(t *testing.T) {
		if !errors.Is(err, AuthFailed) || errors.Is(err, RefNotFound) {
			t.Errorf("errors.Is(err, AuthFailed) = %v, errors.Is(err, RefNotFound) = %v", errors.Is(err, AuthFailed), errors.Is(err, RefNotFound))
		}
	})
	t.Run("is terminal through the interface callers use", func(t *testing.T) {
		var terminal interface{ Terminal() bool }
		if !errors.As(fmt.Errorf("sync: %w", err), &terminal) || !terminal.Terminal() {
			t.Error("an authentication failure is not terminal")
		}
	})
	t.Run("marks only failures retrying can fix as not terminal", func(t *testing.T) {
		for _, k := range []Kind{Unreachable, Canceled, Failed} {
			if k.Terminal() {
				t.Errorf("%q is terminal", k)
			}
		}
	})
}

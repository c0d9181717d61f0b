package render

import (
	"fmt"
	"strings"
)

// Problem says what is wrong with the repository content a render was given.
type Problem string

// The problems a render reports. Each one but RemoteUnreachable is fixed by changing the
// repository, never by retrying.
const (
	InvalidYAML          Problem = "invalid YAML"
	InvalidKustomization Problem = "invalid kustomization"
	MissingFile          Problem = "missing file"
	OutsideRepository    Problem = "path outside the repository"
	RemoteRefused        Problem = "remote reference refused"
	RemoteMismatch       Problem = "remote file does not match its pin"
	RemoteUnreachable    Problem = "remote file unreachable"
	Unsupported          Problem = "unsupported feature"
	InvalidObject        Problem = "invalid object"
	DuplicateObject      Problem = "duplicate object"
	BuildFailed          Problem = "kustomize build failed"
	BuildPanicked        Problem = "kustomize panicked"
	Undecryptable        Problem = "cannot decrypt"
)

func (p Problem) String() string { return string(p) }

// Error is a render failure caused by the repository content. Retrying the same revision cannot
// fix it, so Terminal reports true; callers detect it with errors.As and an interface
// { Terminal() bool }. Render joins several with errors.Join when it finds more than one.
type Error struct {
	// Problem classifies the failure.
	Problem Problem
	// File is the repository-relative file the problem is in, or the file that made the bad reference.
	File string
	// Line is the 1-based line in File, or 0 when unknown.
	Line int
	// Object names the object concerned, as "apps/v1 Deployment web/nginx", or is empty.
	Object string
	// Detail says what is wrong, naming the offending path or value.
	Detail string
	// Fix says what to change in the repository.
	Fix string
	// Err is the underlying cause, if any.
	Err error
}

// Error renders the failure on one line: file[:line]: [object: ]problem: detail; fix: fix.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
	}
	b.WriteString(": ")
	if e.Object != "" {
		b.WriteString(e.Object + ": ")
	}
	b.WriteString(e.Problem.String())
	if e.Detail != "" {
		b.WriteString(": " + oneLine(e.Detail))
	}
	if e.Fix != "" {
		b.WriteString("; fix: " + e.Fix)
	}
	return b.String()
}

// Terminal reports that retrying cannot fix the error: the repository content has to change.
// Only an unreachable remote file may come right on its own.
func (e *Error) Terminal() bool { return e.Problem != RemoteUnreachable }

// Unwrap returns the underlying cause.
func (e *Error) Unwrap() error { return e.Err }

// oneLine folds a multi-line message (kustomize writes some) onto one line.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

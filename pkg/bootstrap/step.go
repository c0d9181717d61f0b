package bootstrap

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/gitsync-io/gitsync/pkg/bootstrap/ssh"
)

// Runner runs commands on one node: an *ssh.Client.
type Runner interface {
	Run(ctx context.Context, cmd ssh.Command) (ssh.Result, error)
	Upload(ctx context.Context, path string, mode os.FileMode, data []byte, sudo bool) error
	ReadFile(ctx context.Context, path string, sudo bool) ([]byte, error)
	Close() error
}

var _ Runner = (*ssh.Client)(nil)

// Host is one node being bootstrapped: its entry in the cluster file, the connection to it,
// and what was learnt about it.
type Host struct {
	Node    Node
	Cluster *Cluster
	Facts   Facts
	run     Runner
}

// NewHost returns the Host of node, reached through r.
func NewHost(c *Cluster, node Node, r Runner) *Host { return &Host{Node: node, Cluster: c, run: r} }

// sh runs a shell script as root and returns its standard output.
func (h *Host) sh(ctx context.Context, script string) (string, error) {
	res, err := h.run.Run(ctx, ssh.Command{Args: []string{"sh", "-c", script}, Sudo: true})
	return strings.TrimSpace(string(res.Stdout)), err
}

// test runs a read-only shell script as root: exit 0 is true, 1 is false, anything else an error.
func (h *Host) test(ctx context.Context, script string) (bool, error) {
	_, err := h.run.Run(ctx, ssh.Command{Args: []string{"sh", "-c", script}, Sudo: true})
	var exit *ssh.ExitError
	switch {
	case err == nil:
		return true, nil
	case errors.As(err, &exit) && exit.ExitStatus == 1:
		return false, nil
	}
	return false, err
}

// probe runs a read-only shell script as root: exit 0 is true; exit 1 is false, with what
// the script printed as the reason; anything else is an error.
func (h *Host) probe(ctx context.Context, script string) (bool, string, error) {
	res, err := h.run.Run(ctx, ssh.Command{Args: []string{"sh", "-c", script}, Sudo: true})
	var exit *ssh.ExitError
	switch {
	case err == nil:
		return true, "", nil
	case errors.As(err, &exit) && exit.ExitStatus == 1:
		return false, strings.TrimSpace(string(res.Stdout)), nil
	}
	return false, "", err
}

// Status is what a step's check found.
type Status struct {
	Done bool
	// Why the step is not done, or how it was found done when that is not obvious.
	Reason string
}

func done() (Status, error)                  { return Status{Done: true}, nil }
func notDone(why string) (Status, error)     { return Status{Reason: why}, nil }
func doneBecause(why string) (Status, error) { return Status{Done: true, Reason: why}, nil }

// Step is one thing a node needs, as check → apply → verify. Check is read-only, so running
// only the checks is the --dry-run plan. Apply runs only when Check found the step not done,
// and Check runs again after it as the verification.
type Step struct {
	Name string
	// Check reports whether the work is done on h.
	Check func(ctx context.Context, h *Host) (Status, error)
	// Apply does the work.
	Apply func(ctx context.Context, h *Host) error
	// Plan says what Apply runs, for --dry-run.
	Plan func(h *Host) []string
}

// File is a file a step writes: its whole content, never an edit of what is there.
type File struct {
	Path    string
	Mode    os.FileMode
	Content string
}

// sameFiles is a check script: true when every file has exactly its content and mode.
func sameFiles(files ...File) string {
	var checks []string
	for _, f := range files {
		sum := sha256.Sum256([]byte(f.Content))
		checks = append(checks, fmt.Sprintf(`[ "$(sha256sum < %s 2>/dev/null | cut -d' ' -f1)" = %s ] && [ "$(stat -c %%a %s)" = %o ]`,
			quote(f.Path), hex.EncodeToString(sum[:]), quote(f.Path), f.Mode))
	}
	return strings.Join(checks, " && ")
}

func (h *Host) write(ctx context.Context, files ...File) error {
	for _, f := range files {
		if err := h.run.Upload(ctx, f.Path, f.Mode, []byte(f.Content), true); err != nil {
			return err
		}
	}
	return nil
}

func filePlans(files ...File) []string {
	var out []string
	for _, f := range files {
		out = append(out, fmt.Sprintf("write %s (mode %o, %d bytes)", f.Path, f.Mode, len(f.Content)))
	}
	return out
}

// quote quotes s for sh.
func quote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

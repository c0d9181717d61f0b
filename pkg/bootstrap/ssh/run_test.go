package ssh_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gitsync-io/gitsync/pkg/bootstrap/ssh"
)

func TestRun(t *testing.T) {
	t.Parallel()
	h := newTestHost(t)
	c := h.dial(t)

	t.Run("returns stdout, stderr and a zero exit status", func(t *testing.T) {
		res, err := c.Run(t.Context(), ssh.Command{Args: []string{"sh", "-c", "echo out; echo err >&2"}})
		if err != nil {
			t.Fatal(err)
		}
		want := ssh.Result{ExitStatus: 0, Stdout: []byte("out\n"), Stderr: []byte("err\n")}
		if diff := cmp.Diff(want, res); diff != "" {
			t.Errorf("Result (-want +got):\n%s", diff)
		}
	})

	t.Run("passes arguments verbatim through the remote shell", func(t *testing.T) {
		args := []string{
			"plain", "with space", "  leading and trailing  ", "", "it's", `"double"`, `'single'`,
			"$HOME", "${PATH}", "$(id -u)", "`id -u`", "line1\nline2", "tab\there", "back\\slash",
			"*", "?", "[a]", "~", "~root", "a;b", "a && b", "a|b", "a>b", "<a", "#comment", "!bang",
			"-n", "--", "=", "a=b", "{a,b}", "%s", "ünïcödé", "\r", "'\\''", "end",
		}
		res, err := c.Run(t.Context(), ssh.Command{Args: append([]string{"printf", `%s\n`}, args...)})
		if err != nil {
			t.Fatal(err)
		}
		got := strings.Split(strings.TrimSuffix(string(res.Stdout), "\n"), "\n")
		want := strings.Split(strings.Join(args, "\n"), "\n")
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("remote printf (-want +got):\n%s", diff)
		}
	})

	t.Run("runs a program whose path needs quoting", func(t *testing.T) {
		program := filepath.Join(t.TempDir(), "my $(prog) 'x'")
		writeFile(t, program, []byte("#!/bin/sh\necho \"ran $1\"\n"), 0o755)
		res, err := c.Run(t.Context(), ssh.Command{Args: []string{program, "a b"}})
		if err != nil {
			t.Fatal(err)
		}
		if got := string(res.Stdout); got != "ran a b\n" {
			t.Errorf("stdout %q, want %q", got, "ran a b\n")
		}
	})

	t.Run("sets environment variables verbatim", func(t *testing.T) {
		res, err := c.Run(t.Context(), ssh.Command{
			Args: []string{"sh", "-c", `printf '%s|%s' "$GREETING" "$EMPTY"`},
			Env:  map[string]string{"GREETING": "hello 'world' $HOME `x`", "EMPTY": ""},
		})
		if err != nil {
			t.Fatal(err)
		}
		if got, want := string(res.Stdout), "hello 'world' $HOME `x`|"; got != want {
			t.Errorf("stdout %q, want %q", got, want)
		}
	})

	t.Run("streams stdin and closes it", func(t *testing.T) {
		res, err := c.Run(t.Context(), ssh.Command{Args: []string{"cat"}, Stdin: strings.NewReader("to stdin\x00\n")})
		if err != nil {
			t.Fatal(err)
		}
		if got, want := string(res.Stdout), "to stdin\x00\n"; got != want {
			t.Errorf("stdout %q, want %q", got, want)
		}
	})

	t.Run("gives a command without stdin an immediate EOF", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		res, err := c.Run(ctx, ssh.Command{Args: []string{"cat"}})
		if err != nil || len(res.Stdout) != 0 {
			t.Fatalf("cat without stdin: %q, %v", res.Stdout, err)
		}
	})

	t.Run("runs Sudo commands directly as root", func(t *testing.T) {
		if h.user != "root" {
			t.Fatalf("the tests run as %s: this case needs root", h.user)
		}
		res, err := c.Run(t.Context(), ssh.Command{Args: []string{"id", "-u"}, Sudo: true})
		if err != nil {
			t.Fatal(err)
		}
		if got := string(res.Stdout); got != "0\n" {
			t.Errorf("id -u = %q, want 0", got)
		}
		if strings.Contains(h.log.String(), "sudo") {
			t.Errorf("root ran through sudo:\n%s", h.log.String())
		}
	})
}

func TestRunFailure(t *testing.T) {
	t.Parallel()
	h := newTestHost(t)
	c := h.dial(t)

	t.Run("names the command, the exit status and the stderr tail", func(t *testing.T) {
		res, err := c.Run(t.Context(), ssh.Command{Args: []string{"sh", "-c", "echo first >&2; echo 'it broke' >&2; exit 3", "my arg"}})
		var exit *ssh.ExitError
		if !errors.As(err, &exit) {
			t.Fatalf("error %v (%T), want *ssh.ExitError", err, err)
		}
		t.Log(err)
		if res.ExitStatus != 3 || exit.ExitStatus != 3 {
			t.Errorf("exit status %d/%d, want 3", res.ExitStatus, exit.ExitStatus)
		}
		wantCommand := `sh -c 'echo first >&2; echo '\''it broke'\'' >&2; exit 3' 'my arg'`
		if exit.Command != wantCommand {
			t.Errorf("Command %s, want %s", exit.Command, wantCommand)
		}
		for _, want := range []string{h.addr, wantCommand, "exited with status 3", "it broke"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not contain %q", err, want)
			}
		}
	})

	t.Run("keeps only the tail of a large output", func(t *testing.T) {
		script := `head -c 300000 /dev/zero | tr '\0' x; head -c 300000 /dev/zero | tr '\0' y >&2; echo; echo LAST LINE >&2; exit 1`
		res, err := c.Run(t.Context(), ssh.Command{Args: []string{"sh", "-c", script}})
		var exit *ssh.ExitError
		if !errors.As(err, &exit) {
			t.Fatalf("error %v, want *ssh.ExitError", err)
		}
		if len(res.Stdout) != ssh.OutputTail || len(res.Stderr) != ssh.OutputTail {
			t.Errorf("kept %d bytes of stdout and %d of stderr, want %d each", len(res.Stdout), len(res.Stderr), ssh.OutputTail)
		}
		if !strings.HasSuffix(string(res.Stderr), "LAST LINE\n") || !strings.HasSuffix(err.Error(), "LAST LINE") {
			t.Errorf("the stderr tail is lost: error ends %q", err.Error()[max(0, len(err.Error())-100):])
		}
	})

	t.Run("reports a killed command's signal", func(t *testing.T) {
		_, err := c.Run(t.Context(), ssh.Command{Args: []string{"sh", "-c", "kill -KILL $$"}})
		var exit *ssh.ExitError
		if !errors.As(err, &exit) || exit.Signal != "KILL" {
			t.Fatalf("error %v, want an *ssh.ExitError with signal KILL", err)
		}
	})

	t.Run("refuses an empty command", func(t *testing.T) {
		if _, err := c.Run(t.Context(), ssh.Command{}); err == nil {
			t.Error("an empty command ran")
		}
	})
}

func TestRunCancel(t *testing.T) {
	t.Parallel()
	h := newTestHost(t)
	c := h.dial(t)

	t.Run("stops a running command when the context ends", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(t.Context(), 500*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err := c.Run(ctx, ssh.Command{Args: []string{"sleep", "317.3"}})
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("error %v, want context.DeadlineExceeded", err)
		}
		// Not a timing test (the machine may be loaded): returning at all before
		// the command would have ended shows the cancellation worked.
		if elapsed := time.Since(start); elapsed > time.Minute {
			t.Errorf("Run returned after %v, want it to return on the 500ms deadline, not when the command ends", elapsed)
		}
		// The remote process is gone too, not only our session.
		res, err := c.Run(t.Context(), ssh.Command{Args: []string{"pgrep", "-f", "^sleep 317.3$"}})
		if res.ExitStatus != 1 {
			t.Errorf("pgrep sleep 317.3 after the cancellation: status %d, %v; want 1 (no such process)", res.ExitStatus, err)
		}
	})

	t.Run("does not start a command when the context has ended", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		if _, err := c.Run(ctx, ssh.Command{Args: []string{"true"}}); !errors.Is(err, context.Canceled) {
			t.Errorf("error %v, want context.Canceled", err)
		}
	})
}

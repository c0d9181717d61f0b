package gitsyncbin

import (
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
)

// Result is one run of the binary.
type Result struct {
	Code           int
	Stdout, Stderr string
}

func (r Result) String() string {
	return "exit " + strconv.Itoa(r.Code) + "\nstdout:\n" + r.Stdout + "stderr:\n" + r.Stderr
}

// Options are a run's surroundings besides its arguments.
type Options struct {
	// Dir is the working directory; empty is a fresh temporary one.
	Dir string
	// Env is added to the clean environment: HOME (a fresh temporary directory) and PATH.
	Env []string
	// Stdin is the standard input.
	Stdin string
	// Stdout, if set, also gets the standard output as it comes.
	Stdout io.Writer
}

// Run runs bin with args and returns its exit code and output; only a failure to start it
// fails the test.
func Run(t testing.TB, bin string, opts Options, args ...string) Result {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), bin, args...)
	cmd.Env = append([]string{"HOME=" + t.TempDir(), "PATH=" + os.Getenv("PATH")}, opts.Env...)
	cmd.Dir = opts.Dir
	if cmd.Dir == "" {
		cmd.Dir = t.TempDir()
	}
	cmd.Stdin = strings.NewReader(opts.Stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if opts.Stdout != nil {
		cmd.Stdout = io.MultiWriter(&stdout, opts.Stdout)
	}
	err := cmd.Run()
	r := Result{Stdout: stdout.String(), Stderr: stderr.String()}
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		r.Code = exit.ExitCode()
	case err != nil:
		t.Fatalf("run gitsync: %v", err)
	}
	return r
}

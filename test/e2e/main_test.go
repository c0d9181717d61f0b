package e2e

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/gitsync-io/gitsync/test/gitsyncbin"
	"github.com/gitsync-io/gitsync/test/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m, testenv.Options{Workloads: true}) }

// binary builds gitsync once per run (see gitsyncbin).
func binary() (string, error) { return gitsyncbin.Build("e2e") }

// result is one gitsync invocation.
type result struct {
	code           int
	stdout, stderr string
}

func (r result) String() string {
	return "exit " + strconv.Itoa(r.code) + "\nstdout:\n" + r.stdout + "stderr:\n" + r.stderr
}

// gitsync runs the binary with args and a clean environment.
func gitsync(t *testing.T, env []string, args ...string) result {
	t.Helper()
	bin, err := binary()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(t.Context(), bin, args...)
	cmd.Env = append([]string{"HOME=" + t.TempDir(), "PATH=" + os.Getenv("PATH")}, env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	r := result{stdout: stdout.String(), stderr: stderr.String()}
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		r.code = exit.ExitCode()
	case err != nil:
		t.Fatalf("run gitsync: %v", err)
	}
	return r
}

// errorLines returns the lines of stderr that report errors.
func errorLines(r result) []string {
	var out []string
	for line := range strings.SplitSeq(strings.TrimSpace(r.stderr), "\n") {
		if strings.HasPrefix(line, "error:") {
			out = append(out, line)
		}
	}
	return out
}

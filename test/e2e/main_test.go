package e2e

import (
	"strings"
	"testing"

	"github.com/gitsync-io/gitsync/test/gitsyncbin"
	"github.com/gitsync-io/gitsync/test/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m, testenv.Options{Workloads: true}) }

// binary builds gitsync once per run (see gitsyncbin).
func binary() (string, error) { return gitsyncbin.Build("e2e") }

// result is one gitsync invocation.
type result = gitsyncbin.Result

// gitsync runs the binary with args and a clean environment, plus env.
func gitsync(t *testing.T, env []string, args ...string) result {
	t.Helper()
	bin, err := binary()
	if err != nil {
		t.Fatal(err)
	}
	return gitsyncbin.Run(t, bin, gitsyncbin.Options{Env: env}, args...)
}

// errorLines returns the lines of stderr that report errors.
func errorLines(r result) []string {
	var out []string
	for line := range strings.SplitSeq(strings.TrimSpace(r.Stderr), "\n") {
		if strings.HasPrefix(line, "error:") {
			out = append(out, line)
		}
	}
	return out
}

package testenv_test

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestControlPlaneIsTornDownHoweverTestsEnd runs a test binary that uses
// testenv.Main (testdata/lifecycle) and ends it in each way a test run can
// end, then checks that no component still runs and the run directory is gone.
func TestControlPlaneIsTornDownHoweverTestsEnd(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "lifecycle.test")
	build := exec.Command("go", "test", "-c", "-o", bin, "./testdata/lifecycle")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build the lifecycle test binary: %v\n%s", err, out)
	}
	for _, tc := range []struct {
		name     string
		args     []string
		wantPass bool
	}{
		{"when the tests pass", []string{"-test.run=^TestPasses$"}, true},
		{"when a test fails", []string{"-test.run=^TestFails$"}, false},
		{"when a test panics", []string{"-test.run=^TestPanics$"}, false},
		{"when the test binary times out", []string{"-test.run=^TestHangs$", "-test.timeout=2s"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			record := filepath.Join(t.TempDir(), "dir")
			cmd := exec.Command(bin, tc.args...)
			cmd.Env = append(os.Environ(), "LIFECYCLE_OUT="+record)
			out, err := cmd.CombinedOutput()
			if passed := err == nil; passed != tc.wantPass {
				t.Fatalf("lifecycle test binary: err=%v, want pass=%v\n%s", err, tc.wantPass, out)
			}
			dir, err := os.ReadFile(record)
			if err != nil {
				t.Fatalf("the inner test did not record its run directory: %v\n%s", err, out)
			}
			waitGone(t, bin, string(dir))
		})
	}
}

// waitGone waits until no process runs bin or mentions dir on its command
// line, and dir does not exist.
func waitGone(t *testing.T, bin, dir string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		left := leftovers(bin, dir)
		if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
			left = append(left, "run directory "+dir)
		}
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("still there 30s after the test binary exited:\n%s", strings.Join(left, "\n"))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func leftovers(bin, dir string) []string {
	var left []string
	procs, _ := filepath.Glob("/proc/[0-9]*")
	for _, p := range procs {
		stat, _ := os.ReadFile(p + "/stat")
		if i := bytes.LastIndexByte(stat, ')'); i >= 0 && i+2 < len(stat) && stat[i+2] == 'Z' {
			continue // exited, waiting to be reaped
		}
		exe, _ := os.Readlink(p + "/exe")
		cmdline, _ := os.ReadFile(p + "/cmdline")
		if exe == bin || bytes.Contains(cmdline, []byte(dir)) {
			left = append(left, "process "+p+": "+string(bytes.ReplaceAll(cmdline, []byte{0}, []byte{' '})))
		}
	}
	return left
}

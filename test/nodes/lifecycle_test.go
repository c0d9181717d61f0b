package nodes_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gitsync-io/gitsync/test/nodes"
)

// TestNodesAreGoneHoweverTestsEnd runs a test binary that starts a cluster
// (testdata/lifecycle) and ends it in each way a test run can end, then
// checks that nothing of the cluster is left: no process (nspawn, the node's
// systemd, the supervisor), no mount, no host link, no cgroup, no files.
func TestNodesAreGoneHoweverTestsEnd(t *testing.T) {
	nodes.Rootfs(t) // built here, not under the inner binaries' timeouts
	bin := filepath.Join(t.TempDir(), "lifecycle.test")
	if out, err := exec.Command("go", "test", "-c", "-o", bin, "./testdata/lifecycle").CombinedOutput(); err != nil {
		t.Fatalf("build the lifecycle test binary: %v\n%s", err, out)
	}
	for _, tc := range []struct {
		name     string
		args     []string
		kill     bool // SIGKILL the binary once the cluster is up
		wantPass bool
	}{
		{name: "when the tests pass", args: []string{"-test.run=^TestPasses$"}, wantPass: true},
		{name: "when a test fails", args: []string{"-test.run=^TestFails$"}},
		{name: "when a test panics", args: []string{"-test.run=^TestPanics$"}},
		{name: "when the test binary times out", args: []string{"-test.run=^TestHangs$", "-test.timeout=20s"}},
		{name: "when the test binary is killed", args: []string{"-test.run=^TestHangs$"}, kill: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			record := filepath.Join(t.TempDir(), "record.json")
			var out bytes.Buffer
			cmd := exec.Command(bin, append(tc.args, "-test.v")...)
			cmd.Env = append(os.Environ(), "LIFECYCLE_OUT="+record)
			cmd.Stdout, cmd.Stderr = &out, &out
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			if tc.kill {
				waitForFile(t, record, time.Minute)
				dir, bridge := readRecord(t, record, &out)
				seesCluster(t, leftovers(dir, bridge))
				_ = cmd.Process.Kill()
			}
			err := cmd.Wait()
			if passed := err == nil; passed != tc.wantPass {
				t.Fatalf("lifecycle test binary: err=%v, want pass=%v\n%s", err, tc.wantPass, &out)
			}
			dir, bridge := readRecord(t, record, &out)
			waitGone(t, dir, bridge)
		})
	}
}

func readRecord(t *testing.T, path string, out *bytes.Buffer) (dir, bridge string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("the inner test did not record its cluster: %v\n%s", err, out)
	}
	var rec struct{ Dir, Bridge string }
	if err := json.Unmarshal(data, &rec); err != nil || rec.Dir == "" || rec.Bridge == "" {
		t.Fatalf("record %s: %v", data, err)
	}
	return rec.Dir, rec.Bridge
}

// seesCluster checks that leftovers finds each kind of thing a live
// cluster has, so that its finding nothing afterwards means something.
func seesCluster(t *testing.T, left []string) {
	t.Helper()
	for _, kind := range []string{"process ", "a mount ", "host link ", "cgroup ", "run directory "} {
		if !slices.ContainsFunc(left, func(s string) bool { return strings.HasPrefix(s, kind) }) {
			t.Errorf("leftovers does not see the live cluster's %q in:\n%s", kind, strings.Join(left, "\n"))
		}
	}
}

func waitForFile(t *testing.T, path string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if _, err := os.Stat(path); err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not appear within %s", path, timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitGone waits until nothing of the cluster in dir is left.
func waitGone(t *testing.T, dir, bridge string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		left := leftovers(dir, bridge)
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("still there 30s after the test binary exited:\n%s", strings.Join(left, "\n"))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// leftovers lists what remains of a cluster: processes that mention dir
// (supervisor, nsenter, systemd-nspawn) or live in its cgroups (the nodes'
// own); mounts under dir in any mount namespace; the host link; the cgroup
// directories; dir itself.
func leftovers(dir, bridge string) []string {
	var left []string
	cgroup := []byte("/" + filepath.Base(dir) + "/")
	procs, _ := filepath.Glob("/proc/[0-9]*")
	for _, p := range procs {
		stat, _ := os.ReadFile(p + "/stat")
		if i := bytes.LastIndexByte(stat, ')'); i >= 0 && i+2 < len(stat) && stat[i+2] == 'Z' {
			continue // exited, waiting to be reaped
		}
		cmdline, _ := os.ReadFile(p + "/cmdline")
		cgroups, _ := os.ReadFile(p + "/cgroup")
		if bytes.Contains(cmdline, []byte(dir)) || bytes.Contains(cgroups, cgroup) {
			left = append(left, "process "+p+": "+string(bytes.ReplaceAll(cmdline, []byte{0}, []byte{' '})))
		}
		if mounts, _ := os.ReadFile(p + "/mountinfo"); bytes.Contains(mounts, []byte(dir)) {
			left = append(left, "a mount under "+dir+" in the mount namespace of "+p)
		}
	}
	if _, err := net.InterfaceByName(bridge); err == nil {
		left = append(left, "host link "+bridge)
	}
	cgroupDirs, _ := filepath.Glob("/sys/fs/cgroup/*/" + filepath.Base(dir))
	if more, _ := filepath.Glob("/sys/fs/cgroup/" + filepath.Base(dir)); len(more) > 0 {
		cgroupDirs = append(cgroupDirs, more...)
	}
	for _, cg := range cgroupDirs {
		left = append(left, "cgroup "+cg)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		left = append(left, "run directory "+dir)
	}
	return left
}

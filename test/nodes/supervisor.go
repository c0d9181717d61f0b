package nodes

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// supervisorScript holds a cluster's namespaces and cleans up after them. Its
// stdin is the lifeline: only the test process holds the write end, so it
// closes when the test process exits in any way, even on SIGKILL.
//
// The namespaces' init is cat reading the lifeline; everything of the cluster
// (mounts, bridge, systemd-nspawn and the nodes) lives in its PID, mount and
// network namespaces. When cat ends, the kernel kills every process in them
// and frees their mounts and network devices, the host's end of the bridge
// link included. What the kernel leaves, cgroup directories (arguments after
// the first) and the run directory (the first), this script removes.
const supervisorScript = `
run=$1; shift
exec 3<&0 </dev/null
unshare --pid --fork --kill-child --mount --net --propagation=private --mount-proc cat <&3 >/dev/null 3<&- &
exec 3<&-
echo "$!"
wait "$!"
status=0
for cg; do
	tries=0
	while [ -d "$cg" ] && [ "$tries" -lt 100 ]; do
		find "$cg" -depth -type d -exec rmdir {} + 2>/dev/null
		[ -d "$cg" ] && sleep 0.1
		tries=$((tries + 1))
	done
	if [ -d "$cg" ]; then echo "cgroup $cg is still in use" >&2; status=1; fi
done
rm -rf "$run" || status=1
exit $status
`

// supervisor is the process that holds a cluster's namespaces.
type supervisor struct {
	cmd      *exec.Cmd
	lifeline io.Closer
	stderr   bytes.Buffer // read only after exited is closed
	exited   chan struct{}
	err      error // valid after exited is closed
	// cgroups are the cluster's cgroup directories, one per hierarchy.
	cgroups []string
	// init is the host PID of the namespaces' init; commands enter the
	// namespaces through it.
	init int
}

func startSupervisor(run string, cgroups []string) (*supervisor, error) {
	s := &supervisor{cgroups: cgroups, exited: make(chan struct{})}
	s.cmd = exec.Command("sh", append([]string{"-c", supervisorScript, "sh", run}, cgroups...)...)
	// Its own process group: a ^C to the test must not stop the clean-up.
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	s.cmd.Stderr = &s.stderr
	lifeline, err := s.cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := s.cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := s.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start supervisor: %w", err)
	}
	s.lifeline = lifeline
	go func() { s.err = s.cmd.Wait(); close(s.exited) }()

	line, _ := bufio.NewReader(out).ReadString('\n')
	unshare, err := strconv.Atoi(strings.TrimSpace(line))
	if err == nil {
		s.init, err = waitFor(5*time.Second, s.exited, func() (int, bool) {
			if kids := childPIDs(unshare); len(kids) > 0 {
				return kids[0], true
			}
			return 0, false
		})
	}
	if err != nil {
		_ = s.stop(10 * time.Second)
		return nil, fmt.Errorf("supervisor: no namespaces (%v): %s", err, s.stderr.String())
	}
	return s, nil
}

// command returns a command that runs in the cluster's namespaces: mount,
// network and PID.
func (s *supervisor) command(args ...string) *exec.Cmd {
	return exec.Command("nsenter", append([]string{"-t", strconv.Itoa(s.init), "-m", "-n", "-p", "--"}, args...)...)
}

// run runs args in the cluster's namespaces.
func (s *supervisor) run(stdin string, args ...string) error {
	cmd := s.command(args...)
	cmd.Stdin = strings.NewReader(stdin)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%s: %w: %s", strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return nil
}

// path returns how the host reaches path as the cluster's mount namespace
// sees it (where node roots are mounted).
func (s *supervisor) path(path string) string {
	return fmt.Sprintf("/proc/%d/root%s", s.init, path)
}

// stop closes the lifeline and waits for the supervisor to clean up.
func (s *supervisor) stop(timeout time.Duration) error {
	_ = s.lifeline.Close()
	select {
	case <-s.exited:
	case <-time.After(timeout):
		return fmt.Errorf("supervisor still cleaning up after %s", timeout)
	}
	if s.err != nil {
		return fmt.Errorf("supervisor: %w: %s", s.err, bytes.TrimSpace(s.stderr.Bytes()))
	}
	return nil
}

// waitFor polls f until it reports done, the timeout passes or quit closes.
func waitFor[T any](timeout time.Duration, quit <-chan struct{}, f func() (T, bool)) (T, error) {
	deadline := time.Now().Add(timeout)
	for {
		if v, ok := f(); ok {
			return v, nil
		}
		var zero T
		select {
		case <-quit:
			return zero, errors.New("the process exited")
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return zero, fmt.Errorf("not within %s", timeout)
		}
	}
}

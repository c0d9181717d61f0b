package nodes

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"testing"
)

var errNotRunning = errors.New("not running")

// Command returns a command that runs args as root inside the running node:
// in its mount, UTS, IPC, network and PID namespaces, with its root
// directory (nsenter into its systemd; no SSH involved). For a stopped node
// the command fails to start. Use it for assertions; the code under test
// should reach nodes over SSH.
func (n *Node) Command(ctx context.Context, args ...string) *exec.Cmd {
	pid := n.PID()
	cmd := exec.CommandContext(ctx, "nsenter", append([]string{
		"--target", strconv.Itoa(pid), "--mount", "--uts", "--ipc", "--net", "--pid", "--root", "--wd", "--",
	}, args...)...)
	cmd.Env = []string{
		"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		"HOME=/root", "LANG=C.UTF-8", "TERM=dumb", "SYSTEMD_COLORS=0",
	}
	if pid == 0 {
		cmd.Err = fmt.Errorf("node %s: %w", n.Name, errNotRunning)
	}
	return cmd
}

// Exec runs args inside the node (see Command) and returns its standard
// output; the test fails if the command does. It runs with t.Context(), so
// not in t's Cleanup functions: use Command there.
func (n *Node) Exec(t testing.TB, args ...string) string {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd := n.Command(t.Context(), args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("nodes: %s: %s: %v\nstdout:\n%s\nstderr:\n%s", n.Name, strings.Join(args, " "), err, &stdout, &stderr)
	}
	return stdout.String()
}

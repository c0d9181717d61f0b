package e2e

import (
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/gitsync-io/gitsync/test/internal/syncbuf"
)

// background is a gitsync process left running, killed when the test ends.
type background struct {
	t      *testing.T
	cmd    *exec.Cmd
	logs   syncbuf.Buffer
	exited chan error
}

// startGitsync starts the binary with args and env in the background.
func startGitsync(t *testing.T, env []string, args ...string) *background {
	t.Helper()
	bin, err := binary()
	if err != nil {
		t.Fatal(err)
	}
	p := &background{t: t, cmd: exec.Command(bin, args...), exited: make(chan error, 1)}
	p.cmd.Env = append([]string{"HOME=" + t.TempDir()}, env...)
	p.cmd.Stdout, p.cmd.Stderr = &p.logs, &p.logs
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.exited <- p.cmd.Wait() }()
	t.Cleanup(func() { _ = p.cmd.Process.Kill() })
	return p
}

// stop sends SIGTERM and returns the exit error, failing the test if the
// process takes more than 10 s.
func (p *background) stop() error {
	p.t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		p.t.Fatal(err)
	}
	select {
	case err := <-p.exited:
		return err
	case <-time.After(10 * time.Second):
		p.t.Fatalf("gitsync did not stop within 10s of SIGTERM; logs:\n%s", p.logs.String())
		return nil
	}
}

// eventually polls cond every 50 ms for up to timeout.
func (p *background) eventually(what string, timeout time.Duration, cond func() bool) {
	p.t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			p.t.Fatalf("%s: not within %s; logs:\n%s", what, timeout, p.logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

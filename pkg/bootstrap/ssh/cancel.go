package ssh

import (
	"bytes"
	"context"
	"io"
	"strconv"
	"sync/atomic"
	"time"

	xssh "golang.org/x/crypto/ssh"
)

// Stopping a command whose context ended. The SSH "signal" request would
// do, but sshd refuses it for root logins ("session signalling requires
// privilege separation"), and closing the session does not stop a command
// that neither reads stdin nor writes. So the remote shell first prints
// its PID on stderr (a marker line that Run strips), then execs the
// command in its place; sshd made that shell a process group leader, so
// `kill -TERM -- -PID` from a second session stops the command and its
// children.

// pidMarker starts the line that reports the command's PID on stderr.
const pidMarker = "gitsync-ssh-pid:"

// How long a cancelled command gets after the signal request, after the
// kill, and after the session's close, before the next, harder step.
const (
	signalGrace = 500 * time.Millisecond
	cancelGrace = 5 * time.Second
)

// wireCommand is what the remote shell runs for line: report the PID,
// then become the command.
func wireCommand(line string) string {
	return `printf '` + pidMarker + `%s\n' "$$" >&2; exec ` + line
}

// wait waits for the command to exit or ctx to end. When ctx ends it asks
// the command to stop, ever harder: the SIGTERM signal request, then kill
// -TERM of its process group, then the close of the session and at last
// of the connection. It returns ctx's error.
func (c *Client) wait(ctx context.Context, session *xssh.Session, inv invocation, pid *pidFilter) error {
	done := make(chan error, 1)
	go func() { done <- session.Wait() }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	_ = session.Signal(xssh.SIGTERM)
	if waitFor(done, signalGrace) {
		return context.Cause(ctx)
	}
	c.kill(ctx, inv, pid.await(cancelGrace))
	if waitFor(done, cancelGrace) {
		return context.Cause(ctx)
	}
	_ = session.Close()
	if !waitFor(done, cancelGrace) {
		_ = c.conn.Close()
		<-done
	}
	return context.Cause(ctx)
}

func waitFor(done <-chan error, d time.Duration) bool {
	select {
	case <-done:
		return true
	case <-time.After(d):
		return false
	}
}

// kill sends SIGTERM to the process group of a cancelled command from a
// second session, through sudo when the command runs as root.
func (c *Client) kill(ctx context.Context, inv invocation, pid int) {
	if pid <= 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cancelGrace)
	defer cancel()
	killCmd := Command{Args: []string{"kill", "-TERM", "--", "-" + strconv.Itoa(pid)}, Sudo: inv.sudo != sudoNone}
	killInv, err := buildInvocation(killCmd, inv.sudo, c.cfg.SudoPassword)
	if err == nil {
		_, _ = c.run(ctx, killInv, nil, false)
	}
}

// pidFilter passes stderr through, except the marker line reporting the
// command's PID, which it records. Only lines before the marker are
// checked: it comes first unless the login shell's startup files print.
type pidFilter struct {
	next  io.Writer
	buf   []byte
	found bool
	value atomic.Int64
	known chan struct{} // closed once found
}

func newPIDFilter(next io.Writer) *pidFilter {
	return &pidFilter{next: next, known: make(chan struct{})}
}

// maxBeforeMarker bounds the stderr scanned for the marker.
const maxBeforeMarker = 8 << 10

func (f *pidFilter) Write(p []byte) (int, error) {
	if f.found {
		return f.next.Write(p)
	}
	f.buf = append(f.buf, p...)
	for !f.found {
		i := bytes.IndexByte(f.buf, '\n')
		if i < 0 {
			if len(f.buf) > maxBeforeMarker {
				f.setFound() // give up; stop buffering
			}
			break
		}
		line := f.buf[:i+1]
		f.buf = f.buf[i+1:]
		if pid, ok := bytes.CutPrefix(bytes.TrimSuffix(line, []byte("\n")), []byte(pidMarker)); ok {
			n, _ := strconv.Atoi(string(pid))
			f.value.Store(int64(n))
			f.setFound()
		} else if _, err := f.next.Write(line); err != nil {
			return len(p), err
		}
	}
	if f.found && len(f.buf) > 0 {
		_, err := f.next.Write(f.buf)
		f.buf = nil
		return len(p), err
	}
	return len(p), nil
}

// flush passes on what is held back when stderr ends.
func (f *pidFilter) flush() {
	if len(f.buf) > 0 {
		_, _ = f.next.Write(f.buf)
		f.buf = nil
	}
}

func (f *pidFilter) setFound() {
	f.found = true
	close(f.known)
}

// await returns the command's PID, waiting at most d for its marker: a
// command cancelled right after it started, on a loaded machine, may not have
// reported it yet. 0 means it never did.
func (f *pidFilter) await(d time.Duration) int {
	select {
	case <-f.known:
	case <-time.After(d):
	}
	return int(f.value.Load())
}

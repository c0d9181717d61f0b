package ssh

import (
	"context"
	"errors"
	"fmt"
	"io"

	xssh "golang.org/x/crypto/ssh"
)

// Result is what a finished command left: its exit status and the tails of
// its output.
type Result struct {
	ExitStatus int
	Stdout     []byte // the last OutputTail bytes
	Stderr     []byte // the last OutputTail bytes
}

// OutputTail bounds the stdout and stderr a Result keeps. Use
// Command.Stdout for the whole of a large output.
const OutputTail = 64 << 10

// Run runs cmd on the host and waits for it. A non-zero exit returns the
// Result and an *ExitError naming the command, its status and the tail of
// its stderr. When ctx ends first, the command and its children get
// SIGTERM, and Run returns ctx's error (see wait).
func (c *Client) Run(ctx context.Context, cmd Command) (Result, error) {
	mode := sudoNone
	if cmd.Sudo {
		var err error
		if mode, err = c.sudoMode(ctx); err != nil {
			return Result{}, err
		}
	}
	inv, err := buildInvocation(cmd, mode, c.cfg.SudoPassword)
	if err != nil {
		return Result{}, fmt.Errorf("%s: %w", c.host, err)
	}
	return c.run(ctx, inv, cmd.Stdout, cmd.HideOutput)
}

// run executes one invocation: log its header, stream stdin, capture and
// log output, wait for the exit or for ctx.
func (c *Client) run(ctx context.Context, inv invocation, stdoutCopy io.Writer, hideStdout bool) (Result, error) {
	if err := ctx.Err(); err != nil {
		return Result{}, fmt.Errorf("%s: %s: %w", c.host, c.redact.apply(inv.line), err)
	}
	session, err := c.conn.NewSession()
	if err != nil {
		return Result{}, fmt.Errorf("%s: new session: %w", c.host, err)
	}
	defer func() { _ = session.Close() }()

	c.log.command(inv.line)
	stdout, stderr := &tailBuffer{max: OutputTail}, &tailBuffer{max: OutputTail}
	outLog, errLog := c.log.output("out", hideStdout), c.log.output("err", false)
	pid := newPIDFilter(io.MultiWriter(stderr, errLog))
	session.Stdout = io.MultiWriter(stdout, outLog, orDiscard(stdoutCopy))
	session.Stderr = pid
	stdin, err := session.StdinPipe()
	if err != nil {
		return Result{}, fmt.Errorf("%s: stdin: %w", c.host, err)
	}
	if err := session.Start(wireCommand(inv.line)); err != nil {
		return Result{}, fmt.Errorf("%s: %s: %w", c.host, c.redact.apply(inv.line), err)
	}
	go feed(stdin, inv.stdin)

	err = c.wait(ctx, session, inv, pid)
	pid.flush()
	outLog.close()
	errLog.close()
	res := Result{Stdout: stdout.bytes(), Stderr: stderr.bytes()}
	return res, c.exitError(ctx, inv.line, &res, err)
}

// feed streams r to the command's stdin and closes it, so that a command
// reading stdin sees EOF. It is not part of Wait: a reader that blocks must
// not hold up a command that has exited.
func feed(stdin io.WriteCloser, r io.Reader) {
	if r != nil {
		_, _ = io.Copy(stdin, r)
	}
	_ = stdin.Close()
}

func orDiscard(w io.Writer) io.Writer {
	if w == nil {
		return io.Discard
	}
	return w
}

// exitError fills in res.ExitStatus and turns a failure into an error:
// *ExitError for a non-zero exit, ctx's error on cancellation.
func (c *Client) exitError(ctx context.Context, line string, res *Result, err error) error {
	var exit *xssh.ExitError
	var missing *xssh.ExitMissingError
	switch {
	case err == nil:
		return nil
	case ctx.Err() != nil && errors.Is(err, context.Cause(ctx)):
		res.ExitStatus = -1
		c.log.printf("  %s", err)
		return fmt.Errorf("%s: %s: %w", c.host, c.redact.apply(line), err)
	case errors.As(err, &exit):
		res.ExitStatus = exit.ExitStatus()
		e := &ExitError{
			Host:       c.host,
			Command:    c.redact.apply(line),
			ExitStatus: exit.ExitStatus(),
			Signal:     exit.Signal(),
			Stderr:     c.redact.apply(string(res.Stderr)),
		}
		c.log.printf("  %s", e.status())
		return e
	case errors.As(err, &missing):
		res.ExitStatus = -1
		return fmt.Errorf("%s: %s: ended without an exit status (connection lost?)", c.host, c.redact.apply(line))
	}
	res.ExitStatus = -1
	return fmt.Errorf("%s: %s: %w", c.host, c.redact.apply(line), err)
}

package ssh

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// CheckSudo checks that Sudo commands can run as root on the host: nothing
// to do for root; otherwise `sudo -n true` must pass, or the configured
// sudo password must be accepted. It returns a *SudoError saying what to
// change (k3sup users otherwise meet a hanging or cryptic sudo prompt).
func (c *Client) CheckSudo(ctx context.Context) error {
	_, err := c.sudoMode(ctx)
	return err
}

// sudoMode finds, once per client, how this user becomes root.
func (c *Client) sudoMode(ctx context.Context) (sudoMode, error) {
	c.sudoMu.Lock()
	defer c.sudoMu.Unlock()
	if c.sudoKnown {
		return c.sudo, nil
	}
	mode, err := c.probeSudo(ctx)
	if err != nil {
		return 0, err
	}
	c.sudo, c.sudoKnown = mode, true
	return mode, nil
}

// probeSudo asks the host: root (id -u is 0) needs no sudo; `sudo -k -n
// true` passes with NOPASSWD; otherwise the password must work. -k ignores
// cached credentials, so the answer does not depend on an earlier sudo.
func (c *Client) probeSudo(ctx context.Context) (sudoMode, error) {
	if c.cfg.User == "root" {
		return sudoNone, nil
	}
	res, err := c.probe(ctx, invocation{line: "id -u"})
	if err != nil {
		return 0, err
	}
	if strings.TrimSpace(string(res.Stdout)) == "0" {
		return sudoNone, nil
	}
	res, err = c.probe(ctx, invocation{line: "sudo -k -n true"})
	if err != nil {
		return 0, err
	}
	problem := sudoProblem(res)
	if problem == "" {
		return sudoNoPassword, nil
	}
	if problem != sudoNeedsPassword || c.cfg.SudoPassword == "" {
		return 0, c.sudoError(problem, res)
	}
	res, err = c.probe(ctx, invocation{
		line:  "sudo -k -S -p '' true",
		stdin: strings.NewReader(c.cfg.SudoPassword + "\n"),
	})
	if err != nil {
		return 0, err
	}
	if problem := sudoPasswordProblem(res); problem != "" {
		return 0, c.sudoError(problem, res)
	}
	return sudoPassword, nil
}

// sudoError names the user in the fix and keeps what sudo said.
func (c *Client) sudoError(problem string, res Result) *SudoError {
	return &SudoError{
		Host:   c.host,
		User:   c.cfg.User,
		Reason: strings.ReplaceAll(problem, "USER", c.cfg.User),
		Stderr: c.redact.apply(string(res.Stderr)),
	}
}

// probe runs a probe command: a non-zero exit is an answer, not an error.
func (c *Client) probe(ctx context.Context, inv invocation) (Result, error) {
	res, err := c.run(ctx, inv, nil, false)
	var exit *ExitError
	if errors.As(err, &exit) {
		return res, nil
	}
	return res, err
}

const (
	sudoNeedsPassword = "it needs a password: allow this user sudo without one " +
		"(a line `USER ALL=(ALL) NOPASSWD: ALL` in /etc/sudoers.d/) or give the sudo password"
	sudoMissing = "sudo is not installed: install it (apt-get install sudo) or connect as root"
)

// sudoProblem reads the answer to `sudo -k -n true`: "" when sudo works
// without a password, otherwise what is wrong and how to fix it.
func sudoProblem(res Result) string {
	stderr := string(res.Stderr)
	switch {
	case res.ExitStatus == 0:
		return ""
	case res.ExitStatus == 127 || strings.Contains(stderr, "not found"):
		return sudoMissing
	case strings.Contains(stderr, "password is required"):
		return sudoNeedsPassword
	}
	return fmt.Sprintf("sudo -n true failed with status %d", res.ExitStatus)
}

// sudoPasswordProblem reads the answer to `sudo -k -S true` fed the
// password: "" when sudo accepted it.
func sudoPasswordProblem(res Result) string {
	stderr := string(res.Stderr)
	switch {
	case res.ExitStatus == 0:
		return ""
	case strings.Contains(stderr, "incorrect password") || strings.Contains(stderr, "try again"):
		return "the sudo password was rejected"
	case strings.Contains(stderr, "sudoers"):
		return "this user may not run commands as root: add it to the sudo group (usermod -aG sudo USER)"
	}
	return fmt.Sprintf("sudo -S true failed with status %d", res.ExitStatus)
}

package ssh_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gitsync-io/gitsync/pkg/bootstrap/ssh"
)

func TestLog(t *testing.T) {
	t.Parallel()
	h := newTestHost(t)
	const sudoPassword, secret, later = "hunter2 sudo", "s3cr3t-token", "learnt-after-dial"
	h.cfg.SudoPassword = sudoPassword
	h.cfg.Secrets = []string{secret}

	t.Run("writes a header per command and its output lines, prefixed with the host", func(t *testing.T) {
		log := &syncBuffer{}
		cfg := h.cfg
		cfg.Log = log
		c := dial(t, cfg)
		if _, err := c.Run(t.Context(), ssh.Command{Args: []string{"sh", "-c", "printf 'a\\nb c\\n'; echo oops >&2; printf 'no newline'"}}); err != nil {
			t.Fatal(err)
		}
		_, _ = c.Run(t.Context(), ssh.Command{Args: []string{"false"}})
		p := "[" + c.Host() + "] "
		want := []string{
			p + `$ sh -c 'printf '\''a\nb c\n'\''; echo oops >&2; printf '\''no newline'\'''`,
			p + "  out| a",
			p + "  out| b c",
			p + "  err| oops",
			p + "  out| no newline",
			p + "$ false",
			p + "  exited with status 1",
		}
		t.Logf("log:\n%s", log)
		got := strings.Split(strings.TrimSuffix(log.String(), "\n"), "\n")
		// stdout and stderr are logged as they arrive: compare each stream's order.
		if diff := cmp.Diff(sorted(want), sorted(got)); diff != "" {
			t.Errorf("log lines (-want +got):\n%s", diff)
		}
		if got[0] != want[0] || got[len(got)-2] != want[5] {
			t.Errorf("log does not start each command with its header:\n%s", log)
		}
	})

	t.Run("never shows the sudo password or a secret, in the log or in errors", func(t *testing.T) {
		c := h.dial(t)
		c.Redact(later)
		runs := []ssh.Command{
			{Args: []string{"printf", `%s\n`, sudoPassword, secret, later}, Sudo: true},
			{Args: []string{"sh", "-c", `echo "$1" >&2; exit 4`, "sh", "token=" + secret}},
			{Args: []string{"env"}, Env: map[string]string{"TOKEN": secret}},
		}
		var errs []error
		for _, cmd := range runs {
			if _, err := c.Run(t.Context(), cmd); err != nil {
				errs = append(errs, err)
			}
		}
		var exit *ssh.ExitError
		if len(errs) != 1 || !errors.As(errs[0], &exit) {
			t.Fatalf("errors %v, want the one *ssh.ExitError", errs)
		}
		log := h.log.String()
		for _, leak := range []string{sudoPassword, secret, later} {
			if strings.Contains(log, leak) {
				t.Errorf("the log shows %q:\n%s", leak, log)
			}
			if strings.Contains(exit.Error(), leak) {
				t.Errorf("the error shows %q: %s", leak, exit)
			}
		}
		if !strings.Contains(log, "[redacted]") || !strings.Contains(exit.Error(), "token=[redacted]") {
			t.Errorf("redactions are not marked:\n%s\n%s", log, exit)
		}
	})
}

func sorted(lines []string) []string {
	return slices.Sorted(slices.Values(lines))
}

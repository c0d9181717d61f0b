package ssh

import (
	"io"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestBuildInvocation(t *testing.T) {
	const password = "pa$$ 'word"
	upload := Command{Args: []string{"install", "-D", "-m", "0600", "/dev/stdin", "/etc/my dir/f"}, Stdin: strings.NewReader("DATA")}
	type sent struct {
		Line  string
		Stdin string
	}
	for _, tc := range []struct {
		name string
		cmd  Command
		mode sudoMode
		want sent
	}{
		{
			name: "runs a command without sudo as it is",
			cmd:  upload,
			mode: sudoPassword,
			want: sent{Line: "install -D -m 0600 /dev/stdin '/etc/my dir/f'", Stdin: "DATA"},
		},
		{
			name: "runs a Sudo command directly for root",
			cmd:  withSudo(upload),
			mode: sudoNone,
			want: sent{Line: "install -D -m 0600 /dev/stdin '/etc/my dir/f'", Stdin: "DATA"},
		},
		{
			name: "uses sudo -n without a password",
			cmd:  withSudo(upload),
			mode: sudoNoPassword,
			want: sent{Line: "sudo -n -- install -D -m 0600 /dev/stdin '/etc/my dir/f'", Stdin: "DATA"},
		},
		{
			name: "feeds the password on stdin before the data, never on the command line",
			cmd:  withSudo(upload),
			mode: sudoPassword,
			want: sent{Line: "sudo -k -S -p '' -- install -D -m 0600 /dev/stdin '/etc/my dir/f'", Stdin: password + "\nDATA"},
		},
		{
			name: "feeds only the password to a Sudo command without stdin",
			cmd:  Command{Args: []string{"systemctl", "restart", "kubelet"}, Sudo: true},
			mode: sudoPassword,
			want: sent{Line: "sudo -k -S -p '' -- systemctl restart kubelet", Stdin: password + "\n"},
		},
		{
			name: "sets the environment after sudo, so that sudo keeps it",
			cmd:  Command{Args: []string{"kubeadm", "init"}, Sudo: true, Env: map[string]string{"KUBECONFIG": "/etc/kubernetes/admin.conf", "B": "x y"}},
			mode: sudoNoPassword,
			want: sent{Line: "sudo -n -- env 'B=x y' KUBECONFIG=/etc/kubernetes/admin.conf kubeadm init"},
		},
		{
			name: "quotes a program name that is a shell keyword",
			cmd:  Command{Args: []string{"time", "ls"}},
			want: sent{Line: "'time' ls"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			inv, err := buildInvocation(tc.cmd, tc.mode, password)
			if err != nil {
				t.Fatal(err)
			}
			got := sent{Line: inv.line}
			if inv.stdin != nil {
				data, _ := io.ReadAll(inv.stdin)
				got.Stdin = string(data)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("sent (-want +got):\n%s", diff)
			}
			if strings.Contains(inv.line, "pa$$") {
				t.Errorf("the password is on the command line: %s", inv.line)
			}
			upload.Stdin = strings.NewReader("DATA")
		})
	}
}

func withSudo(c Command) Command {
	c.Sudo = true
	c.Stdin = strings.NewReader("DATA")
	return c
}

func TestBuildInvocationRefuses(t *testing.T) {
	for _, tc := range []struct {
		name     string
		cmd      Command
		password string
	}{
		{"an empty command", Command{}, ""},
		{"an empty program name", Command{Args: []string{""}}, ""},
		{"a program name with '=' (env and sudo read it as a variable)", Command{Args: []string{"A=b"}}, ""},
		{"a NUL byte in an argument", Command{Args: []string{"echo", "a\x00b"}}, ""},
		{"an invalid environment variable name", Command{Args: []string{"env"}, Env: map[string]string{"A-B": "x"}}, ""},
		{"a sudo password with a line break", Command{Args: []string{"true"}, Sudo: true}, "a\nb"},
	} {
		t.Run("refuses "+tc.name, func(t *testing.T) {
			if inv, err := buildInvocation(tc.cmd, sudoPassword, tc.password); err == nil {
				t.Errorf("built %q", inv.line)
			}
		})
	}
}

func TestQuote(t *testing.T) {
	for in, want := range map[string]string{
		"plain":             "plain",
		"/etc/kubernetes/x": "/etc/kubernetes/x",
		"--flag=value":      "--flag=value",
		"":                  "''",
		"a b":               "'a b'",
		"it's":              `'it'\''s'`,
		"$HOME":             "'$HOME'",
		"`id`":              "'`id`'",
		"a\nb":              "'a\nb'",
		"~":                 "'~'",
		"*":                 "'*'",
		"ü":                 "'ü'",
	} {
		if got := quote(in); got != want {
			t.Errorf("quote(%q) = %s, want %s", in, got, want)
		}
	}
}

func TestCommandString(t *testing.T) {
	cmd := Command{Args: []string{"kubeadm", "join", "10.0.0.1:6443", "--token", "a b"}, Sudo: true}
	if got, want := cmd.String(), "kubeadm join 10.0.0.1:6443 --token 'a b'"; got != want {
		t.Errorf("String() = %s, want %s", got, want)
	}
}

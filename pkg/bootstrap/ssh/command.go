package ssh

import (
	"errors"
	"fmt"
	"io"
	"maps"
	"regexp"
	"slices"
	"strings"
)

// Command is one program and its arguments to run on the host. Args reach
// the program verbatim: each is quoted for the remote login shell, which
// must be a POSIX shell (sh, bash, dash), and the shell execs the program,
// so Args[0] is a program, not a builtin or a function: use
// {"sh", "-c", script} for shell syntax.
type Command struct {
	Args []string
	// Env sets environment variables for the program (through env(1), so
	// it needs no AcceptEnv on the server and survives sudo).
	Env map[string]string
	// Sudo runs the program as root: through `sudo -n`, or `sudo -S` with
	// Config.SudoPassword; directly when the user is root.
	Sudo bool
	// Stdin is streamed to the program's standard input; nil means none.
	Stdin io.Reader
	// Stdout, when set, receives the program's whole standard output;
	// Result.Stdout keeps only its tail either way.
	Stdout io.Writer
	// HideOutput keeps standard output out of the log (file contents, join
	// tokens); only its size is logged.
	HideOutput bool
}

// String is the command as a user would type it, without sudo.
func (c Command) String() string {
	inv, err := buildInvocation(c, sudoNone, "")
	if err != nil {
		return strings.Join(c.Args, " ")
	}
	return inv.line
}

// sudoMode is how a Sudo command becomes root on one host.
type sudoMode int

const (
	sudoNone       sudoMode = iota // the user is root, or no sudo asked
	sudoNoPassword                 // sudo -n: NOPASSWD in sudoers
	sudoPassword                   // sudo -S: the password goes first on stdin
)

// invocation is what is sent to the host for one Command.
type invocation struct {
	line  string    // the remote command line
	stdin io.Reader // nil: the program's stdin is closed at once
	sudo  sudoMode  // how line becomes root: sudoNone when it does not
}

var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// buildInvocation turns cmd into the command line and stdin sent to the
// host. The sudo password is only ever the first line of stdin. With a
// password, -k makes sudo ask for (and so read) it even when it holds
// cached credentials: otherwise the password would reach the program.
func buildInvocation(cmd Command, mode sudoMode, password string) (invocation, error) {
	if err := validate(cmd); err != nil {
		return invocation{}, err
	}
	var words []string
	stdin := cmd.Stdin
	if !cmd.Sudo {
		mode = sudoNone
	}
	switch mode {
	case sudoNoPassword:
		words = append(words, "sudo", "-n", "--")
	case sudoPassword:
		if strings.ContainsAny(password, "\n\r\x00") {
			return invocation{}, errors.New("the sudo password contains a line break or NUL")
		}
		words = append(words, "sudo", "-k", "-S", "-p", "''", "--")
		stdin = io.MultiReader(strings.NewReader(password+"\n"), orEmpty(cmd.Stdin))
	}
	if len(cmd.Env) > 0 {
		words = append(words, "env")
		for _, name := range slices.Sorted(maps.Keys(cmd.Env)) {
			words = append(words, quote(name+"="+cmd.Env[name]))
		}
	}
	words = append(words, quoteCommandName(cmd.Args[0]))
	for _, arg := range cmd.Args[1:] {
		words = append(words, quote(arg))
	}
	return invocation{line: strings.Join(words, " "), stdin: stdin, sudo: mode}, nil
}

func validate(cmd Command) error {
	if len(cmd.Args) == 0 || cmd.Args[0] == "" {
		return errors.New("empty command")
	}
	if strings.Contains(cmd.Args[0], "=") {
		return fmt.Errorf("command name %q contains '=': env and sudo would take it for a variable", cmd.Args[0])
	}
	for _, arg := range cmd.Args {
		if strings.ContainsRune(arg, 0) {
			return fmt.Errorf("argument %q contains a NUL byte, which no command line can carry", arg)
		}
	}
	for name, value := range cmd.Env {
		if !envName.MatchString(name) {
			return fmt.Errorf("invalid environment variable name %q", name)
		}
		if strings.ContainsRune(value, 0) {
			return fmt.Errorf("environment variable %s contains a NUL byte", name)
		}
	}
	return nil
}

func orEmpty(r io.Reader) io.Reader {
	if r == nil {
		return strings.NewReader("")
	}
	return r
}

// quote returns s as one word for a POSIX shell: bare when it holds only
// characters no shell treats specially, otherwise in single quotes, where
// nothing is special but the single quote itself, written as close quote,
// escaped quote, open quote.
func quote(s string) string {
	if s != "" && strings.IndexFunc(s, isUnsafe) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func isUnsafe(r rune) bool {
	switch {
	case 'a' <= r && r <= 'z', 'A' <= r && r <= 'Z', '0' <= r && r <= '9':
		return false
	}
	return !strings.ContainsRune("_-+=.,:/@%", r)
}

// shellKeywords are words a shell treats as syntax in command position.
var shellKeywords = []string{
	"case", "coproc", "do", "done", "elif", "else", "esac", "fi", "for",
	"function", "if", "in", "select", "then", "time", "until", "while",
}

// quoteCommandName quotes the program name, which must also not be read as
// a shell keyword.
func quoteCommandName(name string) string {
	if slices.Contains(shellKeywords, name) {
		return "'" + name + "'"
	}
	return quote(name)
}

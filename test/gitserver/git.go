package gitserver

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// installGit is the fix named by every "git is missing" failure.
const installGit = "apt-get install -y git"

// gitEnv makes every git process hermetic: no user or system configuration,
// a fixed identity, and never a prompt.
func gitEnv() []string {
	return []string{
		"GIT_CONFIG_NOSYSTEM=1",
		"GIT_CONFIG_GLOBAL=/dev/null",
		"GIT_TERMINAL_PROMPT=0",
		"GIT_AUTHOR_NAME=gitserver",
		"GIT_AUTHOR_EMAIL=gitserver@example.com",
		"GIT_COMMITTER_NAME=gitserver",
		"GIT_COMMITTER_EMAIL=gitserver@example.com",
	}
}

// requireGit fails the test, naming the install command, when git is missing.
func requireGit(t testing.TB) {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Fatalf("gitserver: the git CLI is not installed: run `%s`", installGit)
	}
}

// git runs the git CLI in dir and returns its trimmed standard output.
func git(t testing.TB, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), gitEnv()...)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("gitserver: git %s: %v: %s", strings.Join(args, " "), err, stderrOf(err))
	}
	return strings.TrimSpace(string(out))
}

func stderrOf(err error) []byte {
	if exitErr, ok := err.(*exec.ExitError); ok {
		return exitErr.Stderr
	}
	return nil
}

// gitExecPath finds a program in git's exec path, such as git-http-backend.
func gitExecPath(t testing.TB, program string) string {
	t.Helper()
	path := filepath.Join(git(t, "", "--exec-path"), program)
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("gitserver: %s is missing: run `%s`", path, installGit)
	}
	return path
}

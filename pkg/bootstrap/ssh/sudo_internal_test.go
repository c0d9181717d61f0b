package ssh

import "testing"

func TestSudoProblem(t *testing.T) {
	for _, tc := range []struct {
		name string
		res  Result
		want string
	}{
		{"passes when sudo -n true does", Result{}, ""},
		{"needs a password", Result{ExitStatus: 1, Stderr: []byte("sudo: a password is required\n")}, sudoNeedsPassword},
		{"sees that sudo is missing", Result{ExitStatus: 127, Stderr: []byte("bash: line 1: exec: sudo: not found\n")}, sudoMissing},
		{"reports any other failure with its status", Result{ExitStatus: 1, Stderr: []byte("sudo: something else\n")}, "sudo -n true failed with status 1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := sudoProblem(tc.res); got != tc.want {
				t.Errorf("sudoProblem = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestSudoPasswordProblem(t *testing.T) {
	for _, tc := range []struct {
		name string
		res  Result
		want string
	}{
		{"accepts the password", Result{}, ""},
		{"says the password was rejected", Result{ExitStatus: 1, Stderr: []byte("Sorry, try again.\nsudo: no password was provided\nsudo: 1 incorrect password attempt\n")}, "the sudo password was rejected"},
		{"says the user may not use sudo", Result{ExitStatus: 1, Stderr: []byte("bob is not in the sudoers file.\n")}, "this user may not run commands as root: add it to the sudo group (usermod -aG sudo USER)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := sudoPasswordProblem(tc.res); got != tc.want {
				t.Errorf("sudoPasswordProblem = %q, want %q", got, tc.want)
			}
		})
	}
}

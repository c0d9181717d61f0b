package source

import "testing"

func TestSafePath(t *testing.T) {
	for _, tc := range []struct {
		name, path string
		want       bool
	}{
		{"accepts a file at the root", "app.yaml", true},
		{"accepts a nested file", "base/deep/cm.yaml", true},
		{"accepts a name that merely contains .git", "x.gitignore/.gitkeep", true},
		{"refuses a parent directory", "../outside", false},
		{"refuses a parent directory in the middle", "a/../../outside", false},
		{"refuses an absolute path", "/etc/passwd", false},
		{"refuses a .git directory", ".git/config", false},
		{"refuses a nested .GIT directory in any case", "sub/.GIT/hooks/post-checkout", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := safePath(tc.path); got != tc.want {
				t.Errorf("safePath(%q) = %v, want %v", tc.path, got, tc.want)
			}
		})
	}
}

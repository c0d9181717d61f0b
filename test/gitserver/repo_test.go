package gitserver_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gitsync-io/gitsync/test/gitserver"
)

// run runs a command (git, ssh) as a client would and returns its trimmed output.
func run(t *testing.T, env []string, name string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), append([]string{"GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null", "GIT_TERMINAL_PROMPT=0"}, env...)...)
	out, err := cmd.CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

func mustRun(t *testing.T, env []string, name string, args ...string) string {
	t.Helper()
	out, err := run(t, env, name, args...)
	if err != nil {
		t.Fatalf("%s %s: %v: %s", name, strings.Join(args, " "), err, out)
	}
	return out
}

// clone clones url's ref with the git CLI and returns the work tree's files.
func clone(t *testing.T, env []string, url, ref string) map[string]string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "clone")
	mustRun(t, env, "git", "clone", "--quiet", "--branch", ref, url, dir)
	return readTree(t, dir)
}

// readTree maps each file under dir (but not .git) to its content, and each
// symlink to "-> target".
func readTree(t *testing.T, dir string) map[string]string {
	t.Helper()
	files := map[string]string{}
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.Name() == ".git" {
			return orSkip(err, d)
		}
		rel, _ := filepath.Rel(dir, path)
		switch {
		case d.Type()&os.ModeSymlink != 0:
			target, err := os.Readlink(path)
			files[rel] = "-> " + target
			return err
		case d.Type().IsRegular():
			data, err := os.ReadFile(path)
			files[rel] = string(data)
			return err
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

func orSkip(err error, d os.DirEntry) error {
	if err != nil {
		return err
	}
	if d.IsDir() {
		return filepath.SkipDir
	}
	return nil
}

func TestRepo(t *testing.T) {
	t.Run("commits, deletes and links files in nested directories", func(t *testing.T) {
		repo := gitserver.NewRepo(t)
		repo.Commit(t, "first", map[string]string{"a.yaml": "a", "dir/sub/b.yaml": "b", "gone.yaml": "x"})
		repo.Commit(t, "second", map[string]string{"gone.yaml": ""})
		repo.Symlink(t, "link", "dir/sub/b.yaml")
		repo.Remove(t, "a.yaml")
		want := map[string]string{"dir/sub/b.yaml": "b", "link": "-> dir/sub/b.yaml"}
		if diff := cmp.Diff(want, clone(t, nil, repo.URL(), "main")); diff != "" {
			t.Errorf("files (-want +got):\n%s", diff)
		}
	})
	t.Run("returns the pushed commit as Head", func(t *testing.T) {
		repo := gitserver.NewRepo(t)
		sha := repo.Commit(t, "first", map[string]string{"a": "1"})
		got := mustRun(t, nil, "git", "ls-remote", repo.URL(), "refs/heads/main")
		if diff := cmp.Diff(sha+"\trefs/heads/main", got); diff != "" {
			t.Errorf("ls-remote (-want +got):\n%s", diff)
		}
		if repo.Head(t) != sha {
			t.Errorf("Head = %s, want %s", repo.Head(t), sha)
		}
	})
	t.Run("publishes lightweight and annotated tags", func(t *testing.T) {
		repo := gitserver.NewRepo(t)
		sha := repo.Commit(t, "first", map[string]string{"a": "1"})
		repo.Tag(t, "light")
		repo.AnnotatedTag(t, "heavy", "release")
		for _, ref := range []string{"light", "heavy^{}"} {
			got := mustRun(t, nil, "git", "ls-remote", repo.URL(), "refs/tags/"+ref)
			if !strings.HasPrefix(got, sha) {
				t.Errorf("tag %s = %q, want commit %s", ref, got, sha)
			}
		}
	})
	t.Run("commits to a new branch and serves the chosen default branch", func(t *testing.T) {
		repo := gitserver.NewRepo(t)
		repo.Commit(t, "first", map[string]string{"a": "main"})
		repo.Branch(t, "dev")
		repo.Commit(t, "on dev", map[string]string{"a": "dev"})
		repo.SetDefaultBranch(t, "dev")
		repo.Switch(t, "main")
		repo.Commit(t, "on main", map[string]string{"b": "main"})
		got := mustRun(t, nil, "git", "ls-remote", "--symref", repo.URL(), "HEAD")
		if !strings.HasPrefix(got, "ref: refs/heads/dev\tHEAD") {
			t.Errorf("HEAD = %q, want a link to refs/heads/dev", got)
		}
		if diff := cmp.Diff(map[string]string{"a": "main", "b": "main"}, clone(t, nil, repo.URL(), "main")); diff != "" {
			t.Errorf("main (-want +got):\n%s", diff)
		}
	})
	t.Run("rewrites history to an unrelated commit and resets back", func(t *testing.T) {
		repo := gitserver.NewRepo(t)
		old := repo.Commit(t, "first", map[string]string{"a": "1"})
		rewritten := repo.Rewrite(t, "unrelated", map[string]string{"b": "2"})
		if _, err := run(t, nil, "git", "-C", repo.Dir(), "merge-base", old, rewritten); err == nil {
			t.Errorf("the rewritten commit %s shares history with %s", rewritten, old)
		}
		if diff := cmp.Diff(map[string]string{"b": "2"}, clone(t, nil, repo.URL(), "main")); diff != "" {
			t.Errorf("after rewrite (-want +got):\n%s", diff)
		}
		repo.Reset(t, old)
		if repo.Head(t) != old {
			t.Errorf("Head after Reset = %s, want %s", repo.Head(t), old)
		}
	})
}

func mustReadFile(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

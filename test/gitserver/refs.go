package gitserver

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// Tag creates a lightweight tag at the current commit and pushes it.
func (r *Repo) Tag(t testing.TB, name string) {
	t.Helper()
	git(t, r.work, "tag", name)
	r.pushTag(t, name)
}

// AnnotatedTag creates an annotated tag object at the current commit and
// pushes it.
func (r *Repo) AnnotatedTag(t testing.TB, name, msg string) {
	t.Helper()
	git(t, r.work, "tag", "--annotate", "--message", msg, name)
	r.pushTag(t, name)
}

func (r *Repo) pushTag(t testing.TB, name string) {
	t.Helper()
	git(t, r.work, "push", "--quiet", "--force", "origin", "refs/tags/"+name)
}

// Branch creates a branch at the current commit, pushes it, and makes it
// current: the next commits go to it.
func (r *Repo) Branch(t testing.TB, name string) {
	t.Helper()
	git(t, r.work, "switch", "--quiet", "--create", name)
	r.branch = name
	r.push(t)
}

// Switch makes an existing branch current.
func (r *Repo) Switch(t testing.TB, name string) {
	t.Helper()
	git(t, r.work, "switch", "--quiet", name)
	r.branch = name
}

// SetDefaultBranch points the bare repository's HEAD, the branch clients get
// when they ask for none, at branch.
func (r *Repo) SetDefaultBranch(t testing.TB, branch string) {
	t.Helper()
	git(t, r.Dir(), "symbolic-ref", "HEAD", "refs/heads/"+branch)
}

// Reset moves the current branch to sha and force-pushes it.
func (r *Repo) Reset(t testing.TB, sha string) {
	t.Helper()
	git(t, r.work, "reset", "--quiet", "--hard", sha)
	r.push(t)
}

// Rewrite replaces the current branch's whole history with one new root
// commit holding exactly files, force-pushes it, and returns its SHA: the
// remote branch moves to a commit unrelated to the old one.
func (r *Repo) Rewrite(t testing.TB, msg string, files map[string]string) string {
	t.Helper()
	git(t, r.work, "switch", "--quiet", "--orphan", "gitserver-rewrite")
	for path, content := range files {
		r.write(t, path, content)
	}
	git(t, r.work, "add", "--all")
	git(t, r.work, "commit", "--quiet", "--allow-empty", "--message", msg)
	git(t, r.work, "branch", "--move", "--force", r.branch)
	r.push(t)
	return r.Head(t)
}

// PullRequests gives the bare repository a head and a merge ref for each of
// n pull requests, all at the current commit, as hosting services keep
// refs/pull/N/head and refs/pull/N/merge: refs a client never asked for,
// which git protocol version 0 advertises to every client anyway.
func (r *Repo) PullRequests(t testing.TB, n int) {
	t.Helper()
	head := r.Head(t)
	var refs strings.Builder
	for i := range n {
		fmt.Fprintf(&refs, "create refs/pull/%d/head %s\ncreate refs/pull/%d/merge %s\n", i+1, head, i+1, head)
	}
	cmd := exec.Command("git", "-C", r.Dir(), "update-ref", "--stdin")
	cmd.Env = append(os.Environ(), gitEnv()...)
	cmd.Stdin = strings.NewReader(refs.String())
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("gitserver: git update-ref: %v: %s", err, out)
	}
	git(t, r.Dir(), "pack-refs", "--all")
}

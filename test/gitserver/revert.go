package gitserver

import "testing"

// Revert commits the inverse of commit sha on the current branch, as
// `git revert` does (history is kept: the new commit's parent is the old
// head), pushes, and returns the new commit's SHA.
func (r *Repo) Revert(t testing.TB, sha string) string {
	t.Helper()
	git(t, r.work, "revert", "--no-edit", sha)
	r.push(t)
	return r.Head(t)
}

package gitserver

import (
	"net/url"
	"os"
	"path/filepath"
	"testing"
)

// Repo is a bare repository on disk, at Root()/Name(), with a private work
// tree that commits and pushes into it the way a developer would. Every
// method that changes history pushes at once, so servers see the change.
type Repo struct {
	root, name string
	work       string // the private work tree
	branch     string // the work tree's current branch
}

// NewRepo creates an empty bare repository named "repo.git" in a fresh
// directory, with "main" as its default branch.
func NewRepo(t testing.TB) *Repo {
	t.Helper()
	return NewRepoIn(t, t.TempDir(), "repo.git")
}

// NewRepoIn creates an empty bare repository root/name, so that one server
// can serve several repositories from root.
func NewRepoIn(t testing.TB, root, name string) *Repo {
	t.Helper()
	requireGit(t)
	r := &Repo{root: root, name: name, work: t.TempDir(), branch: "main"}
	git(t, root, "init", "--quiet", "--bare", "--initial-branch=main", name)
	git(t, r.work, "init", "--quiet", "--initial-branch=main")
	git(t, r.work, "remote", "add", "origin", r.Dir())
	return r
}

// Root is the directory holding the bare repository: what a server serves.
func (r *Repo) Root() string { return r.root }

// Name is the bare repository's path under Root, such as "repo.git".
func (r *Repo) Name() string { return r.name }

// Dir is the bare repository's absolute path.
func (r *Repo) Dir() string { return filepath.Join(r.root, r.name) }

// URL is the bare repository's file:// URL.
func (r *Repo) URL() string { return (&url.URL{Scheme: "file", Path: r.Dir()}).String() }

// Head returns the commit SHA the current branch points to.
func (r *Repo) Head(t testing.TB) string {
	t.Helper()
	return git(t, r.Dir(), "rev-parse", "refs/heads/"+r.branch)
}

// Commit writes files (path → content; paths may contain directories; an
// empty content deletes the path), commits them with msg on the current
// branch, pushes, and returns the new commit's SHA.
func (r *Repo) Commit(t testing.TB, msg string, files map[string]string) string {
	t.Helper()
	for path, content := range files {
		r.write(t, path, content)
	}
	return r.commit(t, msg)
}

// Remove deletes paths (files or directories), commits, pushes, and returns
// the new commit's SHA.
func (r *Repo) Remove(t testing.TB, paths ...string) string {
	t.Helper()
	for _, path := range paths {
		r.write(t, path, "")
	}
	return r.commit(t, "remove files")
}

// Symlink commits a symbolic link at path pointing to target (which is not
// checked), pushes, and returns the new commit's SHA.
func (r *Repo) Symlink(t testing.TB, path, target string) string {
	t.Helper()
	full := r.workPath(t, path)
	if err := os.Symlink(target, full); err != nil {
		t.Fatalf("gitserver: symlink %s: %v", path, err)
	}
	return r.commit(t, "link "+path)
}

// Executable commits an executable file at path, pushes, and returns the
// new commit's SHA.
func (r *Repo) Executable(t testing.TB, path, content string) string {
	t.Helper()
	r.write(t, path, content)
	if err := os.Chmod(r.workPath(t, path), 0o755); err != nil {
		t.Fatalf("gitserver: chmod %s: %v", path, err)
	}
	return r.commit(t, "add "+path)
}

func (r *Repo) write(t testing.TB, path, content string) {
	t.Helper()
	full := r.workPath(t, path)
	err := os.RemoveAll(full)
	if err == nil && content != "" {
		err = os.WriteFile(full, []byte(content), 0o644)
	}
	if err != nil {
		t.Fatalf("gitserver: write %s: %v", path, err)
	}
}

// workPath returns path inside the work tree, creating its parent directory.
func (r *Repo) workPath(t testing.TB, path string) string {
	t.Helper()
	if !filepath.IsLocal(path) {
		t.Fatalf("gitserver: path %q is not inside the repository", path)
	}
	full := filepath.Join(r.work, path)
	if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
		t.Fatalf("gitserver: %v", err)
	}
	return full
}

func (r *Repo) commit(t testing.TB, msg string) string {
	t.Helper()
	git(t, r.work, "add", "--all")
	git(t, r.work, "commit", "--quiet", "--allow-empty", "--message", msg)
	r.push(t)
	return r.Head(t)
}

// push force-pushes the current branch, so rewritten history replaces the old.
func (r *Repo) push(t testing.TB) {
	t.Helper()
	git(t, r.work, "push", "--quiet", "--force", "origin", "HEAD:refs/heads/"+r.branch)
}

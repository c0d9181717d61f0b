package render

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/gitsync-io/gitsync/pkg/download"
)

// GitFetcher fetches ref of the repository at url and returns a directory holding the
// commit's files and the commit's SHA. Render never runs git: a remote base is read from
// what the fetcher returns, which the caller (pkg/sync) provides only when remote bases are
// enabled.
type GitFetcher func(ctx context.Context, url, ref string) (dir, revision string, err error)

// maxBaseBytes bounds what one remote base's repository may hold.
const maxBaseBytes = 64 << 20

// remoteBase is a kustomization entry naming a directory of a git repository, in the forms
// kustomize accepts: [git::]<repo URL>[//<dir>][?ref=<ref>], the repository URL being
// https://, http://, ssh://, user@host:path or the github.com/ shorthand; a "//" or the end of
// "<repo>.git/" separates the directory.
type remoteBase struct {
	repo, dir, ref string
}

func parseRemoteBase(s string) (remoteBase, error) {
	raw := strings.TrimPrefix(strings.TrimSpace(s), "git::")
	raw, query, _ := strings.Cut(raw, "?")
	var b remoteBase
	if query != "" {
		q, err := url.ParseQuery(query)
		if err != nil {
			return b, fmt.Errorf("query %q: %w", query, err)
		}
		b.ref = q.Get("ref")
		if b.ref == "" {
			b.ref = q.Get("version")
		}
	}
	if strings.HasPrefix(strings.ToLower(raw), "github.com/") || strings.HasPrefix(strings.ToLower(raw), "github.com:") {
		raw = "https://github.com/" + raw[len("github.com/"):]
	}
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok {
		scheme, rest = "", raw
	}
	if repo, dir, ok := strings.Cut(rest, "//"); ok {
		rest, b.dir = repo, dir
	} else if i := strings.Index(rest, ".git/"); i >= 0 {
		rest, b.dir = rest[:i+len(".git")], rest[i+len(".git/"):]
	}
	b.repo = rest
	if scheme != "" {
		b.repo = scheme + "://" + rest
	}
	b.dir = strings.Trim(b.dir, "/")
	if b.dir != "" && !filepath.IsLocal(b.dir) {
		return b, fmt.Errorf("directory %q leaves the repository", b.dir)
	}
	return b, nil
}

// fetchBase fetches the remote base entry listed in the kustomization file, serves its whole
// repository below file's directory, and returns the entry that replaces it there.
func (k *kustomizeFS) fetchBase(file, entry string) (string, error) {
	fail := func(p Problem, detail, fix string, err error) error {
		return &Error{Problem: p, File: file, Detail: fmt.Sprintf("remote base %q: %s", entry, detail), Fix: fix, Err: err}
	}
	base, err := parseRemoteBase(entry)
	if err != nil {
		return "", fail(InvalidKustomization, err.Error(), "write it as <repository URL>//<directory>?ref=<tag>", err)
	}
	dir, revision, err := k.fetchGit(base)
	if err != nil {
		return "", fail(RemoteUnreachable, redact(err.Error()), "check the URL, the network or the mirror (--mirror FROM=TO); gitsync retries", err)
	}
	prefix := path.Join(path.Dir(file), virtualDir, download.FileName(base.repo+"?ref="+base.ref))
	if err := k.mount(prefix, dir, entry); err != nil {
		return "", fail(RemoteUnreachable, err.Error(), "keep remote bases in small repositories", err)
	}
	k.seen.add(opFetch, entry, "git "+revision)
	return path.Join(virtualDir, download.FileName(base.repo+"?ref="+base.ref), base.dir), nil
}

func (k *kustomizeFS) fetchGit(base remoteBase) (dir, revision string, err error) {
	return k.remote.Git(k.ctx, k.remote.rewrite(base.repo), base.ref)
}

// mount serves the regular files of dir below prefix. Symlinks are left out: a remote base
// links to nothing.
func (f *confinedFS) mount(prefix, dir, entry string) error {
	var total int64
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		if total += info.Size(); total > maxBaseBytes {
			return fmt.Errorf("its repository holds more than %d MiB", maxBaseBytes>>20)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		f.addVirtual(path.Join(prefix, filepath.ToSlash(rel)), virtualFile{url: entry + " (" + filepath.ToSlash(rel) + ")", data: data})
		return nil
	})
}

// addVirtual serves a fetched file at rel, and makes its parent directories exist.
func (f *confinedFS) addVirtual(rel string, v virtualFile) {
	f.virtual[rel] = v
	for d := path.Dir(rel); d != "." && !f.virtualDirs[d]; d = path.Dir(d) {
		f.virtualDirs[d] = true
	}
}

// virtualYAML lists the YAML files directly in a directory of fetched files.
func (f *confinedFS) virtualYAML(dir string) []string {
	var names []string
	for p := range f.virtual {
		if path.Dir(p) == dir && isYAML(p) {
			names = append(names, path.Base(p))
		}
	}
	slices.Sort(names)
	return names
}

// answerFetch fetches again what a render fetched, for the render cache: a remote file's
// content, or a remote base's revision.
func (f *confinedFS) answerFetch(entry string) (string, error) {
	if f.remote == nil {
		return "", errors.New("no remote fetcher")
	}
	if isRemoteFile(entry) {
		data, err := f.remote.Fetch(f.ctx, entry)
		return readAnswer(data, err), err
	}
	base, err := parseRemoteBase(entry)
	if err != nil || f.remote.Git == nil {
		return "", errors.New("not a remote base")
	}
	_, revision, err := f.remote.Git(f.ctx, f.remote.rewrite(base.repo), base.ref)
	return "git " + revision, err
}

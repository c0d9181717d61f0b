package webhook

import (
	"net/url"
	"strings"
)

// Push is one verified push: which repository, which ref, and the commit the
// ref now points to.
type Push struct {
	Provider Provider
	// Repository holds every form of the repository's address the payload
	// gives: clone URLs over HTTP(S) and SSH, the web page, and the path
	// (org/repo, group/subgroup/project). Push.Matches compares them all.
	Repository []string
	Ref        string // the full reference name: refs/heads/main, refs/tags/v1.2.0
	Branch     string // main, when Ref is a branch; else ""
	Tag        string // v1.2.0, when Ref is a tag; else ""
	After      string // the commit the ref points to now, when the payload gives it
	// Deleted means the push removed the ref (GitHub's "deleted", or an
	// all-zero After). The caller fetches as after any push, and finds the
	// ref gone.
	Deleted bool
}

// Matches reports whether the push is for the repository at url and, unless
// branch is "", for that branch.
//
// url may be https://, http://, ssh://, scp-like user@host:path, or a bare
// path (org/repo). Credentials, the port, a trailing slash, a .git suffix and
// case are ignored, as git hosts ignore them. A push whose payload gives only
// a path without a host (as every payload does among its forms) matches that
// path on any host, so that a cluster that reaches the git host by another
// name than the one the host reports still matches. A false match costs one
// needless fetch; a missed one waits for the next interval.
//
// branch is a branch name (main), which never matches a tag push, or a full
// reference name (refs/heads/main, refs/tags/v1), which must equal Ref.
func (p Push) Matches(url, branch string) bool {
	if !p.matchesRef(branch) {
		return false
	}
	want, ok := parseRepository(url)
	if !ok {
		return false
	}
	for _, r := range p.Repository {
		if got, ok := parseRepository(r); ok && got.matches(want) {
			return true
		}
	}
	return false
}

func (p Push) matchesRef(branch string) bool {
	switch {
	case branch == "":
		return true
	case strings.HasPrefix(branch, "refs/"):
		return branch == p.Ref
	}
	return p.Branch != "" && branch == p.Branch
}

// repository is a repository address reduced to what identifies it: the
// lower-case host without port or credentials ("" for a bare path) and the
// lower-case path without surrounding slashes or .git suffix.
type repository struct {
	host, path string
}

func (r repository) matches(o repository) bool {
	return r.path == o.path && (r.host == "" || o.host == "" || r.host == o.host)
}

// parseRepository accepts URLs with a scheme, scp-like [user@]host:path
// addresses and bare paths.
func parseRepository(raw string) (repository, bool) {
	raw = strings.TrimSpace(raw)
	var r repository
	switch {
	case strings.Contains(raw, "://"):
		u, err := url.Parse(raw)
		if err != nil {
			return repository{}, false
		}
		r = repository{host: u.Hostname(), path: u.Path}
	case isSCP(raw):
		r = parseSCP(raw)
	default:
		r = repository{path: raw}
	}
	r.host = strings.ToLower(r.host)
	r.path = strings.ToLower(strings.Trim(r.path, "/"))
	r.path = strings.TrimRight(strings.TrimSuffix(r.path, ".git"), "/")
	return r, r.path != ""
}

// isSCP reports an scp-like address: a colon before the first slash, as git
// decides (a path like ./a:b has its slash first).
func isSCP(raw string) bool {
	colon := strings.Index(raw, ":")
	slash := strings.Index(raw, "/")
	return colon > 0 && (slash < 0 || colon < slash)
}

// parseSCP splits [user@]host:path, where host may be a bracketed IPv6
// address.
func parseSCP(raw string) repository {
	if at := strings.LastIndex(raw, "@"); at >= 0 && at < strings.Index(raw, ":") {
		raw = raw[at+1:]
	}
	if rest, ok := strings.CutPrefix(raw, "["); ok {
		if host, path, ok := strings.Cut(rest, "]:"); ok {
			return repository{host: host, path: path}
		}
	}
	host, path, _ := strings.Cut(raw, ":")
	return repository{host: host, path: path}
}

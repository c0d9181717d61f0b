package ui

import (
	"net/url"
	"strings"
)

// commitURL links a revision of source to its page on the forge that hosts
// it, when the forge is one whose URLs are known: GitHub, GitLab and Gitea
// (with Forgejo and Codeberg), by host name. "" for any other.
func commitURL(source, revision string) string {
	if revision == "" || len(revision) < 7 {
		return ""
	}
	host, repo := forgeRepo(source)
	if host == "" || repo == "" {
		return ""
	}
	base := "https://" + host + "/" + repo
	switch {
	case host == "github.com":
		return base + "/commit/" + revision
	case host == "gitlab.com" || strings.HasPrefix(host, "gitlab."):
		return base + "/-/commit/" + revision
	case host == "gitea.com" || host == "codeberg.org" || strings.HasPrefix(host, "gitea.") || strings.HasPrefix(host, "forgejo."):
		return base + "/commit/" + revision
	}
	return ""
}

// forgeRepo splits a git URL (https://, ssh://, or scp-like git@host:path)
// into its host and repository path, without ".git".
func forgeRepo(source string) (host, repo string) {
	if !strings.Contains(source, "://") {
		at, path, ok := strings.Cut(source, ":")
		if !ok || strings.ContainsAny(at, "/") {
			return "", ""
		}
		_, host, _ = strings.Cut(at, "@")
		if host == "" {
			host = at
		}
		return strings.ToLower(host), strings.TrimSuffix(strings.Trim(path, "/"), ".git")
	}
	u, err := url.Parse(source)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http" && u.Scheme != "ssh") {
		return "", ""
	}
	return strings.ToLower(u.Hostname()), strings.TrimSuffix(strings.Trim(u.Path, "/"), ".git")
}

package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// errNoStatus means the event sets no commit status (Pruned).
var errNoStatus = errors.New("no commit status for this event")

// repository is where a source lives on its forge.
type repository struct {
	host string // with port, if any
	path string // "owner/repo", "group/subgroup/project"
}

// parseRepository reads https://HOST/PATH(.git), ssh://[user@]HOST[:port]/PATH
// and scp-like user@HOST:PATH.
func parseRepository(source string) (repository, error) {
	var host, path string
	if u, err := url.Parse(source); err == nil && u.Host != "" {
		host, path = u.Hostname(), u.Path
		if u.Scheme != "ssh" && u.Port() != "" {
			host = u.Host
		}
	} else if at, rest, ok := strings.Cut(source, "@"); ok && !strings.Contains(at, "/") {
		host, path, _ = strings.Cut(rest, ":")
	}
	path = strings.TrimSuffix(strings.Trim(path, "/"), ".git")
	if host == "" || !strings.Contains(path, "/") {
		return repository{}, fmt.Errorf("source %s is not a repository on a forge (want HOST/OWNER/REPO)", source)
	}
	return repository{host: host, path: path}, nil
}

// statusRequest builds the request that sets the revision's commit status,
// as each forge documents it:
//
//	GitHub  POST {api}/repos/{owner}/{repo}/statuses/{sha}              state pending|success|failure
//	GitLab  POST {base}/api/v4/projects/{url-encoded path}/statuses/{sha}  state running|success|failed
//	Gitea   POST {base}/api/v1/repos/{owner}/{repo}/statuses/{sha}      state pending|success|failure
func (r *Receiver) statusRequest(ctx context.Context, e Event) (*http.Request, error) {
	state := commitState(r.Type, e.Kind)
	if state == "" {
		return nil, errNoStatus
	}
	if e.Revision == "" {
		return nil, errors.New("the event has no revision")
	}
	repo, err := parseRepository(e.Source)
	if err != nil {
		return nil, err
	}
	body := map[string]string{"state": state, "description": truncate(e.title()+statusReason(e), 140)}
	if e.Link != "" {
		body["target_url"] = e.Link
	}
	context := "gitsync/" + e.Cluster + "/" + e.Sync
	var endpoint string
	header := http.Header{}
	switch r.Type {
	case GitHub:
		base := r.URL
		if base == "" {
			base = "https://" + repo.host + "/api/v3"
			if repo.host == "github.com" {
				base = "https://api.github.com"
			}
		}
		endpoint = fmt.Sprintf("%s/repos/%s/statuses/%s", strings.TrimSuffix(base, "/"), repo.path, e.Revision)
		body["context"] = context
		header.Set("Authorization", "Bearer "+r.Token)
		header.Set("Accept", "application/vnd.github+json")
		header.Set("X-GitHub-Api-Version", "2022-11-28")
	case GitLab:
		endpoint = fmt.Sprintf("%s/api/v4/projects/%s/statuses/%s", r.forgeBase(repo), url.PathEscape(repo.path), e.Revision)
		body["name"] = context
		header.Set("PRIVATE-TOKEN", r.Token)
	case Gitea:
		endpoint = fmt.Sprintf("%s/api/v1/repos/%s/statuses/%s", r.forgeBase(repo), repo.path, e.Revision)
		body["context"] = context
		header.Set("Authorization", "token "+r.Token)
	}
	data, err := json.Marshal(body)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, bytes.NewReader(data))
	if err != nil {
		return nil, errors.New("url: not a valid request URL")
	}
	req.Header = header
	req.Header.Set("Content-Type", "application/json")
	return req, nil
}

// forgeBase is the receiver's URL, or https://HOST of the repository.
func (r *Receiver) forgeBase(repo repository) string {
	if r.URL != "" {
		return strings.TrimSuffix(r.URL, "/")
	}
	return "https://" + repo.host
}

// commitState is the forge's state for an event kind; "" sets none.
func commitState(t Type, k Kind) string {
	switch {
	case k == Progressing && t == GitLab:
		return "running"
	case k == Progressing:
		return "pending"
	case k == Ready, k == Applied, k == Recovered:
		return "success"
	case k.failure() && t == GitLab:
		return "failed"
	case k.failure():
		return "failure"
	}
	return ""
}

func statusReason(e Event) string {
	if e.Reason == "" {
		return ""
	}
	return ": " + e.Reason
}

// truncate cuts s to n runes, marking the cut.
func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

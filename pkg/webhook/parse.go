package webhook

import (
	"encoding/json"
	"errors"
	"mime"
	"net/url"
	"slices"
	"strings"
)

// Why a verified payload was refused. The texts are the response's reason:
// they never quote the payload.
var (
	errMalformed    = errors.New("malformed JSON")
	errNoFormField  = errors.New("form has no payload field")
	errNoRef        = errors.New("payload has no ref: want a full reference name such as refs/heads/main")
	errNoRepository = errors.New("payload names no repository")
)

// payload returns the JSON of a request: the body, or the "payload" field of
// a form-encoded body when the dialect allows one.
func (d dialect) payload(contentType string, body []byte) ([]byte, error) {
	if !d.form {
		return body, nil
	}
	if mediaType, _, _ := mime.ParseMediaType(contentType); mediaType != "application/x-www-form-urlencoded" {
		return body, nil
	}
	form, err := url.ParseQuery(string(body))
	if err != nil || !form.Has("payload") {
		return nil, errNoFormField
	}
	return []byte(form.Get("payload")), nil
}

// githubPush is what gitsync reads of a GitHub or Gitea push event.
type githubPush struct {
	Ref        string `json:"ref"`
	After      string `json:"after"`
	Deleted    bool   `json:"deleted"`
	Repository struct {
		CloneURL string `json:"clone_url"`
		SSHURL   string `json:"ssh_url"`
		HTMLURL  string `json:"html_url"`
		FullName string `json:"full_name"`
	} `json:"repository"`
}

func parseGitHub(provider Provider, data []byte) (Push, error) {
	var p githubPush
	if err := json.Unmarshal(data, &p); err != nil {
		return Push{}, errMalformed
	}
	r := p.Repository
	return newPush(provider, p.Ref, p.After, p.Deleted, r.CloneURL, r.SSHURL, r.HTMLURL, r.FullName)
}

// gitlabPush is what gitsync reads of a GitLab push or tag push event. The
// older repository object repeats the project's URLs.
type gitlabPush struct {
	Ref         string `json:"ref"`
	After       string `json:"after"`
	CheckoutSHA string `json:"checkout_sha"`
	Project     struct {
		GitHTTPURL        string `json:"git_http_url"`
		GitSSHURL         string `json:"git_ssh_url"`
		WebURL            string `json:"web_url"`
		PathWithNamespace string `json:"path_with_namespace"`
	} `json:"project"`
	Repository struct {
		GitHTTPURL string `json:"git_http_url"`
		GitSSHURL  string `json:"git_ssh_url"`
		Homepage   string `json:"homepage"`
	} `json:"repository"`
}

// parseGitLab prefers checkout_sha, the commit, to after, which is the tag
// object for an annotated tag; a deletion has only after.
func parseGitLab(provider Provider, data []byte) (Push, error) {
	var p gitlabPush
	if err := json.Unmarshal(data, &p); err != nil {
		return Push{}, errMalformed
	}
	after := p.CheckoutSHA
	if after == "" {
		after = p.After
	}
	pr, r := p.Project, p.Repository
	return newPush(provider, p.Ref, after, isZeroSHA(p.After),
		pr.GitHTTPURL, pr.GitSSHURL, pr.WebURL, pr.PathWithNamespace, r.GitHTTPURL, r.GitSSHURL, r.Homepage)
}

// genericPush is gitsync's own payload, described in the package doc.
type genericPush struct {
	Repository string `json:"repository"`
	Ref        string `json:"ref"`
	After      string `json:"after"`
}

func parseGeneric(provider Provider, data []byte) (Push, error) {
	var p genericPush
	if err := json.Unmarshal(data, &p); err != nil {
		return Push{}, errMalformed
	}
	return newPush(provider, p.Ref, p.After, false, p.Repository)
}

// newPush checks what every payload must give and derives the rest. Blank
// and repeated repository names are dropped.
func newPush(provider Provider, ref, after string, deleted bool, repositories ...string) (Push, error) {
	if !strings.HasPrefix(ref, "refs/") || len(ref) == len("refs/") {
		return Push{}, errNoRef
	}
	p := Push{Provider: provider, Ref: ref, After: after, Deleted: deleted || isZeroSHA(after)}
	for _, r := range repositories {
		if r = strings.TrimSpace(r); r != "" && !slices.Contains(p.Repository, r) {
			p.Repository = append(p.Repository, r)
		}
	}
	if len(p.Repository) == 0 {
		return Push{}, errNoRepository
	}
	p.Branch = shortName(ref, "refs/heads/")
	p.Tag = shortName(ref, "refs/tags/")
	return p, nil
}

// shortName is ref without prefix, or "" when ref lacks it.
func shortName(ref, prefix string) string {
	if name, ok := strings.CutPrefix(ref, prefix); ok {
		return name
	}
	return ""
}

// isZeroSHA reports the all-zero object name git hosts send for the missing
// side of a ref creation or deletion (40 zeros, or 64 for SHA-256).
func isZeroSHA(sha string) bool {
	return sha != "" && strings.Trim(sha, "0") == ""
}

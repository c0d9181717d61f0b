package webhook

import (
	"errors"
	"net/http"
	"slices"
)

// Provider names a git host's webhook dialect. It is also the last element
// of its endpoint's path: /hooks/<provider>.
type Provider string

// The providers, each with its own endpoint.
const (
	GitHub  Provider = "github"
	GitLab  Provider = "gitlab"
	Gitea   Provider = "gitea" // also Forgejo
	Generic Provider = "generic"
)

// Providers lists every provider a Receiver knows.
func Providers() []Provider { return []Provider{GitHub, GitLab, Gitea, Generic} }

func (p Provider) String() string { return string(p) }

// known reports whether p is one of Providers.
func (p Provider) known() bool { return slices.Contains(Providers(), p) }

// dialect is how one provider proves that it knows the secret, names its
// events and shapes its payloads.
type dialect struct {
	credential credential
	// eventHeaders hold the event type, the first one present wins; with
	// none, every request is a push.
	eventHeaders []string
	pushEvents   []string
	// form is true when the payload may come form-encoded, in a "payload"
	// field, instead of as the whole body.
	form  bool
	parse func(Provider, []byte) (Push, error)
}

// dialectOf returns the dialect of a known provider.
func dialectOf(p Provider) dialect {
	switch p {
	case GitHub:
		return dialect{
			credential:   credential{headers: []string{"X-Hub-Signature-256"}, prefix: "sha256="},
			eventHeaders: []string{"X-GitHub-Event"},
			pushEvents:   []string{"push"},
			form:         true,
			parse:        parseGitHub,
		}
	case Gitea:
		return dialect{
			credential:   credential{headers: []string{"X-Gitea-Signature", "X-Forgejo-Signature"}},
			eventHeaders: []string{"X-Gitea-Event", "X-Forgejo-Event"},
			pushEvents:   []string{"push"},
			form:         true,
			parse:        parseGitHub,
		}
	case GitLab:
		return dialect{
			credential:   credential{headers: []string{"X-Gitlab-Token"}, token: true},
			eventHeaders: []string{"X-Gitlab-Event"},
			pushEvents:   []string{"Push Hook", "Tag Push Hook"},
			parse:        parseGitLab,
		}
	}
	return dialect{
		credential: credential{headers: []string{"X-Gitsync-Signature"}, prefix: "sha256="},
		parse:      parseGeneric,
	}
}

var errNoEvent = errors.New("missing event header")

// isPush reports whether the request's event is a push. A dialect with event
// headers requires one of them.
func (d dialect) isPush(h http.Header) (bool, error) {
	if len(d.eventHeaders) == 0 {
		return true, nil
	}
	event, ok := firstHeader(h, d.eventHeaders)
	if !ok {
		return false, errNoEvent
	}
	return slices.Contains(d.pushEvents, event), nil
}

// firstHeader returns the value of the first of names that is present and
// not blank.
func firstHeader(h http.Header, names []string) (string, bool) {
	for _, name := range names {
		if v := h.Get(name); v != "" {
			return v, true
		}
	}
	return "", false
}

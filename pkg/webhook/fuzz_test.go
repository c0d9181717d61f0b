package webhook_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/gitsync-io/gitsync/pkg/webhook"
)

// FuzzHandler sends correctly signed requests with any event, content type
// and body: the handler must not panic, must answer one of the statuses a
// verified request can get, and must call OnPush once exactly when it
// answers 202, with a push that has a ref and a repository.
func FuzzHandler(f *testing.F) {
	providers := webhook.Providers()
	index := map[webhook.Provider]uint8{}
	for i, p := range providers {
		index[p] = uint8(i)
	}
	for p, file := range samplePush {
		f.Add(index[p], pushEvent[p], "application/json", readTestdata(f, file))
	}
	push := readTestdata(f, "github-push.json")
	f.Add(index[webhook.GitHub], "push", "application/x-www-form-urlencoded", []byte(url.Values{"payload": {string(push)}}.Encode()))
	f.Add(index[webhook.GitHub], "push", "application/x-www-form-urlencoded; charset=utf-8", []byte("payload=%zz"))
	f.Add(index[webhook.GitHub], "ping", "application/json", readTestdata(f, "github-ping.json"))
	f.Add(index[webhook.GitHub], "push", "application/json", readTestdata(f, "github-push-delete.json"))
	f.Add(index[webhook.GitLab], "Tag Push Hook", "", readTestdata(f, "gitlab-tag-push.json"))
	f.Add(index[webhook.Gitea], "push", "", []byte(`{"ref":"refs/heads/","repository":{"clone_url":" "}}`))
	f.Add(index[webhook.Generic], "", "", []byte(`{"repository":"git@[::1]:x","ref":"refs/tags/v1","after":"0000"}`))
	f.Add(index[webhook.Generic], "", "", []byte(`{"repository":null,"ref":["refs/heads/main"]}`))

	h := start(f, webhook.Options{MaxBody: 64 << 10})
	f.Fuzz(func(t *testing.T, pick uint8, event, contentType string, body []byte) {
		if !headerValue(event) || !headerValue(contentType) {
			return // not a header value any client can send
		}
		p := providers[int(pick)%len(providers)]
		header := signed(p, event, body, secrets[p])
		header.Set("Content-Type", contentType)
		before := len(h.recorded())

		code, text := h.post(t, "/hooks/"+string(p), header, body)

		pushes := h.recorded()[before:]
		switch code {
		case http.StatusAccepted:
			if len(pushes) != 1 {
				t.Fatalf("202 %q with %d OnPush calls, want 1", text, len(pushes))
			}
			checkPush(t, p, pushes[0])
		case http.StatusOK, http.StatusBadRequest, http.StatusRequestEntityTooLarge:
			if len(pushes) != 0 {
				t.Fatalf("%d %q with OnPush calls %+v", code, text, pushes)
			}
		default:
			t.Fatalf("a signed request got %d %q", code, text)
		}
	})
}

// checkPush fails the test if push is not one OnPush may be called with.
func checkPush(t *testing.T, p webhook.Provider, push webhook.Push) {
	t.Helper()
	ok := push.Provider == p && strings.HasPrefix(push.Ref, "refs/") && len(push.Repository) > 0 &&
		(push.Branch == "" || push.Ref == "refs/heads/"+push.Branch) &&
		(push.Tag == "" || push.Ref == "refs/tags/"+push.Tag)
	for _, r := range push.Repository {
		ok = ok && strings.TrimSpace(r) == r && r != ""
	}
	if !ok {
		t.Fatalf("OnPush(%+v) from %s", push, p)
	}
}

// headerValue reports whether net/http's client sends s as a header value:
// no control characters but tab.
func headerValue(s string) bool {
	return !strings.ContainsFunc(s, func(r rune) bool { return r < ' ' && r != '\t' || r == 0x7f })
}

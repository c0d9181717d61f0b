package webhook_test

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gitsync-io/gitsync/pkg/webhook"
)

func TestReceiverAcceptsPushes(t *testing.T) {
	github := []string{"https://github.com/Example-Org/fleet.git", "git@github.com:Example-Org/fleet.git", "https://github.com/Example-Org/fleet", "Example-Org/fleet"}
	gitlab := []string{"https://gitlab.example.com/platform/clusters/fleet.git", "ssh://git@gitlab.example.com:2222/platform/clusters/fleet.git", "https://gitlab.example.com/platform/clusters/fleet", "platform/clusters/fleet"}
	gitea := []string{"http://gitea.internal:3000/ops/fleet.git", "ssh://git@gitea.internal:2222/ops/fleet.git", "http://gitea.internal:3000/ops/fleet", "ops/fleet"}
	for _, tc := range []struct {
		name     string
		provider webhook.Provider
		event    string
		file     string
		form     bool              // deliver the payload form-encoded
		header   func(http.Header) // rewrites the signed headers
		want     webhook.Push
	}{
		{name: "accepts a signed GitHub push to a branch", provider: webhook.GitHub, event: "push", file: "github-push.json",
			want: webhook.Push{Provider: webhook.GitHub, Repository: github, Ref: "refs/heads/main", Branch: "main", After: "9b2f9c1e0d6a4d0f8e8f3b9a7c1d2e3f4a5b6c7d"}},
		{name: "accepts a GitHub tag push as a tag without a branch", provider: webhook.GitHub, event: "push", file: "github-push-tag.json",
			want: webhook.Push{Provider: webhook.GitHub, Repository: github, Ref: "refs/tags/v1.4.0", Tag: "v1.4.0", After: "b3a1f0c2d4e5f60718293a4b5c6d7e8f90a1b2c3"}},
		{name: "accepts a GitHub branch deletion as a push marked deleted", provider: webhook.GitHub, event: "push", file: "github-push-delete.json",
			want: webhook.Push{Provider: webhook.GitHub, Repository: github, Ref: "refs/heads/feature/canary", Branch: "feature/canary", After: "0000000000000000000000000000000000000000", Deleted: true}},
		{name: "reads a GitHub push delivered form-encoded", provider: webhook.GitHub, event: "push", file: "github-push.json",
			form: true,
			want: webhook.Push{Provider: webhook.GitHub, Repository: github, Ref: "refs/heads/main", Branch: "main", After: "9b2f9c1e0d6a4d0f8e8f3b9a7c1d2e3f4a5b6c7d"}},
		{name: "accepts a signed Gitea push", provider: webhook.Gitea, event: "push", file: "gitea-push.json",
			want: webhook.Push{Provider: webhook.Gitea, Repository: gitea, Ref: "refs/heads/main", Branch: "main", After: "bffeb74224043ba2feb48d137756c8a9331c449a"}},
		{name: "accepts a Forgejo push signed in its own headers", provider: webhook.Gitea, event: "push", file: "gitea-push.json",
			header: func(h http.Header) {
				h.Set("X-Forgejo-Signature", h.Get("X-Gitea-Signature"))
				h.Set("X-Forgejo-Event", h.Get("X-Gitea-Event"))
				h.Del("X-Gitea-Signature")
				h.Del("X-Gitea-Event")
			},
			want: webhook.Push{Provider: webhook.Gitea, Repository: gitea, Ref: "refs/heads/main", Branch: "main", After: "bffeb74224043ba2feb48d137756c8a9331c449a"}},
		{name: "accepts a GitLab push with the right token", provider: webhook.GitLab, event: "Push Hook", file: "gitlab-push.json",
			want: webhook.Push{Provider: webhook.GitLab, Repository: gitlab, Ref: "refs/heads/main", Branch: "main", After: "da1560886d4f094c3e6c9ef40349f7d38b5d27d7"}},
		{name: "takes the commit of a GitLab tag push from checkout_sha", provider: webhook.GitLab, event: "Tag Push Hook", file: "gitlab-tag-push.json",
			want: webhook.Push{Provider: webhook.GitLab, Repository: gitlab, Ref: "refs/tags/v1.4.0", Tag: "v1.4.0", After: "da1560886d4f094c3e6c9ef40349f7d38b5d27d7"}},
		{name: "accepts a GitLab branch deletion as a push marked deleted", provider: webhook.GitLab, event: "Push Hook", file: "gitlab-push-delete.json",
			want: webhook.Push{Provider: webhook.GitLab, Repository: gitlab, Ref: "refs/heads/canary", Branch: "canary", After: "0000000000000000000000000000000000000000", Deleted: true}},
		{name: "accepts gitsync's own signed generic push", provider: webhook.Generic, file: "generic-push.json",
			want: webhook.Push{Provider: webhook.Generic, Repository: []string{"git@git.example.com:ops/fleet.git"}, Ref: "refs/heads/main", Branch: "main", After: "4e1c9a3d6f7b8c9d0e1f2a3b4c5d6e7f8a9b0c1d"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := start(t, webhook.Options{})
			body := readTestdata(t, tc.file)
			if tc.form {
				body = []byte(url.Values{"payload": {string(body)}}.Encode())
			}
			header := signed(tc.provider, tc.event, body, secrets[tc.provider])
			if tc.form {
				header.Set("Content-Type", "application/x-www-form-urlencoded")
			}
			if tc.header != nil {
				tc.header(header)
			}

			code, text := h.post(t, "/hooks/"+string(tc.provider), header, body)
			if code != http.StatusAccepted || text != "accepted" {
				t.Errorf("POST = %d %q, want 202 \"accepted\"", code, text)
			}
			if diff := cmp.Diff([]webhook.Push{tc.want}, h.recorded()); diff != "" {
				t.Errorf("OnPush calls (-want +got):\n%s", diff)
			}
		})
	}
}

func TestReceiverAcknowledgesOtherEvents(t *testing.T) {
	for _, tc := range []struct {
		name     string
		provider webhook.Provider
		event    string
		file     string
	}{
		{"acknowledges GitHub's ping", webhook.GitHub, "ping", "github-ping.json"},
		{"acknowledges a GitHub issue event", webhook.GitHub, "issues", "github-issues.json"},
		{"acknowledges a GitLab merge request", webhook.GitLab, "Merge Request Hook", "gitlab-merge-request.json"},
		{"acknowledges a Gitea pull request", webhook.Gitea, "pull_request", "github-issues.json"},
		{"acknowledges an event it cannot parse without parsing it", webhook.GitHub, "workflow_run", "not json"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := start(t, webhook.Options{})
			body := []byte(tc.file)
			if strings.HasSuffix(tc.file, ".json") {
				body = readTestdata(t, tc.file)
			}
			code, text := h.post(t, "/hooks/"+string(tc.provider), signed(tc.provider, tc.event, body, secrets[tc.provider]), body)
			if code != http.StatusOK || text != "ignored: not a push event" {
				t.Errorf("POST = %d %q, want 200 \"ignored: not a push event\"", code, text)
			}
			if got := h.recorded(); len(got) != 0 {
				t.Errorf("OnPush was called with %+v", got)
			}
		})
	}
}

func TestReceiverRefusesUnusablePayloads(t *testing.T) {
	for _, tc := range []struct {
		name     string
		provider webhook.Provider
		event    string
		body     string
		header   func(http.Header)
		want     string
	}{
		{name: "refuses malformed JSON from GitHub", provider: webhook.GitHub, event: "push", body: `{"ref": "refs/heads/main",`, want: "malformed JSON"},
		{name: "refuses malformed JSON from GitLab", provider: webhook.GitLab, event: "Push Hook", body: `<html>`, want: "malformed JSON"},
		{name: "refuses malformed JSON from Gitea", provider: webhook.Gitea, event: "push", body: `{"ref": 1}`, want: "malformed JSON"},
		{name: "refuses malformed JSON in the generic payload", provider: webhook.Generic, body: `{"repository": "x"} trailing`, want: "malformed JSON"},
		{name: "refuses an empty body", provider: webhook.Generic, body: ``, want: "malformed JSON"},
		{name: "refuses a push without a ref", provider: webhook.GitHub, event: "push", body: `{"repository": {"clone_url": "https://github.com/o/r.git"}}`,
			want: "payload has no ref: want a full reference name such as refs/heads/main"},
		{name: "refuses a generic push naming a branch instead of a ref", provider: webhook.Generic, body: `{"repository": "https://git.example.com/o/r", "ref": "main"}`,
			want: "payload has no ref: want a full reference name such as refs/heads/main"},
		{name: "refuses a push without a repository", provider: webhook.GitLab, event: "Push Hook", body: `{"ref": "refs/heads/main", "project": {"web_url": " "}}`,
			want: "payload names no repository"},
		{name: "refuses a signed request without an event header", provider: webhook.GitHub, body: `{}`,
			header: func(h http.Header) { h.Del("X-GitHub-Event") },
			want:   "missing event header X-GitHub-Event"},
		{name: "refuses a form without a payload field", provider: webhook.GitHub, event: "push", body: `ref=refs%2Fheads%2Fmain`,
			header: func(h http.Header) { h.Set("Content-Type", "application/x-www-form-urlencoded") },
			want:   "form has no payload field"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := start(t, webhook.Options{})
			body := []byte(tc.body)
			header := signed(tc.provider, tc.event, body, secrets[tc.provider])
			if tc.header != nil {
				tc.header(header)
			}
			code, text := h.post(t, "/hooks/"+string(tc.provider), header, body)
			if code != http.StatusBadRequest || text != tc.want {
				t.Errorf("POST = %d %q, want 400 %q", code, text, tc.want)
			}
			if got := h.recorded(); len(got) != 0 {
				t.Errorf("OnPush was called with %+v", got)
			}
		})
	}
}

func TestReceiverRoutes(t *testing.T) {
	body := readTestdata(t, "github-push.json")
	for _, tc := range []struct {
		name      string
		secrets   map[webhook.Provider][]byte
		method    string
		path      string
		wantCode  int
		wantAllow string
	}{
		{name: "refuses GET with 405 and names POST", method: http.MethodGet, path: "/hooks/github", wantCode: http.StatusMethodNotAllowed, wantAllow: "POST"},
		{name: "refuses PUT with 405 and names POST", method: http.MethodPut, path: "/hooks/gitlab", wantCode: http.StatusMethodNotAllowed, wantAllow: "POST"},
		{name: "does not know an unknown provider", method: http.MethodPost, path: "/hooks/bitbucket", wantCode: http.StatusNotFound},
		{name: "does not serve the prefix itself", method: http.MethodPost, path: "/hooks/", wantCode: http.StatusNotFound},
		{name: "does not serve paths below a provider", method: http.MethodPost, path: "/hooks/github/push", wantCode: http.StatusNotFound},
		{name: "does not serve paths outside the prefix", method: http.MethodPost, path: "/github", wantCode: http.StatusNotFound},
		{name: "turns off a provider without a secret, even for a correctly signed push",
			secrets: map[webhook.Provider][]byte{webhook.GitLab: secrets[webhook.GitLab]},
			method:  http.MethodPost, path: "/hooks/github", wantCode: http.StatusNotFound},
		{name: "answers GET on a turned-off provider as on an unknown one",
			secrets: map[webhook.Provider][]byte{webhook.GitLab: secrets[webhook.GitLab]},
			method:  http.MethodGet, path: "/hooks/github", wantCode: http.StatusNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := start(t, webhook.Options{Secrets: tc.secrets})
			req, err := http.NewRequest(tc.method, h.url+tc.path, bytes.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			addHeaders(req.Header, signed(webhook.GitHub, "push", body, secrets[webhook.GitHub]))
			resp, err := h.client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.wantCode || resp.Header.Get("Allow") != tc.wantAllow {
				t.Errorf("%s %s = %d (Allow %q), want %d (Allow %q)", tc.method, tc.path, resp.StatusCode, resp.Header.Get("Allow"), tc.wantCode, tc.wantAllow)
			}
			if got := h.recorded(); len(got) != 0 {
				t.Errorf("OnPush was called with %+v", got)
			}
		})
	}
}

func TestReceiverLimitsTheBody(t *testing.T) {
	// oversized is a valid, signed generic push padded with JSON whitespace
	// to size bytes.
	oversized := func(size int) []byte {
		body := readTestdata(t, "generic-push.json")
		return append(body, bytes.Repeat([]byte(" "), size-len(body))...)
	}
	limit := int(webhook.DefaultMaxBody)
	for _, tc := range []struct {
		name    string
		maxBody int64
		size    int
		chunked bool
		want    int
	}{
		{name: "refuses a declared length of 1 MiB + 1 byte", size: limit + 1, want: http.StatusRequestEntityTooLarge},
		{name: "refuses a chunked body of 1 MiB + 1 byte without a declared length", size: limit + 1, chunked: true, want: http.StatusRequestEntityTooLarge},
		{name: "accepts a body of exactly 1 MiB", size: limit, want: http.StatusAccepted},
		{name: "accepts a chunked body of exactly 1 MiB", size: limit, chunked: true, want: http.StatusAccepted},
		{name: "honours a smaller MaxBody", maxBody: 512, size: 513, chunked: true, want: http.StatusRequestEntityTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel() // a refused body costs its server half a second to close
			pushes := make(chan webhook.Push, 2)
			r, err := webhook.New(webhook.Options{Secrets: secrets, MaxBody: tc.maxBody, OnPush: func(p webhook.Push) { pushes <- p }})
			if err != nil {
				t.Fatal(err)
			}
			// framing is how the request reached the server: its declared
			// length (-1 for none) and transfer encoding.
			type framing struct {
				length   int64
				encoding []string
			}
			seen := make(chan framing, 1)
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
				seen <- framing{req.ContentLength, req.TransferEncoding}
				r.Handler().ServeHTTP(w, req)
			}))
			defer srv.Close()

			body := oversized(tc.size)
			var reader io.Reader = bytes.NewReader(body)
			if tc.chunked {
				reader = io.MultiReader(reader) // hides the length from the client
			}
			req, err := http.NewRequest(http.MethodPost, srv.URL+"/hooks/generic", reader)
			if err != nil {
				t.Fatal(err)
			}
			addHeaders(req.Header, signed(webhook.Generic, "", body, secrets[webhook.Generic]))
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()

			want := framing{int64(tc.size), nil}
			if tc.chunked {
				want = framing{-1, []string{"chunked"}}
			}
			if diff := cmp.Diff(want, <-seen, cmp.AllowUnexported(framing{})); diff != "" {
				t.Fatalf("the request's framing at the server (-want +got):\n%s", diff)
			}
			if resp.StatusCode != tc.want {
				t.Errorf("POST of %d bytes = %d, want %d", tc.size, resp.StatusCode, tc.want)
			}
			if wantPushes := map[bool]int{true: 1}[tc.want == http.StatusAccepted]; len(pushes) != wantPushes {
				t.Errorf("OnPush was called %d times, want %d", len(pushes), wantPushes)
			}
		})
	}
}

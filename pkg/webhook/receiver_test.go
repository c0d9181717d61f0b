package webhook_test

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/gitsync-io/gitsync/pkg/webhook"
)

// secrets are the harness's secrets, one per provider.
var secrets = map[webhook.Provider][]byte{
	webhook.GitHub:  []byte("gh-3c1d9f0a7b"),
	webhook.GitLab:  []byte("glpat-token-5e2a"),
	webhook.Gitea:   []byte("gitea-8f4b2c"),
	webhook.Generic: []byte("generic-1a9e7d"),
}

// harness is a Receiver behind a real HTTP server, recording its pushes.
type harness struct {
	url    string
	client *http.Client
	reg    *prometheus.Registry

	mu     sync.Mutex
	pushes []webhook.Push
}

// start serves a Receiver with opts; unset Secrets default to secrets, and
// OnPush and Registerer are the harness's.
func start(t testing.TB, opts webhook.Options) *harness {
	t.Helper()
	h := &harness{reg: prometheus.NewRegistry()}
	if opts.Secrets == nil {
		opts.Secrets = secrets
	}
	opts.OnPush = h.record
	opts.Registerer = h.reg
	r, err := webhook.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return h.serve(t, r)
}

// serve serves r on a real HTTP server until the test ends.
func (h *harness) serve(t testing.TB, r *webhook.Receiver) *harness {
	t.Helper()
	srv := httptest.NewServer(r.Handler())
	t.Cleanup(srv.Close)
	h.url, h.client = srv.URL, srv.Client()
	return h
}

func (h *harness) record(p webhook.Push) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.pushes = append(h.pushes, p)
}

// recorded returns the pushes so far.
func (h *harness) recorded() []webhook.Push {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]webhook.Push(nil), h.pushes...)
}

// post sends body to path with header and returns the status and response
// body. A response that quotes a secret fails the test.
func (h *harness) post(t testing.TB, path string, header http.Header, body []byte) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, h.url+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	addHeaders(req.Header, header)
	return h.do(t, req)
}

func (h *harness) do(t testing.TB, req *http.Request) (int, string) {
	t.Helper()
	resp, err := h.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	text, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range secrets {
		if bytes.Contains(text, s) {
			t.Errorf("the response %q quotes a secret", text)
		}
	}
	return resp.StatusCode, strings.TrimSpace(string(text))
}

func addHeaders(dst, src http.Header) {
	for k, vs := range src {
		for _, v := range vs {
			dst.Add(k, v)
		}
	}
}

// signed returns the headers with which provider delivers event with body,
// proven with secret.
func signed(p webhook.Provider, event string, body, secret []byte) http.Header {
	h := http.Header{"Content-Type": {"application/json"}}
	switch p {
	case webhook.GitHub:
		h.Set("X-Hub-Signature-256", "sha256="+hmacHex(secret, body))
		h.Set("X-GitHub-Event", event)
	case webhook.Gitea:
		h.Set("X-Gitea-Signature", hmacHex(secret, body))
		h.Set("X-Gitea-Event", event)
	case webhook.GitLab:
		h.Set("X-Gitlab-Token", string(secret))
		h.Set("X-Gitlab-Event", event)
	case webhook.Generic:
		h.Set("X-Gitsync-Signature", "sha256="+hmacHex(secret, body))
	}
	return h
}

func hmacHex(secret, body []byte) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write(body)
	return hex.EncodeToString(mac.Sum(nil))
}

// pushEvent is each provider's event header value for a branch push.
var pushEvent = map[webhook.Provider]string{
	webhook.GitHub: "push", webhook.Gitea: "push", webhook.GitLab: "Push Hook", webhook.Generic: "",
}

// samplePush is a push payload of each provider, from testdata.
var samplePush = map[webhook.Provider]string{
	webhook.GitHub: "github-push.json", webhook.Gitea: "gitea-push.json",
	webhook.GitLab: "gitlab-push.json", webhook.Generic: "generic-push.json",
}

func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestNew(t *testing.T) {
	noop := func(webhook.Push) {}
	for _, tc := range []struct {
		name string
		opts webhook.Options
		want string
	}{
		{"requires OnPush", webhook.Options{Secrets: secrets},
			"webhook: OnPush is required"},
		{"requires at least one secret", webhook.Options{OnPush: noop},
			"webhook: Secrets is empty: give at least one provider (github, gitlab, gitea, generic) a secret"},
		{"refuses an empty secret instead of turning verification off",
			webhook.Options{OnPush: noop, Secrets: map[webhook.Provider][]byte{webhook.GitHub: {}, webhook.GitLab: []byte("t")}},
			`webhook: Secrets["github"] is empty: every endpoint needs a secret; leave the provider out to turn its endpoint off`},
		{"refuses an unknown provider without quoting its secret",
			webhook.Options{OnPush: noop, Secrets: map[webhook.Provider][]byte{"bitbucket": []byte("s3cr3t")}},
			`webhook: Secrets["bitbucket"]: unknown provider: use github, gitlab, gitea or generic`},
		{"refuses a negative MaxBody", webhook.Options{OnPush: noop, Secrets: secrets, MaxBody: -1},
			"webhook: MaxBody must not be negative (0 means 1 MiB)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := webhook.New(tc.opts)
			if err == nil {
				t.Fatalf("New() = %v, want an error", r)
			}
			if diff := cmp.Diff(tc.want, err.Error()); diff != "" {
				t.Errorf("New() error (-want +got):\n%s", diff)
			}
		})
	}
}

func TestNewCopiesTheSecrets(t *testing.T) {
	t.Run("keeps verifying with the secret it was given when the caller's map changes", func(t *testing.T) {
		given := map[webhook.Provider][]byte{webhook.Generic: []byte("first")}
		h := start(t, webhook.Options{Secrets: given})
		given[webhook.Generic][0] = 'X'
		given[webhook.GitHub] = []byte("later")

		body := readTestdata(t, "generic-push.json")
		if code, text := h.post(t, "/hooks/generic", signed(webhook.Generic, "", body, []byte("first")), body); code != http.StatusAccepted {
			t.Errorf("push signed with the original secret: %d %q, want 202", code, text)
		}
		if code, _ := h.post(t, "/hooks/github", signed(webhook.GitHub, "push", body, []byte("later")), body); code != http.StatusNotFound {
			t.Errorf("provider added to the map after New: %d, want 404", code)
		}
	})
}

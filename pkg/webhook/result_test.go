package webhook_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/gitsync-io/gitsync/pkg/webhook"
)

func TestReceiverCountsRequests(t *testing.T) {
	t.Run("counts each request once by provider and result", func(t *testing.T) {
		h := start(t, webhook.Options{
			Secrets: map[webhook.Provider][]byte{webhook.GitHub: secrets[webhook.GitHub], webhook.GitLab: secrets[webhook.GitLab]},
			MaxBody: 64 << 10,
		})
		push := readTestdata(t, "github-push.json")
		ping := readTestdata(t, "github-ping.json")
		glPush := readTestdata(t, "gitlab-push.json")
		big := append(append([]byte{}, push...), strings.Repeat(" ", 64<<10)...)
		for _, r := range []struct {
			path   string
			header http.Header
			body   []byte
			want   int
		}{
			{"/hooks/github", signed(webhook.GitHub, "push", push, secrets[webhook.GitHub]), push, http.StatusAccepted},
			{"/hooks/github", signed(webhook.GitHub, "push", push, secrets[webhook.GitHub]), push, http.StatusAccepted},
			{"/hooks/github", signed(webhook.GitHub, "ping", ping, secrets[webhook.GitHub]), ping, http.StatusOK},
			{"/hooks/github", signed(webhook.GitHub, "push", big, secrets[webhook.GitHub]), big, http.StatusRequestEntityTooLarge},
			{"/hooks/github", signed(webhook.GitHub, "push", []byte("{"), secrets[webhook.GitHub]), []byte("{"), http.StatusBadRequest},
			{"/hooks/gitlab", http.Header{"X-Gitlab-Event": {"Push Hook"}}, glPush, http.StatusUnauthorized},
			{"/hooks/gitlab", signed(webhook.GitLab, "Push Hook", glPush, []byte("wrong")), glPush, http.StatusForbidden},
			{"/hooks/gitea", signed(webhook.Gitea, "push", push, secrets[webhook.Gitea]), push, http.StatusNotFound},
			{"/hooks/bitbucket", nil, push, http.StatusNotFound},
			{"/hooks/x/../../etc", nil, push, http.StatusNotFound},
		} {
			if code, text := h.post(t, r.path, r.header, r.body); code != r.want {
				t.Fatalf("POST %s = %d %q, want %d", r.path, code, text, r.want)
			}
		}
		req, err := http.NewRequest(http.MethodGet, h.url+"/hooks/github", nil)
		if err != nil {
			t.Fatal(err)
		}
		if code, _ := h.do(t, req); code != http.StatusMethodNotAllowed {
			t.Fatalf("GET = %d, want 405", code)
		}

		want := `
# HELP gitsync_webhook_requests_total Webhook requests by provider and result (accepted, ignored, unauthorized, forbidden, too_large, bad_request, method_not_allowed, disabled, not_found).
# TYPE gitsync_webhook_requests_total counter
gitsync_webhook_requests_total{provider="github",result="accepted"} 2
gitsync_webhook_requests_total{provider="github",result="bad_request"} 1
gitsync_webhook_requests_total{provider="github",result="ignored"} 1
gitsync_webhook_requests_total{provider="github",result="method_not_allowed"} 1
gitsync_webhook_requests_total{provider="github",result="too_large"} 1
gitsync_webhook_requests_total{provider="gitlab",result="accepted"} 0
gitsync_webhook_requests_total{provider="gitlab",result="forbidden"} 1
gitsync_webhook_requests_total{provider="gitlab",result="unauthorized"} 1
gitsync_webhook_requests_total{provider="gitea",result="disabled"} 1
gitsync_webhook_requests_total{provider="unknown",result="not_found"} 2
`
		if err := testutil.GatherAndCompare(h.reg, strings.NewReader(want), "gitsync_webhook_requests_total"); err != nil {
			t.Error(err)
		}
		if got := len(h.recorded()); got != 2 {
			t.Errorf("OnPush was called %d times, want 2", got)
		}
	})
}

func TestNewRegistersMetrics(t *testing.T) {
	opts := func(reg prometheus.Registerer) webhook.Options {
		return webhook.Options{Secrets: secrets, OnPush: func(webhook.Push) {}, Registerer: reg}
	}
	t.Run("registers nothing on the global registry", func(t *testing.T) {
		if _, err := webhook.New(opts(prometheus.NewRegistry())); err != nil {
			t.Fatal(err)
		}
		if _, err := webhook.New(opts(nil)); err != nil {
			t.Fatal(err)
		}
		n, err := testutil.GatherAndCount(prometheus.DefaultGatherer, "gitsync_webhook_requests_total")
		if err != nil || n != 0 {
			t.Errorf("the global registry has %d gitsync_webhook_requests_total series (err %v), want none", n, err)
		}
	})
	t.Run("shares the counter with an earlier receiver on the same registry", func(t *testing.T) {
		reg := prometheus.NewRegistry()
		first, err := webhook.New(opts(reg))
		if err != nil {
			t.Fatal(err)
		}
		second, err := webhook.New(opts(reg))
		if err != nil {
			t.Fatalf("second New on the same registry: %v", err)
		}
		for _, r := range []*webhook.Receiver{first, second} {
			(&harness{}).serve(t, r).post(t, "/hooks/nope", nil, nil)
		}
		want := `
# HELP gitsync_webhook_requests_total Webhook requests by provider and result (accepted, ignored, unauthorized, forbidden, too_large, bad_request, method_not_allowed, disabled, not_found).
# TYPE gitsync_webhook_requests_total counter
gitsync_webhook_requests_total{provider="generic",result="accepted"} 0
gitsync_webhook_requests_total{provider="gitea",result="accepted"} 0
gitsync_webhook_requests_total{provider="github",result="accepted"} 0
gitsync_webhook_requests_total{provider="gitlab",result="accepted"} 0
gitsync_webhook_requests_total{provider="unknown",result="not_found"} 2
`
		if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "gitsync_webhook_requests_total"); err != nil {
			t.Error(err)
		}
	})
	t.Run("fails when another metric holds the name", func(t *testing.T) {
		reg := prometheus.NewRegistry()
		reg.MustRegister(prometheus.NewCounter(prometheus.CounterOpts{Name: "gitsync_webhook_requests_total", Help: "other"}))
		if r, err := webhook.New(opts(reg)); err == nil {
			t.Errorf("New() = %v, want a registration error", r)
		}
	})
}

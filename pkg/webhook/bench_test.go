package webhook_test

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/gitsync-io/gitsync/pkg/webhook"
)

// BenchmarkReceiveGitHubPush measures a typical signed GitHub push: in
// process (body read, HMAC, JSON, OnPush) and over loopback HTTP.
func BenchmarkReceiveGitHubPush(b *testing.B) {
	body := readTestdata(b, "github-push.json")
	header := signed(webhook.GitHub, "push", body, secrets[webhook.GitHub])
	b.Run("in process", func(b *testing.B) {
		r, err := webhook.New(webhook.Options{Secrets: secrets, OnPush: func(webhook.Push) {}})
		if err != nil {
			b.Fatal(err)
		}
		handler := r.Handler()
		b.SetBytes(int64(len(body)))
		b.ReportAllocs()
		for b.Loop() {
			req := httptest.NewRequest(http.MethodPost, "/hooks/github", bytes.NewReader(body))
			req.Header = header
			w := httptest.NewRecorder()
			handler.ServeHTTP(w, req)
			if w.Code != http.StatusAccepted {
				b.Fatalf("status %d, want 202", w.Code)
			}
		}
	})
	b.Run("over loopback HTTP", func(b *testing.B) {
		h := start(b, webhook.Options{})
		b.SetBytes(int64(len(body)))
		b.ReportAllocs()
		for b.Loop() {
			if code, text := h.post(b, "/hooks/github", header, body); code != http.StatusAccepted {
				b.Fatalf("POST = %d %q, want 202", code, text)
			}
		}
	})
}

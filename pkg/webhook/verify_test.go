package webhook_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/gitsync-io/gitsync/pkg/webhook"
)

func TestReceiverRefusesUnverifiedRequests(t *testing.T) {
	// The credential header of each provider.
	proof := map[webhook.Provider]string{
		webhook.GitHub: "X-Hub-Signature-256", webhook.Gitea: "X-Gitea-Signature",
		webhook.GitLab: "X-Gitlab-Token", webhook.Generic: "X-Gitsync-Signature",
	}
	signers := []webhook.Provider{webhook.GitHub, webhook.Gitea, webhook.Generic} // HMAC of the body
	for _, tc := range []struct {
		name     string
		only     []webhook.Provider                                 // nil means every provider
		secret   string                                             // signs the request; "" means the right secret
		tamper   func(webhook.Provider, http.Header, []byte) []byte // rewrites the signed request
		wantCode int
		wantText string
	}{
		{name: "refuses a request without a signature with 401",
			tamper: func(p webhook.Provider, h http.Header, body []byte) []byte {
				h.Del(proof[p])
				return body
			},
			wantCode: http.StatusUnauthorized, wantText: "missing %s header"},
		{name: "refuses a blank signature header as missing",
			tamper: func(p webhook.Provider, h http.Header, body []byte) []byte {
				h.Set(proof[p], "")
				return body
			},
			wantCode: http.StatusUnauthorized, wantText: "missing %s header"},
		{name: "refuses a signature one byte off with 403",
			tamper: func(p webhook.Provider, h http.Header, body []byte) []byte {
				h.Set(proof[p], oneByteOff(h.Get(proof[p])))
				return body
			},
			wantCode: http.StatusForbidden, wantText: "%s does not match the secret"},
		{name: "refuses a signature made with another secret with 403", secret: "not-the-secret",
			wantCode: http.StatusForbidden, wantText: "%s does not match the secret"},
		{name: "refuses a body changed after signing with 403", only: signers,
			tamper: func(p webhook.Provider, h http.Header, body []byte) []byte {
				return append([]byte(" "), body...)
			},
			wantCode: http.StatusForbidden, wantText: "%s does not match the secret"},
		{name: "refuses a token that is the start of the right one with 403", only: []webhook.Provider{webhook.GitLab},
			tamper: func(p webhook.Provider, h http.Header, body []byte) []byte {
				h.Set(proof[p], string(secrets[p][:len(secrets[p])-1]))
				return body
			},
			wantCode: http.StatusForbidden, wantText: "%s does not match the secret"},
		{name: "refuses a signature that is not hex with 403", only: signers,
			tamper: func(p webhook.Provider, h http.Header, body []byte) []byte {
				h.Set(proof[p], h.Get(proof[p])[:len(h.Get(proof[p]))-2]+"zz")
				return body
			},
			wantCode: http.StatusForbidden, wantText: "%s does not match the secret"},
	} {
		providers := tc.only
		if providers == nil {
			providers = webhook.Providers()
		}
		for _, p := range providers {
			t.Run(tc.name+" from "+string(p), func(t *testing.T) {
				h := start(t, webhook.Options{})
				body, secret := readTestdata(t, samplePush[p]), secrets[p]
				if tc.secret != "" {
					secret = []byte(tc.secret)
				}
				header := signed(p, pushEvent[p], body, secret)
				if tc.tamper != nil {
					body = tc.tamper(p, header, body)
				}

				code, text := h.post(t, "/hooks/"+string(p), header, body)
				if want := fmt.Sprintf(tc.wantText, proof[p]); code != tc.wantCode || text != want {
					t.Errorf("POST = %d %q, want %d %q", code, text, tc.wantCode, want)
				}
				if got := h.recorded(); len(got) != 0 {
					t.Errorf("OnPush was called with %+v", got)
				}
			})
		}
	}
}

func TestReceiverChecksTheSignatureScheme(t *testing.T) {
	body := readTestdata(t, "github-push.json")
	for _, tc := range []struct {
		name, header, value string
		wantCode            int
	}{
		{"refuses the right digest without its sha256= prefix", "X-Hub-Signature-256", hmacHex(secrets[webhook.GitHub], body), http.StatusForbidden},
		{"refuses the right digest labelled sha1", "X-Hub-Signature-256", "sha1=" + hmacHex(secrets[webhook.GitHub], body), http.StatusForbidden},
		{"does not accept the legacy SHA-1 header in place of the SHA-256 one", "X-Hub-Signature", "sha256=" + hmacHex(secrets[webhook.GitHub], body), http.StatusUnauthorized},
		{"accepts the digest in upper-case hex", "X-Hub-Signature-256", "sha256=" + strings.ToUpper(hmacHex(secrets[webhook.GitHub], body)), http.StatusAccepted},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := start(t, webhook.Options{})
			header := http.Header{"X-Github-Event": {"push"}}
			header.Set(tc.header, tc.value)
			if code, text := h.post(t, "/hooks/github", header, body); code != tc.wantCode {
				t.Errorf("POST = %d %q, want %d", code, text, tc.wantCode)
			}
			if got, want := len(h.recorded()), map[bool]int{true: 1}[tc.wantCode == http.StatusAccepted]; got != want {
				t.Errorf("OnPush was called %d times, want %d", got, want)
			}
		})
	}
}

// oneByteOff changes the last character of a signature or token.
func oneByteOff(s string) string {
	last := s[len(s)-1]
	if last == '0' {
		return s[:len(s)-1] + "1"
	}
	return s[:len(s)-1] + "0"
}

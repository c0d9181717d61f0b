package webhook_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gitsync-io/gitsync/pkg/webhook"
)

// The caller mounts the handler next to its health endpoints and, for every
// push, triggers the syncs whose repository and branch it matches, through
// a non-blocking 1-slot mailbox.
func Example() {
	const repo, branch = "https://github.com/example/fleet.git", "main"
	trigger := make(chan struct{}, 1)
	receiver, err := webhook.New(webhook.Options{
		Secrets: map[webhook.Provider][]byte{webhook.Generic: []byte("s3cret")},
		OnPush: func(p webhook.Push) {
			if p.Matches(repo, branch) {
				select {
				case trigger <- struct{}{}:
				default: // a sync is already pending
				}
			}
		},
		Registerer: prometheus.NewRegistry(),
	})
	if err != nil {
		fmt.Println(err) // one line, naming the field to fix
		return
	}
	mux := http.NewServeMux()
	mux.Handle(webhook.PathPrefix, receiver.Handler())
	srv := httptest.NewServer(mux)
	defer srv.Close()

	// What a CI job sends to /hooks/generic.
	body := `{"repository": "git@github.com:example/fleet.git", "ref": "refs/heads/main"}`
	mac := hmac.New(sha256.New, []byte("s3cret"))
	mac.Write([]byte(body))
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/hooks/generic", strings.NewReader(body))
	req.Header.Set("X-Gitsync-Signature", "sha256="+hex.EncodeToString(mac.Sum(nil)))
	resp, err := srv.Client().Do(req)
	if err != nil {
		fmt.Println(err)
		return
	}
	resp.Body.Close()

	fmt.Println(resp.Status)
	fmt.Println("sync triggered:", len(trigger) == 1)
	// Output:
	// 202 Accepted
	// sync triggered: true
}

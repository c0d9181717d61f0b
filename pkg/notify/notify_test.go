package notify_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr/funcr"
	"github.com/google/go-cmp/cmp"

	"github.com/gitsync-io/gitsync/pkg/notify"
)

// request is what the test receiver got.
type request struct {
	method, path, query string
	header              http.Header
	body                []byte
}

// receiver is an HTTP server of the test that records every request and
// answers with the status codes given in turn (then 200).
type receiver struct {
	*httptest.Server
	mu       sync.Mutex
	got      []request
	statuses []int
	arrived  chan struct{}
}

func newReceiver(t *testing.T, statuses ...int) *receiver {
	rc := &receiver{statuses: statuses, arrived: make(chan struct{}, 100)}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		rc.got = append(rc.got, request{r.Method, r.URL.EscapedPath(), r.URL.RawQuery, r.Header.Clone(), body})
		status := http.StatusOK
		if len(rc.statuses) > 0 {
			status, rc.statuses = rc.statuses[0], rc.statuses[1:]
		}
		rc.mu.Unlock()
		w.WriteHeader(status)
		io.WriteString(w, "echo "+r.URL.String()) // a server that quotes the URL back
		rc.arrived <- struct{}{}
	}))
	t.Cleanup(rc.Close)
	return rc
}

// wait returns the first n requests, failing after 10 s.
func (rc *receiver) wait(t *testing.T, n int) []request {
	t.Helper()
	for range n {
		select {
		case <-rc.arrived:
		case <-time.After(10 * time.Second):
			t.Fatalf("the receiver got %d requests, want %d", len(rc.requests()), n)
		}
	}
	return rc.requests()
}

func (rc *receiver) requests() []request {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]request(nil), rc.got...)
}

func newNotifier(t *testing.T, opts notify.Options, receivers ...notify.Receiver) *notify.Notifier {
	t.Helper()
	if opts.Cluster == "" {
		opts.Cluster = "prod"
	}
	if opts.Backoff == 0 {
		opts.Backoff = 10 * time.Millisecond
	}
	n, err := notify.New(receivers, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close(context.Background()) })
	return n
}

const revision = "1a2b3c4d5e6f7a8b9c0d1a2b3c4d5e6f7a8b9c0d"

func failed() notify.Event {
	return notify.Event{Kind: notify.Failed, Namespace: "gitsync-system", Sync: "apps", Source: "https://github.com/acme/cluster.git",
		Revision: revision, Reason: "apply: v1 Service web/web: spec.ports[0].port: Invalid value: 99999"}
}

func applied() notify.Event {
	return notify.Event{Kind: notify.Applied, Namespace: "gitsync-system", Sync: "apps", Source: "https://github.com/acme/cluster.git",
		Revision: revision, Counts: map[string]int{"created": 2, "configured": 1, "unchanged": 7}}
}

func TestGenericWebhookIsSignedJSON(t *testing.T) {
	rc := newReceiver(t)
	n := newNotifier(t, notify.Options{StatusURL: "https://gitsync.example.org/ui"},
		notify.Receiver{Name: "ops", Type: notify.Generic, URL: rc.URL + "/hook", Secret: "hmac-s3cret"})
	n.Notify(failed())
	got := rc.wait(t, 1)[0]

	mac := hmac.New(sha256.New, []byte("hmac-s3cret"))
	mac.Write(got.body)
	if want := "sha256=" + hex.EncodeToString(mac.Sum(nil)); got.header.Get("X-Gitsync-Signature") != want {
		t.Errorf("X-Gitsync-Signature = %q, want %q", got.header.Get("X-Gitsync-Signature"), want)
	}
	var e notify.Event
	if err := json.Unmarshal(got.body, &e); err != nil {
		t.Fatal(err)
	}
	want := failed()
	want.Cluster, want.Link, want.Time = "prod", "https://gitsync.example.org/ui/syncs/gitsync-system/apps", e.Time
	if diff := cmp.Diff(want, e); diff != "" || e.Time.IsZero() || got.header.Get("X-Gitsync-Event") != "failed" || got.path != "/hook" {
		t.Errorf("body (-want +got):\n%s\nheaders %v, path %s", diff, got.header, got.path)
	}
}

func TestChatFormats(t *testing.T) {
	for _, tc := range []struct {
		typ    notify.Type
		secret string
		check  func(t *testing.T, got request, body map[string]any)
	}{
		{notify.Slack, "", func(t *testing.T, _ request, b map[string]any) {
			attachment := b["attachments"].([]any)[0].(map[string]any)
			want(t, b["text"], "❌ prod/gitsync-system/apps failed at 1a2b3c4d5e6f")
			want(t, attachment["color"], "#d73a49")
			contains(t, attachment["text"], "Invalid value: 99999")
		}},
		{notify.Mattermost, "", func(t *testing.T, _ request, b map[string]any) {
			want(t, b["text"], "❌ prod/gitsync-system/apps failed at 1a2b3c4d5e6f")
		}},
		{notify.Discord, "", func(t *testing.T, _ request, b map[string]any) {
			embed := b["embeds"].([]any)[0].(map[string]any)
			want(t, embed["title"], "prod/gitsync-system/apps failed at 1a2b3c4d5e6f")
			want(t, embed["color"], float64(0xd73a49))
		}},
		{notify.Teams, "", func(t *testing.T, _ request, b map[string]any) {
			card := b["attachments"].([]any)[0].(map[string]any)
			want(t, card["contentType"], "application/vnd.microsoft.card.adaptive")
			content := card["content"].(map[string]any)
			want(t, content["type"], "AdaptiveCard")
			contains(t, content["body"].([]any)[1].(map[string]any)["text"], "Invalid value: 99999")
		}},
		{notify.Feishu, "feishu-s3cret", func(t *testing.T, _ request, b map[string]any) {
			want(t, b["msg_type"], "text")
			contains(t, b["content"].(map[string]any)["text"], "❌ prod/gitsync-system/apps failed")
			// Feishu: base64(HMAC-SHA256 keyed by "timestamp\nsecret" of nothing).
			mac := hmac.New(sha256.New, []byte(b["timestamp"].(string)+"\nfeishu-s3cret"))
			want(t, b["sign"], base64.StdEncoding.EncodeToString(mac.Sum(nil)))
			ts, _ := strconv.ParseInt(b["timestamp"].(string), 10, 64)
			if d := time.Since(time.Unix(ts, 0)); d < 0 || d > time.Minute {
				t.Errorf("timestamp %v is not now (seconds)", b["timestamp"])
			}
		}},
		{notify.DingTalk, "SECdingtalk", func(t *testing.T, got request, b map[string]any) {
			want(t, b["msgtype"], "markdown")
			contains(t, b["markdown"].(map[string]any)["text"], "Invalid value: 99999")
			// DingTalk: timestamp in ms and sign = base64(HMAC-SHA256 keyed by secret of "timestamp\nsecret") in the query.
			q := parseQuery(t, got.query)
			mac := hmac.New(sha256.New, []byte("SECdingtalk"))
			mac.Write([]byte(q.Get("timestamp") + "\nSECdingtalk"))
			want(t, q.Get("sign"), base64.StdEncoding.EncodeToString(mac.Sum(nil)))
			want(t, q.Get("access_token"), "robot-token")
		}},
	} {
		t.Run(string(tc.typ), func(t *testing.T) {
			rc := newReceiver(t)
			url := rc.URL + "/send"
			if tc.typ == notify.DingTalk {
				url += "?access_token=robot-token"
			}
			n := newNotifier(t, notify.Options{}, notify.Receiver{Name: "chat", Type: tc.typ, URL: url, Secret: tc.secret})
			n.Notify(failed())
			got := rc.wait(t, 1)[0]
			var body map[string]any
			if err := json.Unmarshal(got.body, &body); err != nil {
				t.Fatalf("body %s: %v", got.body, err)
			}
			if got.method != http.MethodPost || got.header.Get("Content-Type") != "application/json" {
				t.Errorf("%s with Content-Type %q", got.method, got.header.Get("Content-Type"))
			}
			tc.check(t, got, body)
		})
	}
}

// TestCommitStatus checks each forge's request against its documented API:
// the path, the token header, the state of each step and the context.
func TestCommitStatus(t *testing.T) {
	for _, tc := range []struct {
		typ                  notify.Type
		source, path, header string
		states               []string // of progressing, applied, failed
		contextKey           string
	}{
		{notify.GitHub, "https://github.com/acme/cluster.git", "/repos/acme/cluster/statuses/" + revision, "Authorization=Bearer gh-t0ken",
			[]string{"pending", "success", "failure"}, "context"},
		{notify.GitLab, "git@gitlab.example.org:ops/platform/cluster.git", "/api/v4/projects/ops%2Fplatform%2Fcluster/statuses/" + revision, "Private-Token=gh-t0ken",
			[]string{"running", "success", "failed"}, "name"},
		{notify.Gitea, "ssh://git@gitea.example.org:2222/acme/cluster.git", "/api/v1/repos/acme/cluster/statuses/" + revision, "Authorization=token gh-t0ken",
			[]string{"pending", "success", "failure"}, "context"},
	} {
		t.Run(string(tc.typ), func(t *testing.T) {
			rc := newReceiver(t)
			n := newNotifier(t, notify.Options{}, notify.Receiver{Name: "status", Type: tc.typ, URL: rc.URL, Token: "gh-t0ken"})
			for _, k := range []notify.Kind{notify.Progressing, notify.Applied, notify.Failed, notify.Pruned} {
				e := failed()
				e.Kind, e.Source, e.Counts = k, tc.source, map[string]int{"deleted": 5}
				n.Notify(e)
			}
			got := rc.wait(t, 2) // Applied and Pruned are not among a commit status's default events
			for _, g := range got {
				if g.path != tc.path {
					t.Errorf("path %s, want %s", g.path, tc.path)
				}
				name, value, _ := strings.Cut(tc.header, "=")
				if g.header.Get(name) != value {
					t.Errorf("header %s = %q, want %q", name, g.header.Get(name), value)
				}
			}
			var states []string
			for _, g := range got {
				var body map[string]string
				if err := json.Unmarshal(g.body, &body); err != nil {
					t.Fatal(err)
				}
				states = append(states, body["state"])
				want(t, body[tc.contextKey], "gitsync/prod/apps")
				if len([]rune(body["description"])) > 140 {
					t.Errorf("description of %d characters; GitHub takes 140", len([]rune(body["description"])))
				}
			}
			if diff := cmp.Diff([]string{tc.states[0], tc.states[2]}, states); diff != "" {
				t.Errorf("states (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDeliveryRetriesWhatMayPassAndGivesUpOnRefusals(t *testing.T) {
	var logs strings.Builder
	log := funcr.New(func(prefix, args string) { logs.WriteString(args + "\n") }, funcr.Options{})
	rc := newReceiver(t, 503, 429, 200, 404)
	n := newNotifier(t, notify.Options{Log: log}, notify.Receiver{Name: "chat", Type: notify.Slack, URL: rc.URL + "/services/T0KEN-SECRET"})
	n.Notify(failed())
	rc.wait(t, 3) // 503, 429, then delivered
	n.Notify(applied())
	rc.wait(t, 1) // 404: not retried
	n.Close(context.Background())
	if st := n.Stats("chat"); st != (notify.Stats{Sent: 1, Failed: 1}) || len(rc.requests()) != 4 {
		t.Errorf("stats %+v after %d requests; want 1 sent (after two retries), 1 failed without a retry", st, len(rc.requests()))
	}
	if !strings.Contains(logs.String(), "404 Not Found") || strings.Contains(logs.String(), "T0KEN-SECRET") {
		t.Errorf("the log must say why and never show the webhook URL's token:\n%s", logs.String())
	}
}

func TestReceiversChooseWhatTheyHear(t *testing.T) {
	rc := newReceiver(t)
	n := newNotifier(t, notify.Options{}, notify.Receiver{Name: "chat", Type: notify.Generic, URL: rc.URL, Secret: "s",
		Events: []notify.Kind{notify.Failed, notify.Pruned}, Syncs: []string{"apps"}, PruneThreshold: 3})
	other := failed()
	other.Sync = "calico"
	few, many := applied(), applied()
	few.Kind, few.Counts = notify.Pruned, map[string]int{"deleted": 3}
	many.Kind, many.Counts = notify.Pruned, map[string]int{"deleted": 4}
	for _, e := range []notify.Event{applied(), other, few, many, failed()} {
		n.Notify(e)
	}
	n.Close(context.Background())
	var kinds []string
	for _, g := range rc.requests() {
		kinds = append(kinds, g.header.Get("X-Gitsync-Event"))
	}
	if diff := cmp.Diff([]string{"pruned", "failed"}, kinds); diff != "" {
		t.Errorf("events delivered (-want +got):\n%s", diff)
	}
}

// TestRateLimitAndQueueNeverBlock: a receiver allowed 6 requests a minute
// gets its burst of 5 at once and the 6th not within a second; Notify
// never waits, and what does not fit the queue is dropped and counted.
func TestRateLimitAndQueueNeverBlock(t *testing.T) {
	rc := newReceiver(t)
	n := newNotifier(t, notify.Options{QueueSize: 8}, notify.Receiver{Name: "chat", Type: notify.Slack, URL: rc.URL, PerMinute: 6})
	start := time.Now()
	for range 20 {
		n.Notify(failed())
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("20 Notify calls took %s; Notify must not wait for delivery", d)
	}
	rc.wait(t, 5)
	time.Sleep(time.Second)
	if got := len(rc.requests()); got != 5 {
		t.Errorf("%d requests within a second; the limit allows a burst of 5, then one per 10 s", got)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	n.Close(ctx)
	if st := n.Stats("chat"); st.Sent != 5 || st.Dropped == 0 {
		t.Errorf("stats %+v; want 5 sent and the events beyond the queue dropped", st)
	}
}

func TestReceiverValidation(t *testing.T) {
	for _, tc := range []struct {
		r    notify.Receiver
		want string
	}{
		{notify.Receiver{Type: notify.Slack, URL: "https://hooks.example.org/x"}, "name: required"},
		{notify.Receiver{Name: "a", Type: "pager", URL: "https://x.example"}, `type "pager"`},
		{notify.Receiver{Name: "a", Type: notify.Slack}, "url or urlFile: required"},
		{notify.Receiver{Name: "a", Type: notify.GitHub}, "tokenFile: required"},
		{notify.Receiver{Name: "a", Type: notify.Generic, URL: "https://x.example"}, "secretFile: required"},
		{notify.Receiver{Name: "a", Type: notify.Slack, URL: "hooks.example.org/T0KEN"}, "url: not an http(s) URL"},
		{notify.Receiver{Name: "a", Type: notify.Slack, URL: "https://x.example", Events: []notify.Kind{"exploded"}}, `events: "exploded"`},
	} {
		_, err := notify.New([]notify.Receiver{tc.r}, notify.Options{})
		if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "T0KEN") {
			t.Errorf("New(%+v) = %v, want an error saying %q", tc.r, err, tc.want)
		}
	}
}

func want(t *testing.T, got, want any) {
	t.Helper()
	if got != want {
		t.Errorf("got %v, want %v", got, want)
	}
}

func contains(t *testing.T, got any, want string) {
	t.Helper()
	if s, _ := got.(string); !strings.Contains(s, want) {
		t.Errorf("%q does not contain %q", got, want)
	}
}

func parseQuery(t *testing.T, raw string) url.Values {
	t.Helper()
	q, err := url.ParseQuery(raw)
	if err != nil {
		t.Fatal(err)
	}
	return q
}

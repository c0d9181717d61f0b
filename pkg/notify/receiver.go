package notify

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"time"
)

// Type is a receiver's format.
type Type string

// The receiver types.
const (
	Generic    Type = "generic"    // the Event as JSON, signed like gitsync's incoming webhooks
	Slack      Type = "slack"      // Slack incoming webhook
	Mattermost Type = "mattermost" // Mattermost incoming webhook (Slack's format)
	Discord    Type = "discord"    // Discord webhook
	Teams      Type = "teams"      // Microsoft Teams workflow webhook (an Adaptive Card)
	Feishu     Type = "feishu"     // Feishu / Lark custom bot, signed if Secret is set
	DingTalk   Type = "dingtalk"   // DingTalk custom robot, signed if Secret is set
	GitHub     Type = "github"     // commit status on GitHub or GitHub Enterprise
	GitLab     Type = "gitlab"     // commit status on GitLab
	Gitea      Type = "gitea"      // commit status on Gitea or Forgejo
)

// Types are every receiver type.
func Types() []Type {
	return []Type{Generic, Slack, Mattermost, Discord, Teams, Feishu, DingTalk, GitHub, GitLab, Gitea}
}

func (t Type) commitStatus() bool { return t == GitHub || t == GitLab || t == Gitea }

// Receiver is where events go. URL, Token and Secret are credentials (a
// chat webhook URL holds a token): they are never logged.
type Receiver struct {
	Name string
	Type Type
	// URL is the webhook to post to; for a commit status, the forge's API
	// base, by default derived from the source URL (https://api.github.com
	// for github.com, https://HOST/api/v3 for GitHub Enterprise,
	// https://HOST for GitLab and Gitea).
	URL string
	// Token authenticates commit status requests.
	Token string
	// Secret signs: the HMAC key of a generic webhook, the signing secret
	// of a Feishu or DingTalk bot.
	Secret string
	// Events are the kinds sent; empty means DefaultEvents(Type).
	Events []Kind
	// Syncs limits the receiver to these syncs; empty means all.
	Syncs []string
	// PruneThreshold sends Pruned only when more objects than this were
	// deleted.
	PruneThreshold int
	// PerMinute caps the requests to the receiver; 0 means 30.
	PerMinute int
}

// DefaultEvents are what a receiver of type t hears when it names none:
// for a commit status every step of a revision; otherwise what people act
// on.
func DefaultEvents(t Type) []Kind {
	if t.commitStatus() {
		return []Kind{Progressing, Ready, Failed, Stalled, Degraded}
	}
	return []Kind{Applied, Recovered, Failed, Stalled, Degraded}
}

// Validate checks what can be checked without sending; each error names
// the field.
func (r Receiver) Validate() error { return r.validate() }

// validate is Validate, filling in the default events.
func (r *Receiver) validate() error {
	switch {
	case r.Name == "":
		return errors.New("name: required")
	case !slices.Contains(Types(), r.Type):
		return fmt.Errorf("type %q: want one of %v", r.Type, Types())
	case r.URL == "" && !r.Type.commitStatus():
		return errors.New("url or urlFile: required (the webhook to post to)")
	case r.Token == "" && r.Type.commitStatus():
		return errors.New("tokenFile: required (an API token that may set commit statuses)")
	case r.Secret == "" && r.Type == Generic:
		return errors.New("secretFile: required (the receiver checks the HMAC signature made with it)")
	case r.PruneThreshold < 0 || r.PerMinute < 0:
		return errors.New("pruneThreshold and perMinute must not be negative")
	}
	if r.URL != "" {
		u, err := url.Parse(r.URL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return errors.New("url: not an http(s) URL") // the URL may hold a token: not quoted
		}
	}
	for _, k := range r.Events {
		if !slices.Contains(Kinds(), k) {
			return fmt.Errorf("events: %q, want some of %v", k, Kinds())
		}
	}
	if len(r.Events) == 0 {
		r.Events = DefaultEvents(r.Type)
	}
	return nil
}

// wants reports whether the receiver takes e.
func (r *Receiver) wants(e Event) bool {
	return slices.Contains(r.Events, e.Kind) &&
		(len(r.Syncs) == 0 || slices.Contains(r.Syncs, e.Sync)) &&
		(e.Kind != Pruned || e.Deleted() > r.PruneThreshold)
}

// request builds the HTTP request that delivers e to the receiver.
func (r *Receiver) request(ctx context.Context, e Event, now time.Time) (*http.Request, error) {
	if r.Type.commitStatus() {
		return r.statusRequest(ctx, e)
	}
	body, err := r.body(e, now)
	if err != nil {
		return nil, err
	}
	target := r.URL
	if r.Type == DingTalk && r.Secret != "" {
		target = dingTalkSigned(target, r.Secret, now)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return nil, errors.New("url: not a valid request URL")
	}
	req.Header.Set("Content-Type", "application/json")
	if r.Type == Generic {
		mac := hmac.New(sha256.New, []byte(r.Secret))
		mac.Write(body)
		req.Header.Set("X-Gitsync-Signature", "sha256="+hex.EncodeToString(mac.Sum(nil)))
		req.Header.Set("X-Gitsync-Event", string(e.Kind))
	}
	return req, nil
}

// body is the JSON the receiver's type expects.
func (r *Receiver) body(e Event, now time.Time) ([]byte, error) {
	var v any
	switch r.Type {
	case Generic:
		v = e
	case Slack, Mattermost:
		v = map[string]any{"text": e.symbol() + " " + e.title(), "attachments": []map[string]any{{
			"color": e.color(), "fallback": e.text(), "text": e.text(),
		}}}
	case Discord:
		v = map[string]any{"content": e.symbol() + " " + e.title(), "embeds": []map[string]any{{
			"title": e.title(), "description": e.text(), "color": discordColor(e.color()),
		}}}
	case Teams:
		v = map[string]any{"type": "message", "attachments": []map[string]any{{
			"contentType": "application/vnd.microsoft.card.adaptive",
			"content": map[string]any{
				"$schema": "http://adaptivecards.io/schemas/adaptive-card.json", "type": "AdaptiveCard", "version": "1.4",
				"body": []map[string]any{
					{"type": "TextBlock", "text": e.symbol() + " " + e.title(), "weight": "Bolder", "wrap": true},
					{"type": "TextBlock", "text": e.text(), "wrap": true},
				},
			},
		}}}
	case Feishu:
		m := map[string]any{"msg_type": "text", "content": map[string]string{"text": e.text()}}
		if r.Secret != "" {
			ts := strconv.FormatInt(now.Unix(), 10)
			m["timestamp"], m["sign"] = ts, feishuSign(r.Secret, ts)
		}
		v = m
	case DingTalk:
		v = map[string]any{"msgtype": "markdown", "markdown": map[string]string{"title": e.title(), "text": markdownLines(e.text())}}
	}
	return json.Marshal(v)
}

// feishuSign is Feishu's signature: the HMAC-SHA256, keyed by
// "timestamp\nsecret", of nothing, in base64.
func feishuSign(secret, timestamp string) string {
	mac := hmac.New(sha256.New, []byte(timestamp+"\n"+secret))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// dingTalkSigned adds DingTalk's timestamp (milliseconds) and sign (the
// HMAC-SHA256 of "timestamp\nsecret" keyed by secret, in base64) to the URL.
func dingTalkSigned(target, secret string, now time.Time) string {
	ts := strconv.FormatInt(now.UnixMilli(), 10)
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(ts + "\n" + secret))
	u, err := url.Parse(target)
	if err != nil {
		return target
	}
	q := u.Query()
	q.Set("timestamp", ts)
	q.Set("sign", base64.StdEncoding.EncodeToString(mac.Sum(nil)))
	u.RawQuery = q.Encode()
	return u.String()
}

// markdownLines keeps line breaks in DingTalk's markdown (two spaces end a
// line).
func markdownLines(text string) string {
	return string(bytes.ReplaceAll([]byte(text), []byte("\n"), []byte("  \n")))
}

func discordColor(hexColor string) int {
	n, _ := strconv.ParseInt(hexColor[1:], 16, 32)
	return int(n)
}

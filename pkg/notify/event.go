// Package notify tells people and forges what the syncs did: chat messages
// (Slack, Mattermost, Discord, Microsoft Teams, Feishu, DingTalk), a signed
// JSON webhook, and commit statuses on GitHub, GitLab and Gitea. Delivery is
// asynchronous, retried with backoff and rate-limited per receiver; it never
// blocks or fails a sync. It knows nothing of Kubernetes: pkg/sync decides
// which events happened and that each is sent once per revision.
package notify

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

// Kind is what happened to a sync.
type Kind string

// The kinds of event. Ready and Progressing exist for commit statuses (a
// revision is pending, then succeeds or fails); the others are what people
// usually want to hear.
const (
	Progressing Kind = "progressing" // a sync started on a revision it has not applied
	Ready       Kind = "ready"       // a revision is applied in full and healthy
	Applied     Kind = "applied"     // ... and that changed objects
	Recovered   Kind = "recovered"   // ready again after failing
	Pruned      Kind = "pruned"      // objects that left git were deleted
	Failed      Kind = "failed"      // the sync failed; it is retried
	Stalled     Kind = "stalled"     // it failed in a way only a new revision fixes
	Degraded    Kind = "degraded"    // it applied, but objects did not become healthy
)

// Kinds are every kind, in the order above.
func Kinds() []Kind {
	return []Kind{Progressing, Ready, Applied, Recovered, Pruned, Failed, Stalled, Degraded}
}

// failure reports the kinds a commit status marks as failed.
func (k Kind) failure() bool { return k == Failed || k == Stalled || k == Degraded }

// Event is one thing that happened to one sync at one revision: the JSON
// body of a generic webhook.
type Event struct {
	Kind      Kind   `json:"event"`
	Cluster   string `json:"cluster"`
	Namespace string `json:"namespace"`
	Sync      string `json:"sync"`
	// Source is the repository, without credentials.
	Source   string `json:"source,omitempty"`
	Revision string `json:"revision,omitempty"`
	// Reason is the error of a failure, one line; Secret values never
	// appear in it (pkg/sync masks them).
	Reason string `json:"reason,omitempty"`
	// Counts are the actions of the sync: created, configured, deleted, ...
	Counts map[string]int `json:"counts,omitempty"`
	// Link is the sync's page on the status page, when one is configured.
	Link string    `json:"link,omitempty"`
	Time time.Time `json:"time"`
}

// Deleted is how many objects the sync pruned.
func (e Event) Deleted() int { return e.Counts["deleted"] }

// title is the one-line summary chat messages lead with.
func (e Event) title() string {
	name := e.Cluster + "/" + e.Namespace + "/" + e.Sync
	rev := short(e.Revision)
	switch e.Kind {
	case Progressing:
		return fmt.Sprintf("%s is applying %s", name, rev)
	case Ready:
		return fmt.Sprintf("%s is ready at %s", name, rev)
	case Applied:
		return fmt.Sprintf("%s applied %s: %s", name, rev, e.counts())
	case Recovered:
		return fmt.Sprintf("%s recovered at %s", name, rev)
	case Pruned:
		return fmt.Sprintf("%s pruned %d objects at %s", name, e.Deleted(), rev)
	case Failed:
		return fmt.Sprintf("%s failed at %s", name, rev)
	case Stalled:
		return fmt.Sprintf("%s stalled at %s until a new revision", name, rev)
	case Degraded:
		return fmt.Sprintf("%s applied %s but it is not healthy", name, rev)
	}
	return fmt.Sprintf("%s: %s at %s", name, e.Kind, rev)
}

// text is the title, then the reason and the link, one per line.
func (e Event) text() string {
	lines := []string{e.symbol() + " " + e.title()}
	if e.Reason != "" {
		lines = append(lines, e.Reason)
	}
	if e.Source != "" {
		lines = append(lines, "source: "+e.Source)
	}
	if e.Link != "" {
		lines = append(lines, e.Link)
	}
	return strings.Join(lines, "\n")
}

// symbol marks failures apart from the rest without relying on colour.
func (e Event) symbol() string {
	switch {
	case e.Kind.failure():
		return "❌"
	case e.Kind == Progressing:
		return "⏳"
	case e.Kind == Pruned:
		return "🗑"
	}
	return "✅"
}

// color is the attachment colour of chat formats that have one.
func (e Event) color() string {
	switch {
	case e.Kind.failure():
		return "#d73a49"
	case e.Kind == Progressing, e.Kind == Pruned:
		return "#dbab09"
	}
	return "#28a745"
}

func (e Event) counts() string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(e.Counts)) {
		if n := e.Counts[k]; n > 0 && k != "unchanged" {
			parts = append(parts, fmt.Sprintf("%d %s", n, k))
		}
	}
	if len(parts) == 0 {
		return "no changes"
	}
	return strings.Join(parts, ", ")
}

func short(rev string) string { return rev[:min(len(rev), 12)] }

package sync

import (
	"encoding/json"
	"slices"
	"strings"

	"github.com/gitsync-io/gitsync/pkg/notify"
	"github.com/gitsync-io/gitsync/pkg/sync/apply"
)

// notifiedKeep is how many sent events a status remembers. Each revision
// adds two to four; older ones are of revisions long gone.
const notifiedKeep = 16

// notifyKey names an event of a kind at a revision, sent once.
func notifyKey(kind notify.Kind, revision string) string {
	return string(kind) + "@" + short(revision)
}

// progressing tells the receivers that the sync starts on revision, which
// it has not applied yet: a commit status turns pending. It is sent before
// the apply, and remembered in the status the sync then saves.
func (s *Syncer) progressing(status []byte, r *Result) {
	if s.opts.Notifier == nil || s.opts.DryRun {
		return
	}
	var old Status
	_ = json.Unmarshal(status, &old)
	if r.Revision == old.LastAppliedRevision {
		return
	}
	key := notifyKey(notify.Progressing, r.Revision)
	if slices.Contains(old.Notified, key) {
		return
	}
	s.sent = append(s.sent, key)
	s.opts.Notifier.Notify(s.notifyEvent(notify.Progressing, r, nil))
}

// outcome returns the events a sync's outcome tells the receivers that
// old.Notified has not recorded as sent for that revision, and the record
// with them added. A restart or a new leader reads the record from the
// status, so it does not send them again. A sync that failed because the
// process is stopping (stopping is true) tells nothing: that is no failure
// of the revision, and the next instance syncs it again.
func (s *Syncer) outcome(old Status, r *Result, err error, stopping bool) ([]notify.Event, []string) {
	sent := append(slices.Clone(old.Notified), s.sent...)
	s.sent = nil
	if s.opts.Notifier == nil || s.opts.DryRun || r.Suspended || (err != nil && stopping) {
		return nil, sent
	}
	rev := r.Revision
	if rev == "" { // the fetch failed: the revision the sync is at
		rev = old.LastAttemptedRevision
	}
	var kinds []notify.Kind
	switch {
	case err == nil:
		kinds = append(kinds, notify.Ready)
		if r.Wrote() {
			kinds = append(kinds, notify.Applied)
		}
		if old.Error != "" {
			kinds = append(kinds, notify.Recovered)
		}
		if r.Counts[apply.Deleted] > 0 {
			kinds = append(kinds, notify.Pruned)
		}
	case stalls(r, err):
		kinds = append(kinds, notify.Stalled)
	case phaseOf(err) == PhaseHealth:
		kinds = append(kinds, notify.Degraded)
	default:
		kinds = append(kinds, notify.Failed)
	}
	var events []notify.Event
	for _, k := range kinds {
		key := notifyKey(k, rev)
		if slices.Contains(sent, key) {
			continue
		}
		sent = append(sent, key)
		e := s.notifyEvent(k, r, err)
		e.Revision = rev
		events = append(events, e)
	}
	return events, sent[max(0, len(sent)-notifiedKeep):]
}

func (s *Syncer) notifyEvent(kind notify.Kind, r *Result, err error) notify.Event {
	e := notify.Event{Kind: kind, Namespace: s.opts.Namespace, Sync: s.opts.Name, Source: r.Source, Revision: r.Revision}
	if err != nil {
		e.Reason = reason(err)
	}
	if len(r.Counts) > 0 {
		e.Counts = map[string]int{}
		for a, n := range r.Counts {
			e.Counts[string(a)] = n
		}
	}
	return e
}

// reason is err's text for a message: whole, up to 40 lines.
func reason(err error) string {
	lines := strings.Split(err.Error(), "\n")
	if len(lines) > 40 {
		lines = append(lines[:40], "…")
	}
	return strings.Join(lines, "\n")
}

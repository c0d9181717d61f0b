package sync

import (
	"cmp"
	"encoding/json"
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gitsync-io/gitsync/pkg/sync/apply"
)

// Status is what the cluster records about a sync, next to its inventory,
// and what `gitsync status` prints. It changes only when the outcome does, so
// a sync that finds nothing to do writes nothing.
type Status struct {
	Name      string `json:"name"`
	Namespace string `json:"namespace"`
	Source    string `json:"source"`
	Path      string `json:"path"`
	// LastAppliedRevision is the newest revision applied in full.
	LastAppliedRevision string `json:"lastAppliedRevision,omitempty"`
	// SignedBy is who signed the last applied revision, when the source
	// verifies signatures.
	SignedBy string `json:"signedBy,omitempty"`
	// Chart is the Helm chart of the last applied revision, "name version".
	Chart string `json:"chart,omitempty"`
	// HooksDigest is the digest of the render whose chart hooks last ran to
	// the end: hooks run again only for another render (an upgrade).
	HooksDigest string `json:"hooksDigest,omitempty"`
	// LastAttemptedRevision is the revision of the latest sync, good or bad.
	LastAttemptedRevision string `json:"lastAttemptedRevision,omitempty"`
	Digest                string `json:"digest,omitempty"`
	// Counts are the actions of the last sync that changed the status.
	Counts map[apply.Action]int `json:"counts,omitempty"`
	// Objects is the number of objects in the inventory.
	Objects int `json:"objects"`
	// Ready: the last sync applied everything and it was healthy.
	Ready bool `json:"ready"`
	// Stalled: the last error is one a retry of the same revision cannot fix
	// (an object the API server rejects as invalid). gitsync run tries it
	// again on a new revision, gitsync sync --now, a webhook push, or after
	// RetryIn.
	Stalled bool `json:"stalled,omitempty"`
	// Error is the last error. One a retry may fix (a missing namespace or
	// permission, a server error) reads "retrying in 30s: …".
	Error string `json:"error,omitempty"`
	// RetryIn is when gitsync run tries again after Error: the backoff of a
	// failure a retry may fix, or how long a stall lasts.
	RetryIn *metav1.Duration `json:"retryIn,omitempty"`
	// Suspended: gitsync suspend stopped the sync until gitsync resume.
	Suspended bool `json:"suspended,omitempty"`
	// Waiting says why the sync has not run: a dependency not Ready yet.
	Waiting string `json:"waiting,omitempty"`
	// Notified records the notifications sent, as "kind@revision" (the
	// newest 16), so that a restart or another leader does not send them
	// again.
	Notified []string `json:"notified,omitempty"`
	// Time is when this status was written.
	Time time.Time `json:"time"`

	// State and Reason say where the sync stands, and why, in one line.
	// They are not stored: reading a status fills them in (see stateOf).
	State  State  `json:"state,omitempty"`
	Reason string `json:"reason,omitempty"`
}

// nextStatus turns a sync's outcome, and the record of the notifications
// sent, into the status to store. It returns the previous document
// unchanged when nothing but time would differ.
func (s *Syncer) nextStatus(prev []byte, r *Result, objects int, err error, notified []string) []byte {
	var old Status
	_ = json.Unmarshal(prev, &old) // an unreadable status is simply replaced
	st := Status{
		Name:                  s.opts.Name,
		Namespace:             s.opts.Namespace,
		Source:                r.Source,
		Path:                  s.opts.Path,
		LastAppliedRevision:   old.LastAppliedRevision,
		SignedBy:              old.SignedBy,
		Chart:                 old.Chart,
		HooksDigest:           cmp.Or(r.HooksDigest, old.HooksDigest),
		LastAttemptedRevision: r.Revision,
		Digest:                r.Digest,
		Counts:                old.Counts,
		Objects:               objects,
		Ready:                 err == nil,
		Notified:              notified,
	}
	if r.Revision == "" { // the fetch failed
		st.LastAttemptedRevision, st.Source = old.LastAttemptedRevision, old.Source
	}
	if err == nil {
		st.LastAppliedRevision, st.SignedBy, st.Chart = r.Revision, r.SignedBy, r.Chart
	} else {
		st.Error, st.Stalled, st.RetryIn = s.failure(r, err)
	}
	if r.Wrote() || err != nil || old.Counts == nil {
		st.Counts = r.Counts
	}
	return stamp(prev, st)
}

// failure is the error, stall and retry delay a failed sync's status reports.
func (s *Syncer) failure(r *Result, err error) (string, bool, *metav1.Duration) {
	switch {
	case stalls(r, err) && s.retry.stall > 0:
		return err.Error(), true, &metav1.Duration{Duration: s.retry.stall}
	case stalls(r, err):
		return err.Error(), true, nil
	case r.RetryIn > 0:
		return fmt.Sprintf("retrying in %s: %v", r.RetryIn, err), false, &metav1.Duration{Duration: r.RetryIn}
	}
	return err.Error(), false, nil
}

// suspendedStatus is the previous status, marked suspended.
func suspendedStatus(prev []byte) []byte {
	var st Status
	_ = json.Unmarshal(prev, &st)
	st.Suspended, st.Waiting = true, ""
	return stamp(prev, st)
}

// waitingStatus is the previous status, not ready because of reason.
func (s *Syncer) waitingStatus(prev []byte, reason string) []byte {
	var st Status
	_ = json.Unmarshal(prev, &st)
	st.Name, st.Namespace, st.Path = s.opts.Name, s.opts.Namespace, s.opts.Path
	st.Ready, st.Suspended, st.Waiting = false, false, reason
	return stamp(prev, st)
}

// stamp returns prev if st says nothing new, else st with the current time.
func stamp(prev []byte, st Status) []byte {
	var old Status
	_ = json.Unmarshal(prev, &old)
	st.Time = old.Time
	same, _ := json.Marshal(st)
	if string(same) == string(prev) {
		return prev
	}
	st.Time = time.Now().UTC().Truncate(time.Second)
	out, _ := json.Marshal(st)
	return out
}

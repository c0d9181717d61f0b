package sync

import (
	"encoding/json"
	"time"

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
	// LastAttemptedRevision is the revision of the latest sync, good or bad.
	LastAttemptedRevision string `json:"lastAttemptedRevision,omitempty"`
	Digest                string `json:"digest,omitempty"`
	// Counts are the actions of the last sync that changed the status.
	Counts map[apply.Action]int `json:"counts,omitempty"`
	// Objects is the number of objects in the inventory.
	Objects int `json:"objects"`
	// Ready: the last sync applied everything and it was healthy.
	Ready bool `json:"ready"`
	// Stalled: the last error cannot pass without a new revision.
	Stalled bool   `json:"stalled,omitempty"`
	Error   string `json:"error,omitempty"`
	// Suspended: gitsync suspend stopped the sync until gitsync resume.
	Suspended bool `json:"suspended,omitempty"`
	// Waiting says why the sync has not run: a dependency not Ready yet.
	Waiting string `json:"waiting,omitempty"`
	// Time is when this status was written.
	Time time.Time `json:"time"`
}

// nextStatus turns a sync's outcome into the status to store. It returns the
// previous document unchanged when nothing but time would differ.
func (s *Syncer) nextStatus(prev []byte, r *Result, objects int, err error) []byte {
	var old Status
	_ = json.Unmarshal(prev, &old) // an unreadable status is simply replaced
	st := Status{
		Name:                  s.opts.Name,
		Namespace:             s.opts.Namespace,
		Source:                r.Source,
		Path:                  s.opts.Path,
		LastAppliedRevision:   old.LastAppliedRevision,
		LastAttemptedRevision: r.Revision,
		Digest:                r.Digest,
		Counts:                old.Counts,
		Objects:               objects,
		Ready:                 err == nil,
	}
	if r.Revision == "" { // the fetch failed
		st.LastAttemptedRevision, st.Source = old.LastAttemptedRevision, old.Source
	}
	if err == nil {
		st.LastAppliedRevision = r.Revision
	} else {
		st.Error = err.Error()
		st.Stalled = IsTerminal(err)
	}
	if r.Wrote() || err != nil || old.Counts == nil {
		st.Counts = r.Counts
	}
	return stamp(prev, st)
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

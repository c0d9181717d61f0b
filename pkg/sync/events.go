package sync

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"

	"github.com/gitsync-io/gitsync/pkg/sync/apply"
)

// Event reasons on a sync's inventory ConfigMap.
const (
	ReasonApplied = "Applied"
	ReasonPruned  = "Pruned"
	ReasonFailed  = "Failed"
	ReasonStalled = "Stalled"
)

// event records what a sync whose status changed did.
func (s *Syncer) event(r *Result, err error) {
	if s.opts.Events == nil {
		return
	}
	ref := s.store.Ref()
	rev := short(r.Revision)
	switch {
	case stalls(r, err):
		s.opts.Events.Eventf(ref, nil, corev1.EventTypeWarning, ReasonStalled, "Sync", "%s: %s (%s)", rev, firstLine(err), s.stallEnds())
	case err != nil:
		s.opts.Events.Eventf(ref, nil, corev1.EventTypeWarning, ReasonFailed, "Sync", "%s: %s", rev, firstLine(err))
	default:
		if n := r.Counts[apply.Created] + r.Counts[apply.Configured]; n > 0 {
			s.opts.Events.Eventf(ref, nil, corev1.EventTypeNormal, ReasonApplied, "Apply", "%s: %d created, %d configured, %d unchanged",
				rev, r.Counts[apply.Created], r.Counts[apply.Configured], r.Counts[apply.Unchanged])
		}
		if n := r.Counts[apply.Deleted]; n > 0 {
			s.opts.Events.Eventf(ref, nil, corev1.EventTypeNormal, ReasonPruned, "Prune", "%s: %d deleted", rev, n)
		}
	}
}

// stallEnds says what tries a stalled revision again.
func (s *Syncer) stallEnds() string {
	if s.retry.stall > 0 {
		return fmt.Sprintf("tried again on a new revision, gitsync sync --now, a webhook push, or in %s", s.retry.stall)
	}
	return "waiting for a new revision"
}

// firstLine keeps an event's note to one line (joined errors have several).
func firstLine(err error) string { return oneLine(err.Error()) }

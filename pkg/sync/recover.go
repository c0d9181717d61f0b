package sync

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/gitsync-io/gitsync/pkg/sync/apply"
	"github.com/gitsync-io/gitsync/pkg/sync/inventory"
)

// ReasonRecovered is the Event reason of an inventory rebuilt from the cluster.
const ReasonRecovered = "InventoryRecovered"

// recoverInventory rebuilds a missing inventory from the objects that carry
// the sync's label, so that those that left git while it was lost are pruned
// as usual. It runs only when the record is missing: on a sync's first run
// (which finds nothing, or the objects of an earlier sync of the same name),
// or after the ConfigMap was deleted. Resource types the sync may not list
// are named in the result, the log and an Event; their objects are not known,
// so none of them is pruned.
func (s *Syncer) recoverInventory(ctx context.Context, r *Result, rec *inventory.Record, plan *apply.Plan) error {
	var census *apply.Census
	if s.census != nil && !s.ran {
		var err error
		if census, err = s.census.get(ctx); err != nil {
			return &Error{Phase: PhaseInventory, Err: err}
		}
	}
	owned, err := s.applier.FindOwnedIn(ctx, census, plan, s.opts.Namespace)
	if err != nil {
		return &Error{Phase: PhaseInventory, Err: err}
	}
	rec.Recovered(owned.IDs)
	r.Recovery = &Recovery{Objects: len(owned.IDs)}
	if s.opts.ServiceAccountName != "" {
		// A sync confined by its ServiceAccount may list few types, and
		// applies only objects it may list: what it may not list it did not
		// apply (or it lost the rights since, and then not pruning is right).
		owned.Unlisted = slices.DeleteFunc(owned.Unlisted, func(u apply.Unlisted) bool { return apierrors.IsForbidden(u.Err) })
	}
	for _, u := range owned.Unlisted {
		r.Recovery.Unlisted = append(r.Recovery.Unlisted, u.Resource.String())
	}
	log := logr.FromContextOrDiscard(ctx).WithValues("sync", s.opts.Namespace+"/"+s.opts.Name)
	if len(owned.Unlisted) > 0 {
		log.Info("inventory recovery could not list some resource types; their objects are not pruned",
			"unlisted", r.Recovery.Unlisted, "firstError", owned.Unlisted[0].Err.Error())
	}
	if len(owned.IDs) == 0 && len(owned.Unlisted) == 0 {
		return nil // a new sync: nothing to say
	}
	log.Info("inventory recovered", "objects", len(owned.IDs))
	s.recoveryEvent(r.Recovery)
	return nil
}

// recoveryEvent records a recovery on the sync's ConfigMap: a warning if
// some types could not be listed.
func (s *Syncer) recoveryEvent(rc *Recovery) {
	if s.opts.Events == nil || s.opts.DryRun {
		return
	}
	kind := corev1.EventTypeNormal
	if len(rc.Unlisted) > 0 {
		kind = corev1.EventTypeWarning
	}
	s.opts.Events.Eventf(s.store.Ref(), nil, kind, ReasonRecovered, "Recover", "%s", rc)
}

// String says what the recovery found and, naming the first few, which
// types it could not list: an Event's note holds 1 KiB, and a sync bound to
// one namespace cannot list dozens of types.
func (rc *Recovery) String() string {
	msg := fmt.Sprintf("inventory recovered: %d objects", rc.Objects)
	if len(rc.Unlisted) == 0 {
		return msg
	}
	const shown = 6
	names := strings.Join(rc.Unlisted[:min(shown, len(rc.Unlisted))], ", ")
	if more := len(rc.Unlisted) - shown; more > 0 {
		names += fmt.Sprintf(" and %d more", more)
	}
	return msg + "; could not list " + names + ": objects of these types are not pruned"
}

package sync

import (
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/cli-utils/pkg/object"

	"github.com/gitsync-io/gitsync/pkg/sync/apply"
	"github.com/gitsync-io/gitsync/pkg/sync/inventory"
)

// ReasonTakenOver is the Event reason, on both syncs, of an object one sync
// took from another with force.
const ReasonTakenOver = "TakenOver"

// takeoverEvents records each object taken from another sync on both syncs'
// ConfigMaps. The former owner keeps the object in its record until its next
// sync, whose prune skips it (it no longer carries its label) and drops it
// without deleting it.
func (s *Syncer) takeoverEvents(r *Result, applied *apply.ChangeSet) {
	if s.opts.Events == nil || s.opts.DryRun || applied == nil {
		return
	}
	me := s.opts.Namespace + "/" + s.opts.Name
	for _, c := range applied.Changes {
		if c.TakenFrom == "" {
			continue
		}
		s.opts.Events.Eventf(s.store.Ref(), c.Live, corev1.EventTypeNormal, ReasonTakenOver, "Apply",
			"%s: %s taken over from sync %s (forced)", short(r.Revision), describe(c.ID), apply.SyncName(c.TakenFrom))
		if ns, name, ok := apply.ParseSyncLabel(c.TakenFrom); ok {
			s.opts.Events.Eventf(inventory.Ref(ns, name), c.Live, corev1.EventTypeWarning, ReasonTakenOver, "Apply",
				"%s taken over by sync %s (forced); this sync no longer owns it and will not prune it", describe(c.ID), me)
		}
	}
}

// describe names an object as "Kind.group namespace/name".
func describe(id object.ObjMetadata) string {
	kind := id.GroupKind.Kind
	if id.GroupKind.Group != "" {
		kind += "." + id.GroupKind.Group
	}
	if id.Namespace == "" {
		return kind + " " + id.Name
	}
	return kind + " " + id.Namespace + "/" + id.Name
}

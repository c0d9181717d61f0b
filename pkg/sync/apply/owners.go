package apply

import (
	"context"
	"maps"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/tools/cache"
	"sigs.k8s.io/cli-utils/pkg/object"
)

// SyncLabel is the value of LabelSync on the objects of the sync called name
// whose inventory is in namespace.
func SyncLabel(namespace, name string) string { return namespace + "." + name }

// ParseSyncLabel splits a LabelSync value SyncLabel wrote (a namespace has
// no dots); ok is false for any other value.
func ParseSyncLabel(label string) (namespace, name string, ok bool) {
	namespace, name, ok = strings.Cut(label, ".")
	return namespace, name, ok && namespace != "" && name != ""
}

// SyncName turns a LabelSync value into "namespace/name"; a value gitsync did
// not write is returned as it is.
func SyncName(label string) string {
	if ns, name, ok := ParseSyncLabel(label); ok {
		return ns + "/" + name
	}
	return label
}

// owners maps the targets labelled as another sync's to that sync's
// LabelSync value. Only the resource types of targets not found with this
// sync's label are listed (one LIST each, of metadata only: it returns the
// objects of every other sync), so a sync whose objects all exist pays
// nothing more. Targets already in denied are left out; those this LIST may
// not read are added to it.
func (a *Applier) owners(ctx context.Context, targets []*target, live liveSet, denied unreadable) (map[object.ObjMetadata]string, error) {
	var missing []*target
	for _, t := range targets {
		if t.mapping != nil && live[t.id] == nil && denied[t.id] == nil {
			missing = append(missing, t)
		}
	}
	if len(missing) == 0 {
		return nil, nil
	}
	others, more, err := a.listLabelled(ctx, missing, nil, LabelSync+","+LabelSync+"!="+a.opts.Sync, a.listMetadata, func(inf cache.SharedIndexInformer, ts []*target) ([]unstructured.Unstructured, error) {
		var out []unstructured.Unstructured
		for _, t := range ts {
			if u := cached(inf, t.id.Namespace, t.id.Name); u != nil {
				out = append(out, *u)
			}
		}
		return out, nil
	})
	if err != nil {
		return nil, err
	}
	maps.Copy(denied, more)
	owners := map[object.ObjMetadata]string{}
	for _, t := range missing {
		if o := others[t.id]; o != nil && o.GetLabels()[LabelSync] != a.opts.Sync {
			owners[t.id] = o.GetLabels()[LabelSync]
		}
	}
	return owners, nil
}

// refuseOwned fails every target another sync owns, unless it is forced
// (--force, or the annotation on the object): two syncs rendering one object
// would otherwise take it from each other at every interval. The refusal is
// terminal, like a conflict with another field manager: the same input gets
// the same answer until one of the syncs changes.
func (a *Applier) refuseOwned(targets []*target, owners map[object.ObjMetadata]string, changes []Change, done func()) {
	for i, t := range targets {
		owner, ok := owners[t.id]
		if !ok || a.opts.Force {
			continue
		}
		if _, err := a.object(t); err != nil { // t.force is its annotation
			changes[i] = failed(t, err)
			done()
			continue
		}
		if t.force {
			continue
		}
		changes[i] = failed(t, invalid(t.ref, "belongs to sync %s (label %s=%s); remove it from one of the two syncs, or take it over with the annotation %s: enabled on the object or --force",
			SyncName(owner), LabelSync, owner, AnnotationForce))
		done()
	}
}

// refuseUnreadable fails every target the applier may not list: it cannot
// tell whether the object exists or whose it is, and RBAC that refuses the
// LIST most likely refuses the write too, which the error then explains.
func refuseUnreadable(targets []*target, denied unreadable, changes []Change, done func()) {
	for i, t := range targets {
		if err := denied[t.id]; err != nil {
			changes[i] = failed(t, requestError(t.ref, err))
			done()
		}
	}
}

// noteTakeovers marks the objects applied although another sync owned them.
func noteTakeovers(changes []Change, owners map[object.ObjMetadata]string) {
	for i := range changes {
		if owner, ok := owners[changes[i].ID]; ok && changes[i].Action != Failed {
			changes[i].TakenFrom = owner
		}
	}
}

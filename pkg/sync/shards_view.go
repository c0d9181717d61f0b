package sync

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	"sigs.k8s.io/cli-utils/pkg/kstatus/status"

	"github.com/gitsync-io/gitsync/pkg/sync/apply"
	"github.com/gitsync-io/gitsync/pkg/sync/inventory"
)

// The views of Shards cover every sync of every shard: those of the shards
// this replica runs come from their Managers, the others from the statuses
// they record, which every replica watches. So any replica's status page
// shows all the syncs.

// watchStatuses prepares the watch of the inventory ConfigMaps of every
// namespace the syncs keep theirs in; Start starts it.
func (sh *Shards) watchStatuses() {
	sh.statuses = map[string]inventoryWatch{}
	for _, shard := range sh.syncs {
		for _, s := range shard {
			if ns := s.Options.Namespace; sh.statuses[ns].factory == nil {
				sh.statuses[ns] = newInventoryWatch(sh.client, ns, sh.changes, nil)
			}
		}
	}
}

// observe starts the watch of the statuses.
func (sh *Shards) observe(ctx context.Context) {
	for _, w := range sh.statuses {
		w.factory.Start(ctx.Done())
	}
}

// where returns the shard of the sync namespace/name and the Manager that
// runs it here (nil if another replica does); false if there is no such
// sync.
func (sh *Shards) where(namespace, name string) (Managed, *Manager, bool) {
	for k, shard := range sh.syncs {
		for _, s := range shard {
			if s.Options.Namespace == namespace && s.Options.Name == name {
				return s, sh.managers()[k], true
			}
		}
	}
	return Managed{}, nil, false
}

// Views returns the view of every sync, by name.
func (sh *Shards) Views() []View {
	running := sh.managers()
	var out []View
	for k, shard := range sh.syncs {
		if m := running[k]; m != nil {
			out = append(out, m.Views()...)
			continue
		}
		for _, s := range shard {
			out = append(out, sh.recorded(s))
		}
	}
	slices.SortFunc(out, func(a, b View) int { return cmp.Compare(a.Name, b.Name) })
	return out
}

// View returns the view of the sync namespace/name.
func (sh *Shards) View(namespace, name string) (View, bool) {
	s, m, ok := sh.where(namespace, name)
	switch {
	case !ok:
		return View{}, false
	case m != nil:
		return m.View(namespace, name)
	}
	return sh.recorded(s), true
}

// recorded is the view of a sync another replica runs.
func (sh *Shards) recorded(s Managed) View {
	v := recordedView(sh.statuses[s.Options.Namespace], s)
	v.Shard = fmt.Sprintf("%d, run by another replica", ShardOf(s.Options.Namespace, s.Options.Name, sh.opts.Count))
	return v
}

// Objects returns the objects of the sync namespace/name, as Manager.Objects
// does when this replica runs it; else as its inventory lists them, each of
// status Unknown: the replica that runs it knows more.
func (sh *Shards) Objects(namespace, name string) ([]ObjectView, error) {
	_, m, ok := sh.where(namespace, name)
	switch {
	case !ok:
		return nil, fmt.Errorf("no sync %s/%s", namespace, name)
	case m != nil:
		return m.Objects(namespace, name)
	}
	cm, found := sh.statuses[namespace].Get(namespace, inventory.ConfigMapName(name))
	if !found {
		return nil, nil
	}
	ids, err := inventory.ObjectsOf(cm)
	if err != nil {
		return nil, err
	}
	out := make([]ObjectView, 0, len(ids))
	for _, id := range ids {
		out = append(out, ObjectView{ID: id, Status: status.UnknownStatus, Message: "another replica runs this sync: its page shows the status"})
	}
	sortObjects(out)
	return out, nil
}

// Changes returns a channel that receives a value soon after anything a
// view shows changes, in any shard.
func (sh *Shards) Changes() (<-chan struct{}, func()) { return sh.changes.add() }

// Suspend suspends (or resumes) the sync namespace/name, whichever replica
// runs it.
func (sh *Shards) Suspend(ctx context.Context, namespace, name string, suspend bool) error {
	if _, _, ok := sh.where(namespace, name); !ok {
		return fmt.Errorf("no sync %s/%s", namespace, name)
	}
	return inventory.NewStore(sh.client.CoreV1(), namespace, name).Suspend(ctx, suspend)
}

// RequestSync asks for a sync of namespace/name now, whichever replica runs
// it.
func (sh *Shards) RequestSync(ctx context.Context, namespace, name string) error {
	if _, _, ok := sh.where(namespace, name); !ok {
		return fmt.Errorf("no sync %s/%s", namespace, name)
	}
	return inventory.NewStore(sh.client.CoreV1(), namespace, name).RequestSync(ctx, time.Now())
}

// Diff is Manager.Diff for a sync this replica runs.
func (sh *Shards) Diff(ctx context.Context, namespace, name string) (string, []apply.ObjectDiff, error) {
	s, m, ok := sh.where(namespace, name)
	switch {
	case !ok:
		return "", nil, fmt.Errorf("no sync %s/%s", namespace, name)
	case m == nil:
		return "", nil, fmt.Errorf("sync %s/%s is in shard %d, which another replica runs: its page shows the pending changes",
			namespace, name, ShardOf(s.Options.Namespace, s.Options.Name, sh.opts.Count))
	}
	return m.Diff(ctx, namespace, name)
}

package sync

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	gosync "sync"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/cli-utils/pkg/object"

	"github.com/gitsync-io/gitsync/pkg/sync/apply"
	"github.com/gitsync-io/gitsync/pkg/sync/health"
	"github.com/gitsync-io/gitsync/pkg/sync/inventory"
)

// View is what a running Manager knows of one of its syncs: the status it
// recorded (with State and Reason), what it is doing now, and its recent
// past. Reading it makes no request: the status comes from the watch of the
// inventory ConfigMaps, the rest from memory.
type View struct {
	Status
	// Ref is the branch, tag or commit the sync follows ("" for the
	// default branch), or its semver range.
	Ref       string        `json:"ref,omitempty"`
	Interval  time.Duration `json:"interval"`
	DependsOn []string      `json:"dependsOn,omitempty"`
	// Next is when the sync next checks its source; zero while it syncs.
	Next time.Time `json:"next,omitzero"`
	// Runs are its latest outcomes in this process, newest first.
	Runs []Run `json:"runs,omitempty"`
	// Events are the latest Events it recorded, newest first.
	Events []Event `json:"events,omitempty"`
	// Shard says which shard the sync is in when another replica runs it:
	// the view then holds only what that replica records.
	Shard string `json:"shard,omitempty"`
}

// Run is one outcome of a sync. Consecutive runs that change nothing fold
// into one: Repeats counts the others, Last is the time of the newest.
type Run struct {
	Revision string               `json:"revision,omitempty"`
	Start    time.Time            `json:"start"`
	Duration time.Duration        `json:"duration"`
	Counts   map[apply.Action]int `json:"counts,omitempty"`
	Error    string               `json:"error,omitempty"`
	Repeats  int                  `json:"repeats,omitempty"`
	Last     time.Time            `json:"last,omitzero"`
}

// Event is a Kubernetes Event the sync recorded.
type Event struct {
	Time   time.Time `json:"time"`
	Type   string    `json:"type"`
	Reason string    `json:"reason"`
	Note   string    `json:"note"`
}

// ObjectView is one object a sync owns and its kstatus: Current,
// InProgress, Failed, NotFound, Terminating or Unknown.
type ObjectView struct {
	ID      object.ObjMetadata `json:"-"`
	Status  status.Status      `json:"status"`
	Message string             `json:"message,omitempty"`

	applyFailed bool // Message is the error of the last apply
}

// How much of the past a view keeps.
const (
	keptRuns   = 20
	keptEvents = 20
)

// past is what a managed sync remembers for its view.
type past struct {
	mu       gosync.Mutex
	applying string  // the revision being applied, "" if none
	runs     []Run   // oldest first
	events   []Event // oldest first
	// objects is each object's status as the last sync saw it: its apply
	// error, or its health.
	objects map[object.ObjMetadata]ObjectView
}

// Views returns the view of every sync, by name.
func (m *Manager) Views() []View {
	out := make([]View, 0, len(m.syncs))
	for _, ms := range m.syncs {
		out = append(out, ms.view())
	}
	slices.SortFunc(out, func(a, b View) int { return cmp.Compare(a.Name, b.Name) })
	return out
}

// View returns the view of the sync namespace/name.
func (m *Manager) View(namespace, name string) (View, bool) {
	ms := m.find(namespace, name)
	if ms == nil {
		return View{}, false
	}
	return ms.view(), true
}

func (m *Manager) find(namespace, name string) *managed {
	ms := m.byName[name]
	if ms == nil || ms.Options.Namespace != namespace {
		return nil
	}
	return ms
}

func (ms *managed) view() View {
	v := recordedView(ms.inventories, ms.Managed)
	v.Next = ms.loop.nextAt()
	v.Source = cmp.Or(v.Source, ms.source.src.URL())
	ms.past.mu.Lock()
	defer ms.past.mu.Unlock()
	if ms.past.applying != "" && !v.Suspended {
		v.State, v.Reason = StateApplying, "applying "+short(ms.past.applying)
	}
	v.Runs = reversed(ms.past.runs)
	v.Events = reversed(ms.past.events)
	return v
}

// recordedView is the view of s from the status it records, as the cache
// of its namespace's inventory ConfigMaps holds it.
func recordedView(inventories inventory.Cache, s Managed) View {
	v := View{Ref: cmp.Or(s.Options.Source.Ref, s.Options.Source.SemVer), Interval: s.Interval, DependsOn: s.DependsOn}
	if cm, ok := inventories.Get(s.Options.Namespace, inventory.ConfigMapName(s.Options.Name)); ok {
		_ = json.Unmarshal(inventory.StatusOf(cm), &v.Status) // an unreadable status shows as Pending
		if ids, err := inventory.ObjectsOf(cm); err == nil {
			v.Objects = len(ids)
		}
	}
	v.Name, v.Namespace, v.Path = s.Options.Name, s.Options.Namespace, s.Options.Path
	v.Status = v.withState()
	return v
}

func reversed[T any](s []T) []T {
	out := slices.Clone(s)
	slices.Reverse(out)
	return out
}

// Objects returns the objects the sync namespace/name owns, as its inventory
// lists them, sorted by group, kind, namespace and name, each with its
// status: the live one from the Manager's watch of labelled objects where
// it has one, else what the sync last saw (an apply error, its health).
func (m *Manager) Objects(namespace, name string) ([]ObjectView, error) {
	ms := m.find(namespace, name)
	if ms == nil {
		return nil, fmt.Errorf("no sync %s/%s", namespace, name)
	}
	cm, ok := ms.inventories.Get(namespace, inventory.ConfigMapName(name))
	if !ok {
		return nil, nil
	}
	ids, err := inventory.ObjectsOf(cm)
	if err != nil {
		return nil, err
	}
	ms.past.mu.Lock()
	seen := maps.Clone(ms.past.objects)
	ms.past.mu.Unlock()
	cluster := ms.loop.syncer.cluster
	out := make([]ObjectView, 0, len(ids))
	for _, id := range ids {
		v, ok := seen[id]
		if !v.applyFailed { // else the apply's error says more than the object
			if u, watched := cluster.Cached(id); watched && u != nil {
				h := health.Compute(u)
				v = ObjectView{Status: h.Status, Message: h.Message}
			} else if watched {
				v = ObjectView{Status: status.NotFoundStatus, Message: "not in the cluster"}
			} else if !ok {
				v = ObjectView{Status: status.UnknownStatus, Message: "not seen since gitsync started"}
			}
		}
		v.ID = id
		out = append(out, v)
	}
	sortObjects(out)
	return out, nil
}

// sortObjects sorts by group, kind, namespace and name.
func sortObjects(objs []ObjectView) {
	slices.SortFunc(objs, func(a, b ObjectView) int {
		return cmp.Or(cmp.Compare(a.ID.GroupKind.Group, b.ID.GroupKind.Group), cmp.Compare(a.ID.GroupKind.Kind, b.ID.GroupKind.Kind),
			cmp.Compare(a.ID.Namespace, b.ID.Namespace), cmp.Compare(a.ID.Name, b.ID.Name))
	})
}

// started notes that the sync applies revision.
func (ms *managed) started(revision string) {
	ms.past.mu.Lock()
	ms.past.applying = revision
	ms.past.mu.Unlock()
	ms.changed()
}

// stopped notes that the sync applies nothing.
func (p *past) stopped() {
	p.mu.Lock()
	p.applying = ""
	p.mu.Unlock()
}

// remember keeps a sync's outcome for its view.
func (p *past) remember(r *Result, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.applying = ""
	now := time.Now()
	run := Run{Revision: r.Revision, Start: now.Add(-r.Timings.Total), Duration: r.Timings.Total, Counts: r.Counts}
	if err != nil {
		run.Error = err.Error()
	}
	if n := len(p.runs); n > 0 && sameRun(p.runs[n-1], run) {
		p.runs[n-1].Repeats++
		p.runs[n-1].Last = run.Start
	} else {
		p.runs = append(p.runs, run)
		if len(p.runs) > keptRuns {
			p.runs = slices.Delete(p.runs, 0, len(p.runs)-keptRuns)
		}
	}
	if r.Applied == nil && r.Health == nil {
		return // nothing ran that tells about the objects
	}
	objects := make(map[object.ObjMetadata]ObjectView, len(r.Health))
	for _, h := range r.Health {
		objects[h.ID] = ObjectView{Status: h.Status, Message: h.Message}
	}
	if r.Applied != nil {
		for _, c := range r.Applied.Changes {
			if c.Action == apply.Failed {
				objects[c.ID] = ObjectView{Status: status.FailedStatus, Message: oneLine(c.Err.Error()), applyFailed: true}
				continue
			}
			// The health wait's verdict is newer; without one (no wait, or
			// the sync failed before it), kstatus's on what the apply saw.
			if _, waited := objects[c.ID]; !waited && c.Live != nil {
				h := health.Compute
				if c.Known { // Live may hold only its metadata
					h = health.Unchanged
				}
				s := h(c.Live)
				objects[c.ID] = ObjectView{Status: s.Status, Message: s.Message}
			}
		}
	}
	p.objects = objects
}

// sameRun: b repeats a: the same revision, error and counts, and either
// nothing was written (a no-op interval) or both failed (a retry, or a
// stalled revision's outcome told again).
func sameRun(a, b Run) bool {
	wrote := b.Counts[apply.Created]+b.Counts[apply.Configured]+b.Counts[apply.Deleted] > 0
	return a.Revision == b.Revision && a.Error == b.Error && maps.Equal(a.Counts, b.Counts) && (!wrote || b.Error != "")
}

// Changes returns a channel that receives a value soon after anything a
// view shows changes (several changes may merge into one), and the function
// that stops it.
func (m *Manager) Changes() (<-chan struct{}, func()) { return m.watchers.add() }

// changed tells the Manager's watchers.
func (ms *managed) changed() { ms.watchers.notify() }

// watchers are the channels Changes handed out.
type watchers struct {
	mu   gosync.Mutex
	next int
	chs  map[int]chan struct{}
}

func (w *watchers) add() (<-chan struct{}, func()) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.chs == nil {
		w.chs = map[int]chan struct{}{}
	}
	id, ch := w.next, make(chan struct{}, 1)
	w.next++
	w.chs[id] = ch
	return ch, func() {
		w.mu.Lock()
		delete(w.chs, id)
		w.mu.Unlock()
	}
}

func (w *watchers) notify() {
	if w == nil {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, ch := range w.chs {
		select {
		case ch <- struct{}{}:
		default: // one is pending: it covers this change too
		}
	}
}

// Suspend suspends (or resumes) the sync namespace/name as gitsync suspend
// (resume) does: through its inventory ConfigMap, which this Manager, or the
// leader if this replica does not lead, watches.
func (m *Manager) Suspend(ctx context.Context, namespace, name string, suspend bool) error {
	ms := m.find(namespace, name)
	if ms == nil {
		return fmt.Errorf("no sync %s/%s", namespace, name)
	}
	return inventory.NewStore(m.shared.client.CoreV1(), namespace, name).Suspend(ctx, suspend)
}

// RequestSync asks for a sync of namespace/name now, as gitsync sync --now
// does.
func (m *Manager) RequestSync(ctx context.Context, namespace, name string) error {
	ms := m.find(namespace, name)
	if ms == nil {
		return fmt.Errorf("no sync %s/%s", namespace, name)
	}
	return inventory.NewStore(m.shared.client.CoreV1(), namespace, name).RequestSync(ctx, time.Now())
}

// Diff reports how a sync of the newest revision of namespace/name would
// change the cluster, with a server-side dry run of each object as gitsync
// diff makes, and returns that revision. It fetches the source afresh, and
// waits while the sync runs.
func (m *Manager) Diff(ctx context.Context, namespace, name string) (string, []apply.ObjectDiff, error) {
	ms := m.find(namespace, name)
	if ms == nil {
		return "", nil, fmt.Errorf("no sync %s/%s", namespace, name)
	}
	ms.source.Refresh()
	r, diffs, err := ms.loop.syncer.Diff(ctx)
	return r.Revision, diffs, err
}

// eventTee records Events as rec does, and keeps them for the view.
type eventTee struct {
	events.EventRecorder
	past *past
}

func (t eventTee) Eventf(regarding, related runtime.Object, eventtype, reason, action, note string, args ...any) {
	t.EventRecorder.Eventf(regarding, related, eventtype, reason, action, note, args...)
	t.past.mu.Lock()
	t.past.events = append(t.past.events, Event{Time: time.Now(), Type: eventtype, Reason: reason, Note: fmt.Sprintf(note, args...)})
	if len(t.past.events) > keptEvents {
		t.past.events = slices.Delete(t.past.events, 0, len(t.past.events)-keptEvents)
	}
	t.past.mu.Unlock()
}

package sync

import (
	"slices"
	"strings"
	gosync "sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"

	"github.com/gitsync-io/gitsync/pkg/sync/apply"
	"github.com/gitsync-io/gitsync/test/testenv"
)

// TestManagerViews: what a running Manager shows of its syncs for the status
// page — where each stands and why, its objects, its latest runs and Events —
// and that it says when any of that changes.
func TestManagerViews(t *testing.T) {
	const interval = time.Second
	f := newFixture(t)
	first := f.repo.Commit(t, "apps", map[string]string{
		"ready/a.yaml":     configMap(f.home, "ready-a", "key"),
		"ready/b.yaml":     configMap(f.home, "ready-b", "key"),
		"broken/ok.yaml":   configMap(f.home, "broken-ok", "key"),
		"broken/bad.yaml":  configMap(f.home, "broken-bad", "no spaces allowed"),
		"dependent/d.yaml": configMap(f.home, "dependent-d", "key"),
	})
	m, err := NewManager(testenv.Config(t), []Managed{
		{Options: f.options("ready", "ready"), Interval: interval},
		{Options: f.options("broken", "broken"), Interval: interval},
		{Options: f.options("dependent", "dependent"), Interval: interval, DependsOn: []string{"broken"}},
	}, ManagerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	applying := viewsWhileApplying(t, m, f.home, "dependent")
	brokenApplying := viewsWhileApplying(t, m, f.home, "broken")
	changes, stop := m.Changes()
	defer stop()
	run(t, m.Start)
	view := func(t *testing.T, name string) View {
		t.Helper()
		v, ok := m.View(f.home, name)
		if !ok {
			t.Fatalf("View(%q, %q) found no sync", f.home, name)
		}
		return v
	}

	t.Run("lists every sync by name", func(t *testing.T) {
		var names []string
		for _, v := range m.Views() {
			names = append(names, v.Name)
		}
		if diff := cmp.Diff([]string{"broken", "dependent", "ready"}, names); diff != "" {
			t.Errorf("names of Views() (-want +got):\n%s", diff)
		}
	})
	t.Run("a sync that applied is Ready, with its objects Current, its run and its Event", func(t *testing.T) {
		eventually(t, 30*time.Second, "ready Ready", func() bool { return view(t, "ready").State == StateReady })
		v := view(t, "ready")
		if v.LastAppliedRevision != first || v.Reason != "" || v.Objects != 2 || v.Interval != interval {
			t.Errorf("view of ready: %+v; want %s applied, no reason, 2 objects, interval %s", v.Status, first, interval)
		}
		if len(v.Runs) == 0 {
			t.Fatal("ready has no runs")
		}
		if oldest := v.Runs[len(v.Runs)-1]; oldest.Revision != first || oldest.Counts[apply.Created] != 2 || oldest.Error != "" {
			t.Errorf("first run of ready: %+v; want %s with 2 created and no error", oldest, first)
		}
		if !slices.ContainsFunc(v.Events, func(e Event) bool {
			return e.Reason == ReasonApplied && e.Type == "Normal" && strings.Contains(e.Note, "2 created")
		}) {
			t.Errorf("Events of ready: %+v; want an Applied one saying 2 created", v.Events)
		}
		eventually(t, 10*time.Second, "ready's objects Current", func() bool {
			return cmp.Equal(map[string]status.Status{"ready-a": status.CurrentStatus, "ready-b": status.CurrentStatus}, objectStatuses(t, m, f.home, "ready"))
		})
		eventually(t, 10*time.Second, "ready's next poll within an interval", func() bool {
			next := view(t, "ready").Next
			return next.After(time.Now().Add(-interval/2)) && next.Before(time.Now().Add(interval*3/2))
		})
	})
	t.Run("runs that change nothing fold into one", func(t *testing.T) {
		eventually(t, 15*time.Second, "three runs of ready that changed nothing", func() bool {
			runs := view(t, "ready").Runs
			return len(runs) > 0 && runs[0].Repeats >= 2
		})
		runs := view(t, "ready").Runs
		if len(runs) != 2 {
			t.Fatalf("ready has %d runs, want 2 (one that created, one of no-ops): %+v", len(runs), runs)
		}
		if quiet := runs[0]; quiet.Revision != first || quiet.Counts[apply.Unchanged] != 2 || quiet.Counts[apply.Created] != 0 || !quiet.Last.After(quiet.Start) {
			t.Errorf("folded run: %+v; want %s with 2 unchanged, last after start", quiet, first)
		}
	})
	t.Run("a sync the API server rejects stalls, naming the object, which shows Failed with the error", func(t *testing.T) {
		eventually(t, 30*time.Second, "broken stalled", func() bool { return view(t, "broken").State == StateStalled })
		if v := view(t, "broken"); !strings.Contains(v.Reason, "broken-bad") || !strings.Contains(v.Reason, "Invalid value") {
			t.Errorf("reason of broken: %q; want it to name broken-bad and the invalid value", v.Reason)
		}
		if v := view(t, "broken"); !slices.ContainsFunc(v.Events, func(e Event) bool { return e.Reason == ReasonStalled && e.Type == "Warning" }) {
			t.Errorf("Events of broken: %+v; want a Stalled one", v.Events)
		}
		eventually(t, 10*time.Second, "broken's objects", func() bool {
			return cmp.Equal(map[string]status.Status{"broken-bad": status.FailedStatus, "broken-ok": status.CurrentStatus}, objectStatuses(t, m, f.home, "broken"))
		})
		objs, err := m.Objects(f.home, "broken")
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range objs {
			if o.ID.Name == "broken-bad" && !strings.Contains(o.Message, "Invalid value") {
				t.Errorf("message of broken-bad: %q; want its apply error", o.Message)
			}
		}
		eventually(t, 15*time.Second, "the stalled outcome told again", func() bool {
			runs := view(t, "broken").Runs
			return len(runs) > 0 && runs[0].Repeats >= 2
		})
		if runs := view(t, "broken").Runs; len(runs) != 1 {
			t.Errorf("broken has %d runs, want its stalled outcome once, with repeats: %+v", len(runs), runs)
		}
		if n := len(brokenApplying()); n != 1 {
			t.Errorf("broken showed Applying %d times, want once: a stalled revision is not applied again", n)
		}
	})
	t.Run("a sync waits for its dependency and names it", func(t *testing.T) {
		eventually(t, 10*time.Second, "dependent waiting", func() bool { return view(t, "dependent").State == StateWaiting })
		v := view(t, "dependent")
		if !strings.Contains(v.Reason, "dependency broken is not ready") || !slices.Equal(v.DependsOn, []string{"broken"}) {
			t.Errorf("view of dependent: reason %q, depends on %q; want broken named in both", v.Reason, v.DependsOn)
		}
		if objs, err := m.Objects(f.home, "dependent"); err != nil || len(objs) != 0 {
			t.Errorf("Objects of the waiting dependent: %+v, %v; want none", objs, err)
		}
	})
	t.Run("a fix in git reaches the watchers of changes, and the dependent applies after it", func(t *testing.T) {
		for len(changes) > 0 {
			<-changes
		}
		fixed := f.repo.Commit(t, "fix", map[string]string{"broken/bad.yaml": configMap(f.home, "broken-bad", "key")})
		timeout := time.After(30 * time.Second)
		for v := view(t, "broken"); v.State != StateReady || v.LastAppliedRevision != fixed; v = view(t, "broken") {
			select {
			case <-changes:
			case <-timeout:
				t.Fatalf("no change to the views showed broken Ready at %s within 30s; it shows %s: %s", fixed, v.State, v.Reason)
			}
		}
		eventually(t, 10*time.Second, "dependent Ready", func() bool {
			v := view(t, "dependent")
			return v.State == StateReady && v.LastAppliedRevision == fixed
		})
		seen := applying()
		if len(seen) != 1 || seen[0].State != StateApplying || seen[0].Reason != "applying "+short(fixed) {
			t.Fatalf("dependent as it went on to apply showed %q; want Applying %s, once", statesOf(seen), short(fixed))
		}
		if seen := brokenApplying(); len(seen) != 2 || seen[1].Reason != "applying "+short(fixed) {
			t.Errorf("broken as it went on to apply showed %q; want Applying %s last", statesOf(seen), short(fixed))
		}
		eventually(t, 10*time.Second, "a run of dependent that changed nothing", func() bool {
			runs := view(t, "dependent").Runs
			return len(runs) > 0 && runs[0].Counts[apply.Unchanged] == 1
		})
		if n := len(applying()); n != 1 {
			t.Errorf("dependent showed Applying %d times, want once: a run that changes nothing applies nothing", n)
		}
	})
	t.Run("suspending and resuming a sync shows at once", func(t *testing.T) {
		if err := m.Suspend(t.Context(), f.home, "ready", true); err != nil {
			t.Fatal(err)
		}
		eventually(t, 10*time.Second, "ready Suspended", func() bool { return view(t, "ready").State == StateSuspended })
		if err := m.Suspend(t.Context(), f.home, "ready", false); err != nil {
			t.Fatal(err)
		}
		eventually(t, 10*time.Second, "ready Ready again", func() bool {
			v := view(t, "ready")
			return v.State == StateReady && !v.Suspended
		})
	})
	t.Run("a sync the Manager does not run has no view", func(t *testing.T) {
		if _, ok := m.View(f.home, "missing"); ok {
			t.Error("View of a sync that does not exist found one")
		}
		if _, ok := m.View("elsewhere", "ready"); ok {
			t.Error("View of ready in another namespace found one")
		}
		if _, err := m.Objects(f.home, "missing"); err == nil {
			t.Error("Objects of a sync that does not exist returned no error")
		}
		if err := m.Suspend(t.Context(), f.home, "missing", true); err == nil {
			t.Error("Suspend of a sync that does not exist returned no error")
		}
		if err := m.RequestSync(t.Context(), f.home, "missing"); err == nil {
			t.Error("RequestSync of a sync that does not exist returned no error")
		}
	})
}

// viewsWhileApplying returns what View showed of the sync name each time it
// went on to apply a revision, as its onApplying hook saw it.
func viewsWhileApplying(t *testing.T, m *Manager, namespace, name string) func() []View {
	t.Helper()
	var mu gosync.Mutex
	var seen []View
	s := m.byName[name].loop.syncer
	hook := s.onApplying
	if hook == nil {
		t.Fatalf("the Manager gave sync %s no onApplying hook: its view cannot show Applying", name)
	}
	s.onApplying = func(revision string) {
		hook(revision)
		v, _ := m.View(namespace, name)
		mu.Lock()
		seen = append(seen, v)
		mu.Unlock()
	}
	return func() []View {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(seen)
	}
}

// objectStatuses is the status of each object of the sync name, by name.
func objectStatuses(t *testing.T, m *Manager, namespace, name string) map[string]status.Status {
	t.Helper()
	objs, err := m.Objects(namespace, name)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]status.Status{}
	for _, o := range objs {
		out[o.ID.Name] = o.Status
	}
	return out
}

// statesOf is the state and reason of each view.
func statesOf(views []View) []string {
	out := make([]string, 0, len(views))
	for _, v := range views {
		out = append(out, string(v.State)+": "+v.Reason)
	}
	return out
}

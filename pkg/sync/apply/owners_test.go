package apply_test

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"sigs.k8s.io/cli-utils/pkg/object"

	"github.com/gitsync-io/gitsync/pkg/sync/apply"
)

const shared = `
apiVersion: v1
kind: ConfigMap
metadata: {name: shared}
data: {from: a}
`

// twoSyncs returns the appliers of syncs "a" and "b" in one namespace, after
// a applied the ConfigMap "shared".
func twoSyncs(t *testing.T, mutateB ...func(*apply.Options)) (a, b *apply.Applier, bReqs *requests, ns string) {
	t.Helper()
	a, _, ns = newApplier(t, func(o *apply.Options) { o.Sync = apply.SyncLabel(o.Sync, "a") })
	mustApply(t, a, shared)
	b, bReqs, _ = newApplierFor(t, ns, append([]func(*apply.Options){func(o *apply.Options) { o.Sync = apply.SyncLabel(ns, "b") }}, mutateB...)...)
	return a, b, bReqs, ns
}

func TestOwners(t *testing.T) {
	const own = "\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: own}\n"

	t.Run("refuses an object another sync applied, naming it and the ways out, and applies the others", func(t *testing.T) {
		_, b, _, ns := twoSyncs(t)
		cs, err := b.Apply(t.Context(), objects(t, strings.Replace(shared, "from: a", "from: b", 1)+own))
		if err != nil {
			t.Fatal(err)
		}
		if got := actions(cs); got != "created=1 failed=1" {
			t.Errorf("got %s, want created=1 failed=1", got)
		}
		msg := ""
		if cs.Err() != nil {
			msg = cs.Err().Error()
		}
		for _, want := range []string{"v1 ConfigMap " + ns + "/shared", "belongs to sync " + ns + "/a", "remove it from one of the two syncs", "gitsync.io/force: enabled", "--force"} {
			if !strings.Contains(msg, want) {
				t.Errorf("error %q does not say %q", msg, want)
			}
		}
		var terminal interface{ Terminal() bool }
		if !errorsAs(cs.Err(), &terminal) || !terminal.Terminal() {
			t.Errorf("the refusal should be terminal: %v", cs.Err())
		}
		cm := get(t, configMaps, ns, "shared")
		if diff := cmp.Diff(map[string]any{"from": "a"}, cm.Object["data"]); diff != "" {
			t.Errorf("the refused object was written (-want +got):\n%s", diff)
		}
		if got := cm.GetLabels()[apply.LabelSync]; got != apply.SyncLabel(ns, "a") {
			t.Errorf("label %s = %q, want the owner's", apply.LabelSync, got)
		}
	})

	for _, tc := range []struct {
		name   string
		docs   string
		mutate func(*apply.Options)
	}{
		{"takes an object over when it is annotated gitsync.io/force: enabled, naming the former owner",
			strings.Replace(shared, "{name: shared}", "{name: shared, annotations: {gitsync.io/force: enabled}}", 1), func(*apply.Options) {}},
		{"takes an object over with Force, naming the former owner",
			shared, func(o *apply.Options) { o.Force = true }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, b, _, ns := twoSyncs(t, tc.mutate)
			cs := mustApply(t, b, tc.docs)
			if got, want := cs.Changes[0].TakenFrom, apply.SyncLabel(ns, "a"); got != want || cs.Changes[0].Action != apply.Configured {
				t.Errorf("change %s TakenFrom %q, want configured from %q", cs.Changes[0].Action, got, want)
			}
			if got := get(t, configMaps, ns, "shared").GetLabels()[apply.LabelSync]; got != apply.SyncLabel(ns, "b") {
				t.Errorf("label %s = %q after the takeover, want b's", apply.LabelSync, got)
			}
			if cs := mustApply(t, b, tc.docs); cs.Changes[0].TakenFrom != "" || cs.Changes[0].Action != apply.Unchanged {
				t.Errorf("the next apply: %s TakenFrom %q, want unchanged and no takeover", cs.Changes[0].Action, cs.Changes[0].TakenFrom)
			}
			pruned := a.Prune(t.Context(), object.ObjMetadataSet{cmID(ns, "shared")})
			if got := actions(pruned); got != "skipped=1" {
				t.Errorf("the former owner's prune: %s, want skipped=1", got)
			}
			get(t, configMaps, ns, "shared") // still there
		})
	}

	t.Run("lists other syncs' objects only for types with an object it has not applied", func(t *testing.T) {
		_, b, reqs, _ := twoSyncs(t)
		mustApply(t, b, app)
		before := reqs.counts["GET"]
		mustApply(t, b, app)
		if got := reqs.counts["GET"] - before; got != 3 {
			t.Errorf("a no-op apply of 3 types made %d GET requests, want 3 (one LIST each)", got)
		}
	})
}

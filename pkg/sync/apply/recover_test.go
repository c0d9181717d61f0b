package apply_test

import (
	"cmp"
	"slices"
	"testing"

	gocmp "github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/cli-utils/pkg/object"

	"github.com/gitsync-io/gitsync/pkg/sync/apply"
)

func TestFindOwned(t *testing.T) {
	t.Run("finds the sync's objects of every kind, namespaced and cluster-scoped, and no one else's", func(t *testing.T) {
		a, _, ns := newApplier(t)
		role := "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: " + ns + "-reader}\nrules: []\n"
		mustApply(t, a, app+"---\n"+role)
		other, _, _ := newApplierFor(t, ns, func(o *apply.Options) { o.Sync = "other" })
		mustApply(t, other, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: not-mine}\n")
		plan, err := a.Plan(nil)
		if err != nil {
			t.Fatal(err)
		}
		owned, err := a.FindOwned(t.Context(), plan, ns)
		if err != nil {
			t.Fatal(err)
		}
		want := object.ObjMetadataSet{
			cmID(ns, "settings"),
			{GroupKind: schema.GroupKind{Group: "apps", Kind: "Deployment"}, Namespace: ns, Name: "web"},
			{GroupKind: schema.GroupKind{Kind: "Service"}, Namespace: ns, Name: "web"},
			{GroupKind: schema.GroupKind{Group: "rbac.authorization.k8s.io", Kind: "ClusterRole"}, Name: ns + "-reader"},
		}
		if diff := gocmp.Diff(sortIDs(want), sortIDs(owned.IDs)); diff != "" {
			t.Errorf("ids (-want +got):\n%s", diff)
		}
		if len(owned.Unlisted) != 0 {
			t.Errorf("an admin could not list %v", owned.Unlisted)
		}
	})

	t.Run("reports an object served under two groups once, by the id git gives it", func(t *testing.T) {
		a, _, ns := newApplier(t)
		event := "apiVersion: v1\nkind: Event\nmetadata: {name: note}\ninvolvedObject: {kind: ConfigMap, name: x, namespace: " + ns + "}\nreason: Test\nmessage: hello\n"
		mustApply(t, a, event)
		plan, err := a.Plan(objects(t, event))
		if err != nil {
			t.Fatal(err)
		}
		owned, err := a.FindOwned(t.Context(), plan)
		if err != nil {
			t.Fatal(err)
		}
		want := object.ObjMetadataSet{{GroupKind: schema.GroupKind{Kind: "Event"}, Namespace: ns, Name: "note"}}
		if diff := gocmp.Diff(want, owned.IDs); diff != "" {
			t.Errorf("ids (-want +got):\n%s", diff)
		}
		// The same Event is listed as events.k8s.io too: without git's id,
		// one of the two is kept.
		if _, err := admin(t).Resource(schema.GroupVersionResource{Group: "events.k8s.io", Version: "v1", Resource: "events"}).Namespace(ns).Get(t.Context(), "note", metav1.GetOptions{}); err != nil {
			t.Fatalf("the Event is not served by events.k8s.io: %v", err)
		}
		empty, _ := a.Plan(nil)
		if owned, err := a.FindOwned(t.Context(), empty); err != nil || len(owned.IDs) != 1 {
			t.Errorf("without a plan: ids %v, err %v; want one id", owned.IDs, err)
		}
	})
}

func sortIDs(ids object.ObjMetadataSet) object.ObjMetadataSet {
	out := slices.Clone(ids)
	slices.SortFunc(out, func(x, y object.ObjMetadata) int { return cmp.Compare(x.String(), y.String()) })
	return out
}

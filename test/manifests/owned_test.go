package manifests

import (
	"context"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/dynamic"
	"sigs.k8s.io/cli-utils/pkg/object"

	"github.com/gitsync-io/gitsync/pkg/sync/apply"
	"github.com/gitsync-io/gitsync/test/testenv"
)

// deleteOwnedAtEnd deletes, when the test ends, every object labelled as the
// syncs called names with their inventories in namespace, of whatever kind,
// and waits until they are gone. The tests of this package share one control
// plane, and gitsync refuses to apply an object another sync owns: a test
// that syncs cluster-wide objects (Calico's CRDs, its operator's RBAC) leaves
// none of them to the next, as a user moving them between syncs would. The
// objects are found as gitsync finds them when it rebuilds a lost inventory.
func deleteOwnedAtEnd(t *testing.T, namespace string, names ...string) {
	t.Helper()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		defer cancel()
		for _, name := range names {
			a, err := apply.New(testenv.Config(t), apply.Options{FieldManager: "test", Sync: apply.SyncLabel(namespace, name)})
			if err != nil {
				t.Fatal(err)
			}
			plan, err := a.Plan(nil)
			if err != nil {
				t.Fatal(err)
			}
			owned, err := a.FindOwned(ctx, plan)
			if err != nil {
				t.Fatalf("the objects of sync %s/%s: %v", namespace, name, err)
			}
			for _, id := range owned.IDs {
				deleteAndWait(ctx, t, a, id)
			}
		}
	})
}

func deleteAndWait(ctx context.Context, t *testing.T, a *apply.Applier, id object.ObjMetadata) {
	mapping, err := a.Mapper().RESTMapping(id.GroupKind)
	if err != nil {
		t.Errorf("%s: %v", id, err)
		return
	}
	var c dynamic.ResourceInterface = a.Dynamic().Resource(mapping.Resource)
	if id.Namespace != "" {
		c = a.Dynamic().Resource(mapping.Resource).Namespace(id.Namespace)
	}
	if err := c.Delete(ctx, id.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
		t.Errorf("delete %s: %v", id, err)
		return
	}
	err = wait.PollUntilContextCancel(ctx, 250*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		_, err := c.Get(ctx, id.Name, metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	})
	if err != nil {
		t.Errorf("%s still there after deletion: %v", id, err)
	}
}

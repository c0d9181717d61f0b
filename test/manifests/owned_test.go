package manifests

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"

	"github.com/gitsync-io/gitsync/pkg/sync/apply"
	"github.com/gitsync-io/gitsync/test/testenv"
)

// deleteOwnedAtEnd deletes, when the test ends, every object labelled as the
// syncs called names with their inventories in namespace, of whatever kind,
// and waits until they are gone. The tests of this package share one control
// plane, and gitsync refuses to apply an object another sync owns: a test
// that syncs cluster-wide objects (Calico's CRDs, its operator's RBAC) leaves
// none of them to the next, as a user moving them between syncs would.
func deleteOwnedAtEnd(t *testing.T, namespace string, names ...string) {
	t.Helper()
	dc, disco := dynamicClient(t), discoveryClient(t)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		defer cancel()
		for _, name := range names {
			selector := apply.LabelSync + "=" + apply.SyncLabel(namespace, name)
			for _, o := range owned(ctx, t, dc, disco, selector) {
				deleteAndWait(ctx, t, o.client, o.obj)
			}
		}
	})
}

type ownedObject struct {
	client dynamic.ResourceInterface
	obj    unstructured.Unstructured
}

// owned lists the objects selector matches, one LIST per resource type that
// can be listed and deleted.
func owned(ctx context.Context, t *testing.T, dc dynamic.Interface, disco discovery.DiscoveryInterface, selector string) []ownedObject {
	lists, err := disco.ServerPreferredResources()
	if err != nil && !discovery.IsGroupDiscoveryFailedError(err) {
		t.Errorf("discovery: %v", err)
		return nil
	}
	var out []ownedObject
	for _, list := range lists {
		gv, _ := schema.ParseGroupVersion(list.GroupVersion)
		for _, r := range list.APIResources {
			if strings.Contains(r.Name, "/") || !slices.Contains(r.Verbs, "list") || !slices.Contains(r.Verbs, "delete") {
				continue
			}
			client := dc.Resource(gv.WithResource(r.Name))
			found, err := client.List(ctx, metav1.ListOptions{LabelSelector: selector})
			if err != nil {
				t.Errorf("list %s with %s: %v", r.Name, selector, err)
				continue
			}
			for _, o := range found.Items {
				var c dynamic.ResourceInterface = client
				if r.Namespaced {
					c = client.Namespace(o.GetNamespace())
				}
				out = append(out, ownedObject{c, o})
			}
		}
	}
	return out
}

func deleteAndWait(ctx context.Context, t *testing.T, c dynamic.ResourceInterface, o unstructured.Unstructured) {
	ref := o.GetKind() + " " + o.GetNamespace() + "/" + o.GetName()
	if err := c.Delete(ctx, o.GetName(), metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
		t.Errorf("delete %s: %v", ref, err)
		return
	}
	err := wait.PollUntilContextCancel(ctx, 250*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		_, err := c.Get(ctx, o.GetName(), metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	})
	if err != nil {
		t.Errorf("%s still there after deletion: %v", ref, err)
	}
}

func discoveryClient(t *testing.T) discovery.DiscoveryInterface {
	t.Helper()
	d, err := discovery.NewDiscoveryClientForConfig(testenv.Config(t))
	if err != nil {
		t.Fatal(err)
	}
	return d
}

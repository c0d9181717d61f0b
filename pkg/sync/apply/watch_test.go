package apply_test

import (
	"fmt"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/cli-utils/pkg/object"

	"github.com/gitsync-io/gitsync/pkg/sync/apply"
	"github.com/gitsync-io/gitsync/test/testenv"
)

// TestWatchedClusterReadsLiveObjectsFromItsCache: once Watch's cache holds
// a sync's objects, a sync reads them there (no request but its one write)
// and still finds a change made by hand, which it takes back.
func TestWatchedClusterReadsLiveObjectsFromItsCache(t *testing.T) {
	ns := testenv.Namespace(t)
	reqs := &requests{counts: map[string]int{}}
	cfg := testenv.Config(t)
	cfg.Wrap(reqs.wrap)
	c, a := watchedApplier(t, cfg, ns)
	mustApply(t, a, app) // lists, and starts the cache of each type it listed
	replicas := cachedReplicas(c, ns, "web")
	waitUntil(t, "the cache holds web with 2 replicas", func() bool { return replicas() == 2 })
	scaleByHand(t, ns, "web", 5)
	waitUntil(t, "the cache sees the 5 replicas set by hand", func() bool { return replicas() == 5 })

	reqs.mu.Lock()
	clear(reqs.counts)
	reqs.mu.Unlock()
	if got := actions(mustApply(t, a, app)); got != "configured=1 unchanged=2" {
		t.Errorf("got %s, want configured=1 unchanged=2", got)
	}
	reqs.mu.Lock()
	if reqs.counts["GET"] != 0 || reqs.counts["PATCH"] != 1 {
		t.Errorf("requests of the sync: %v; want the one PATCH of web, and no reads", reqs.counts)
	}
	reqs.mu.Unlock()
	if r, _, _ := unstructured.NestedInt64(get(t, deployments, ns, "web").Object, "spec", "replicas"); r != 2 {
		t.Errorf("replicas = %d after the sync, want 2 from git", r)
	}
}

// watchedApplier returns a Cluster of cfg whose live cache runs, and an
// Applier of it for the sync ns in namespace ns.
func watchedApplier(t *testing.T, cfg *rest.Config, ns string) (*apply.Cluster, *apply.Applier) {
	t.Helper()
	c, err := apply.NewCluster(cfg)
	if err != nil {
		t.Fatal(err)
	}
	c.Watch(t.Context())
	opts := apply.DefaultOptions()
	opts.Sync, opts.DefaultNamespace = ns, ns
	a, err := c.Applier(opts)
	if err != nil {
		t.Fatal(err)
	}
	return c, a
}

// cachedReplicas returns a function that reads the replicas of the
// Deployment ns/name in c's live cache, -1 while the cache holds none.
func cachedReplicas(c *apply.Cluster, ns, name string) func() int64 {
	id := object.ObjMetadata{Namespace: ns, Name: name, GroupKind: schema.GroupKind{Group: "apps", Kind: "Deployment"}}
	return func() int64 {
		u, watched := c.Cached(id)
		if !watched || u == nil {
			return -1
		}
		r, _, _ := unstructured.NestedInt64(u.Object, "spec", "replicas")
		return r
	}
}

// scaleByHand sets the replicas of the Deployment ns/name as kubectl scale does.
func scaleByHand(t *testing.T, ns, name string, replicas int) {
	t.Helper()
	patch := fmt.Appendf(nil, `{"spec":{"replicas":%d}}`, replicas)
	if _, err := admin(t).Resource(deployments).Namespace(ns).Patch(t.Context(), name, types.MergePatchType, patch, metav1.PatchOptions{FieldManager: "kubectl-scale"}); err != nil {
		t.Fatal(err)
	}
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); !cond(); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
	}
}

// TestSharedPlansStillTakeBackHandEdits applies the same objects again and
// again through PlanShared, as a sync does with its render: an object found
// up to date is not compared again while its live object is unchanged, but a
// hand edit changes the live object, and is taken back.
func TestSharedPlansStillTakeBackHandEdits(t *testing.T) {
	ns := testenv.Namespace(t)
	c, a := watchedApplier(t, testenv.Config(t), ns)
	objs := objects(t, app)
	sync := func(objs []*unstructured.Unstructured) string {
		t.Helper()
		plan, err := a.PlanShared(objs)
		return actions(mustApplyPlan(t, a, plan, err))
	}
	sync(objs)
	replicas := cachedReplicas(c, ns, "web")
	waitUntil(t, "the cache holds web with 2 replicas", func() bool { return replicas() == 2 })
	// An object the cache has not seen yet would be applied again.
	waitUntil(t, "the cache holds every object", func() bool {
		for _, o := range objs {
			id := object.UnstructuredToObjMetadata(o)
			id.Namespace = ns
			if u, watched := c.Cached(id); !watched || u == nil {
				return false
			}
		}
		return true
	})
	for range 2 {
		if got := sync(objs); got != "unchanged=3" {
			t.Fatalf("a sync of what the cluster holds: %s, want unchanged=3", got)
		}
	}
	scaleByHand(t, ns, "web", 5)
	waitUntil(t, "the cache sees the 5 replicas set by hand", func() bool { return replicas() == 5 })
	if got := sync(objs); got != "configured=1 unchanged=2" {
		t.Errorf("the sync after a hand edit: %s, want configured=1 unchanged=2", got)
	}
	if r, _, _ := unstructured.NestedInt64(get(t, deployments, ns, "web").Object, "spec", "replicas"); r != 2 {
		t.Errorf("replicas = %d after the sync, want 2 from git", r)
	}
	waitUntil(t, "the cache sees 2 replicas again", func() bool { return replicas() == 2 })
	if got := sync(objs); got != "unchanged=3" {
		t.Errorf("the next sync: %s, want unchanged=3", got)
	}
}

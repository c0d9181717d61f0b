package apply

import (
	"slices"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/gitsync-io/gitsync/test/testenv"
)

// TestPlanSharedDigestsAnObjectOnce: an object PlanShared is given again
// keeps the digest the last PlanShared computed. To show that it is not
// computed again, the test changes the digest the memo holds: the next
// PlanShared stamps that one. A new object, or any object of Plan, is
// digested anew.
func TestPlanSharedDigestsAnObjectOnce(t *testing.T) {
	c, err := NewCluster(testenv.Config(t))
	if err != nil {
		t.Fatal(err)
	}
	opts := DefaultOptions()
	opts.Sync, opts.DefaultNamespace = "memo", "memo"
	a, err := c.Applier(opts)
	if err != nil {
		t.Fatal(err)
	}
	configMap := func(name, value string) *unstructured.Unstructured {
		u := &unstructured.Unstructured{}
		u.SetAPIVersion("v1")
		u.SetKind("ConfigMap")
		u.SetName(name)
		_ = unstructured.SetNestedField(u.Object, value, "data", "key")
		return u
	}
	objs := []*unstructured.Unstructured{configMap("a", "1"), configMap("b", "1")}
	digests := func(shared bool, objs []*unstructured.Unstructured) []string {
		t.Helper()
		p, err := a.plan(objs, shared)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, t := range p.targets {
			out = append(out, t.obj.GetAnnotations()[AnnotationDigest])
		}
		return out
	}
	first := digests(true, objs)
	a.memo.mu.Lock()
	l := a.memo.of[objs[0]]
	l.digest = "remembered"
	a.memo.of[objs[0]] = l
	a.memo.mu.Unlock()

	changed := slices.Clone(objs)
	changed[1] = configMap("b", "2")
	if got := digests(true, changed); got[0] != "remembered" || got[1] == first[1] || got[1] == "" {
		t.Errorf("digests of a given again and of a new b: %q; want the remembered one and a new one (not %q)", got, first[1])
	}
	if got := digests(false, objs); got[0] != first[0] {
		t.Errorf("Plan digested a as %q, want %q computed anew", got[0], first[0])
	}
}

package apply

import (
	"slices"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/gitsync-io/gitsync/test/testenv"
)

// TestPlanSharedPreparesAnObjectOnce: an object PlanShared is given again
// keeps its preparation (the stamped copy it applies and compares); a new
// object, or any object of Plan, is prepared anew.
func TestPlanSharedPreparesAnObjectOnce(t *testing.T) {
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
	plan := func(shared bool, objs []*unstructured.Unstructured) []*target {
		t.Helper()
		p, err := a.plan(objs, shared)
		if err != nil {
			t.Fatal(err)
		}
		return p.targets
	}
	first := plan(true, objs)
	again := plan(true, objs)
	for i := range objs {
		if again[i].obj != first[i].obj {
			t.Errorf("%s was prepared again", first[i].ref)
		}
	}
	changed := slices.Clone(objs)
	changed[1] = configMap("b", "2")
	next := plan(true, changed)
	if next[0].obj != first[0].obj {
		t.Error("a was prepared again after b changed")
	}
	if next[1].obj == first[1].obj || next[1].obj.Object["data"].(map[string]any)["key"] != "2" ||
		next[1].obj.GetAnnotations()[AnnotationDigest] == first[1].obj.GetAnnotations()[AnnotationDigest] {
		t.Errorf("the new b was not prepared: %v", next[1].obj.Object)
	}
	if plain := plan(false, objs); plain[0].obj == first[0].obj {
		t.Error("Plan reused a preparation of PlanShared")
	}
}

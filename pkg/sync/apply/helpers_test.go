package apply_test

import (
	"errors"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/gitsync-io/gitsync/pkg/sync/apply"
	"github.com/gitsync-io/gitsync/test/testenv"
)

func mustApply(t *testing.T, a *apply.Applier, docs string) *apply.ChangeSet {
	t.Helper()
	cs, err := a.Apply(t.Context(), objects(t, docs))
	if err != nil {
		t.Fatalf("apply: %v", err)
	}
	if err := cs.Err(); err != nil {
		t.Fatalf("apply: %v", err)
	}
	return cs
}

// mustApplyPlan applies the plan made (plan, err) and fails t unless every
// object was applied.
func mustApplyPlan(t *testing.T, a *apply.Applier, plan *apply.Plan, err error) *apply.ChangeSet {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	cs, err := a.ApplyPlan(t.Context(), plan)
	if err == nil {
		err = cs.Err()
	}
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

// byName maps the changes of cs by their objects' names.
func byName(cs *apply.ChangeSet) map[string]apply.Change {
	m := map[string]apply.Change{}
	for _, c := range cs.Changes {
		m[c.ID.Name] = c
	}
	return m
}

func mustObject(t *testing.T, doc string) *unstructured.Unstructured {
	t.Helper()
	return objects(t, doc)[0]
}

func get(t *testing.T, gvr schema.GroupVersionResource, ns, name string) *unstructured.Unstructured {
	t.Helper()
	u, err := admin(t).Resource(gvr).Namespace(ns).Get(t.Context(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// newApplierFor returns an applier for the sync named after an existing
// namespace, which is also its default namespace.
func newApplierFor(t *testing.T, ns string, mutate ...func(*apply.Options)) (*apply.Applier, *requests, string) {
	t.Helper()
	reqs := &requests{counts: map[string]int{}}
	cfg := testenv.Config(t)
	cfg.Wrap(reqs.wrap)
	opts := apply.DefaultOptions()
	opts.Sync, opts.DefaultNamespace = ns, ns
	for _, m := range mutate {
		m(&opts)
	}
	a, err := apply.New(cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	return a, reqs, ns
}

func ptr[T any](v T) *T { return &v }

func errorsAs(err error, target any) bool { return errors.As(err, target) }

func contains(s, sub string) bool { return strings.Contains(s, sub) }

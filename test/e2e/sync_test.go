package e2e

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
)

// TestSyncFollowsGit walks one repository through the life of an app: first
// push, a one-file change, a deletion, a revert and a hand edit, checking the
// cluster and the number of write requests after each sync.
func TestSyncFollowsGit(t *testing.T) {
	f := newFixture(t)
	f.repo.Commit(t, "first", baseApp())

	t.Run("applies the first push and waits for the Deployment", func(t *testing.T) {
		r := f.mustSync("-o", "json")
		if diff := cmp.Diff(map[string]int{"created": 4}, counts(t, r)); diff != "" {
			t.Errorf("counts (-want +got):\n%s", diff)
		}
		d := f.get(deployments, "web")
		if ready, _, _ := unstructured.NestedInt64(d.Object, "status", "readyReplicas"); ready != 2 {
			t.Errorf("web has %d ready replicas after the sync, want 2", ready)
		}
	})

	t.Run("writes nothing when nothing changed", func(t *testing.T) {
		before := f.api.Writes()
		r := f.mustSync("-o", "json")
		if diff := cmp.Diff(map[string]int{"unchanged": 4}, counts(t, r)); diff != "" {
			t.Errorf("counts (-want +got):\n%s", diff)
		}
		if w := f.api.Writes() - before; w != 0 {
			t.Errorf("a sync with nothing to do made %d write requests, want 0", w)
		}
	})

	t.Run("writes only the object whose file changed", func(t *testing.T) {
		f.repo.Commit(t, "change a", map[string]string{"app/a.yaml": configMap("a", "changed")})
		before := len(f.api.WriteLog())
		r := f.mustSync("-o", "json")
		if diff := cmp.Diff(map[string]int{"configured": 1, "unchanged": 3}, counts(t, r)); diff != "" {
			t.Errorf("counts (-want +got):\n%s", diff)
		}
		// One apply of ConfigMap a, one save of the sync's record (its status).
		want := []string{"patch configmaps/a", "patch configmaps/gitsync-e2e"}
		if diff := cmp.Diff(want, f.api.WriteLog()[before:]); diff != "" {
			t.Errorf("write requests (-want +got):\n%s", diff)
		}
		if v := data(f.get(configMaps, "a")); v != "changed" {
			t.Errorf("ConfigMap a holds %q, want changed", v)
		}
	})

	t.Run("prunes the object whose file was deleted", func(t *testing.T) {
		f.repo.Remove(t, "app/b.yaml")
		r := f.mustSync("-o", "json")
		if diff := cmp.Diff(map[string]int{"deleted": 1, "unchanged": 3}, counts(t, r)); diff != "" {
			t.Errorf("counts (-want +got):\n%s", diff)
		}
		if f.get(configMaps, "b") != nil {
			t.Error("ConfigMap b still exists")
		}
	})

	t.Run("restores it when the deletion is reverted", func(t *testing.T) {
		f.repo.Commit(t, "revert", map[string]string{"app/b.yaml": configMap("b", "two")})
		r := f.mustSync("-o", "json")
		if diff := cmp.Diff(map[string]int{"created": 1, "unchanged": 3}, counts(t, r)); diff != "" {
			t.Errorf("counts (-want +got):\n%s", diff)
		}
		if v := data(f.get(configMaps, "b")); v != "two" {
			t.Errorf("ConfigMap b holds %q, want two", v)
		}
	})

	t.Run("takes back a change made by hand", func(t *testing.T) {
		patch := []byte(`{"spec":{"replicas":5}}`)
		if _, err := f.admin.Resource(deployments).Namespace(f.ns).Patch(t.Context(), "web", types.MergePatchType, patch, metav1.PatchOptions{FieldManager: "kubectl-scale"}); err != nil {
			t.Fatal(err)
		}
		r := f.mustSync("-o", "json")
		if diff := cmp.Diff(map[string]int{"configured": 1, "unchanged": 3}, counts(t, r)); diff != "" {
			t.Errorf("counts (-want +got):\n%s", diff)
		}
		if n, _, _ := unstructured.NestedInt64(f.get(deployments, "web").Object, "spec", "replicas"); n != 2 {
			t.Errorf("web has %d replicas, want 2 from git", n)
		}
	})

	t.Run("records what it applied", func(t *testing.T) {
		st := f.status()
		if st["lastAppliedRevision"] != f.repo.Head(t) || st["ready"] != true || st["objects"] != float64(4) {
			t.Errorf("status = %v, want revision %s, ready, 4 objects", st, f.repo.Head(t))
		}
	})
}

func TestSyncAppliesACRDAndItsResourceFromOneCommit(t *testing.T) {
	f := newFixture(t)
	group := f.ns + ".e2e.gitsync.io"
	f.repo.Commit(t, "crd and cr", map[string]string{
		"app/crd.yaml": `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.` + group + `
spec:
  group: ` + group + `
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec: {type: object, properties: {size: {type: integer}}}
`,
		"app/widget.yaml": "apiVersion: " + group + "/v1\nkind: Widget\nmetadata:\n  name: w\nspec:\n  size: 3\n",
	})
	r := f.mustSync("-o", "json")
	if diff := cmp.Diff(map[string]int{"created": 2}, counts(t, r)); diff != "" {
		t.Errorf("counts (-want +got):\n%s", diff)
	}
}

func TestDiffAndDryRunChangeNothing(t *testing.T) {
	f := newFixture(t)
	f.repo.Commit(t, "first", baseApp())
	f.mustSync()
	// A changed ConfigMap, a deleted one and a new Deployment (which a dry run
	// must not wait for: it does not exist to become ready).
	f.repo.Commit(t, "change", map[string]string{
		"app/a.yaml": configMap("a", "new"), "app/b.yaml": "",
		"app/web2.yaml": strings.ReplaceAll(deployment, "web", "web2"),
	})

	r := f.run("diff")
	if r.Code != 1 {
		t.Fatalf("diff with changes: want exit 1\n%s", r)
	}
	for _, want := range []string{"-  value: one", "+  value: new", "deleted ConfigMap " + f.ns + "/b", "created Deployment.apps " + f.ns + "/web2"} {
		if !strings.Contains(r.Stdout, want) {
			t.Errorf("diff output lacks %q:\n%s", want, r.Stdout)
		}
	}
	r = f.sync("--dry-run")
	if r.Code != 0 {
		t.Fatalf("dry run failed:\n%s", r)
	}
	if !strings.Contains(r.Stdout, "dry run") {
		t.Errorf("dry run output does not say so:\n%s", r.Stdout)
	}
	if v := data(f.get(configMaps, "a")); v != "one" || f.get(configMaps, "b") == nil || f.get(deployments, "web2") != nil {
		t.Errorf("diff or dry run changed the cluster: a=%q, b exists=%v, web2 exists=%v", v, f.get(configMaps, "b") != nil, f.get(deployments, "web2") != nil)
	}
	if st := f.status(); st["lastAttemptedRevision"] == f.repo.Head(t) {
		t.Errorf("dry run recorded a status: %v", st)
	}

	f.mustSync()
	if r := f.run("diff"); r.Code != 0 {
		t.Errorf("diff after the sync: want exit 0 (no differences)\n%s", r)
	}
}

func data(u *unstructured.Unstructured) string {
	if u == nil {
		return ""
	}
	v, _, _ := unstructured.NestedString(u.Object, "data", "value")
	return v
}

package apply_test

import (
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/cli-utils/pkg/object"
)

func cmID(ns, name string) object.ObjMetadata {
	return object.ObjMetadata{GroupKind: schema.GroupKind{Kind: "ConfigMap"}, Namespace: ns, Name: name}
}

func TestPrune(t *testing.T) {
	t.Run("deletes what the sync applied and skips the rest", func(t *testing.T) {
		a, _, ns := newApplier(t)
		mustApply(t, a, `
apiVersion: v1
kind: ConfigMap
metadata: {name: gone}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: kept, annotations: {gitsync.io/prune: disabled}}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: relabelled}
`)
		// Someone took this one over: it no longer carries the sync's label.
		patch := []byte(`{"metadata":{"labels":{"gitsync.io/sync":null}}}`)
		if _, err := admin(t).Resource(configMaps).Namespace(ns).Patch(t.Context(), "relabelled", types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
		cs := a.Prune(t.Context(), object.ObjMetadataSet{cmID(ns, "gone"), cmID(ns, "kept"), cmID(ns, "relabelled"), cmID(ns, "never-existed")})
		if got := actions(cs); got != "deleted=1 skipped=3" {
			t.Errorf("got %s, want deleted=1 skipped=3", got)
		}
		if _, err := admin(t).Resource(configMaps).Namespace(ns).Get(t.Context(), "gone", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Errorf("pruned ConfigMap still exists: %v", err)
		}
		for _, name := range []string{"kept", "relabelled"} {
			if _, err := admin(t).Resource(configMaps).Namespace(ns).Get(t.Context(), name, metav1.GetOptions{}); err != nil {
				t.Errorf("ConfigMap %s was deleted: %v", name, err)
			}
		}
	})

	t.Run("does not prune a CRD unless it is annotated", func(t *testing.T) {
		a, _, ns := newApplier(t)
		crd := func(name, annotation string) string {
			return `
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: ` + name + `s.` + ns + `.example.com` + annotation + `}
spec:
  group: ` + ns + `.example.com
  scope: Namespaced
  names: {plural: ` + name + `s, singular: ` + name + `, kind: ` + name + `}
  versions: [{name: v1, served: true, storage: true, schema: {openAPIV3Schema: {type: object}}}]
`
		}
		mustApply(t, a, crd("thing", "")+"---"+crd("gizmo", ", annotations: {gitsync.io/prune: enabled}"))
		crdGK := schema.GroupKind{Group: "apiextensions.k8s.io", Kind: "CustomResourceDefinition"}
		cs := a.Prune(t.Context(), object.ObjMetadataSet{
			{GroupKind: crdGK, Name: "things." + ns + ".example.com"},
			{GroupKind: crdGK, Name: "gizmos." + ns + ".example.com"},
		})
		if got := actions(cs); got != "deleted=1 skipped=1" {
			t.Errorf("got %s, want deleted=1 skipped=1", got)
		}
		if cs.Changes[0].Action != "skipped" {
			t.Errorf("the unannotated CRD was %s, want skipped", cs.Changes[0].Action)
		}
	})
}

func TestDiff(t *testing.T) {
	a, _, ns := newApplier(t)
	mustApply(t, a, app)
	changed := `
apiVersion: v1
kind: ConfigMap
metadata: {name: settings}
data: {color: red}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: extra}
`
	// The Deployment and Service left git: they are what prune would delete.
	diffs, err := a.Diff(t.Context(), objects(t, changed), object.ObjMetadataSet{
		{GroupKind: schema.GroupKind{Group: "apps", Kind: "Deployment"}, Namespace: ns, Name: "web"},
	})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, d := range diffs {
		got[d.Ref] = string(d.Action)
	}
	want := map[string]string{
		"ConfigMap " + ns + "/settings":  "configured",
		"ConfigMap " + ns + "/extra":     "created",
		"Deployment.apps " + ns + "/web": "deleted",
	}
	for ref, action := range want {
		if got[ref] != action {
			t.Errorf("%s: %q, want %q (all: %v)", ref, got[ref], action, got)
		}
	}
	for _, d := range diffs {
		if d.Ref == "ConfigMap "+ns+"/settings" && (!contains(d.Diff, "-  color: blue") || !contains(d.Diff, "+  color: red")) {
			t.Errorf("settings diff does not show the change:\n%s", d.Diff)
		}
	}
	if v := get(t, configMaps, ns, "settings").Object["data"].(map[string]any)["color"]; v != "blue" {
		t.Errorf("diff changed the ConfigMap: color = %v", v)
	}
}

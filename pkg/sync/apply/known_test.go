package apply_test

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"

	"github.com/gitsync-io/gitsync/pkg/sync/apply"
)

func TestKnownVersionsAreNotReadAgain(t *testing.T) {
	a, _, ns := newApplier(t)
	docs := func(c string) string {
		return fmt.Sprintf("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\ndata: {key: one}\n---\n"+
			"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: b}\ndata: {key: one}\n---\n"+
			"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {key: %s}\n", c)
	}
	mustApply(t, a, docs("one"))
	applyKnowing := func(t *testing.T, docs string, known apply.Known) map[string]apply.Change {
		t.Helper()
		plan, err := a.Plan(objects(t, docs))
		if err != nil {
			t.Fatal(err)
		}
		plan.Know(known)
		cs, err := a.ApplyPlan(t.Context(), plan)
		if err == nil {
			err = cs.Err()
		}
		if err != nil {
			t.Fatal(err)
		}
		byName := map[string]apply.Change{}
		for _, c := range cs.Changes {
			byName[c.ID.Name] = c
		}
		return byName
	}
	known := apply.Known{}
	for _, c := range applyKnowing(t, docs("one"), nil) {
		if c.Action != apply.Unchanged || c.Known {
			t.Fatalf("%s without a Known: %s, known %v", c.ID.Name, c.Action, c.Known)
		}
		known[c.ID] = apply.VersionOf(c.Live)
	}
	check := func(t *testing.T, got map[string]apply.Change, want map[string]string) {
		t.Helper()
		for name, w := range want {
			c := got[name]
			_, read := c.Live.Object["data"]
			state := fmt.Sprintf("%s known=%v read=%v", c.Action, c.Known, read)
			if state != w {
				t.Errorf("%s: %s, want %s", name, state, w)
			}
		}
	}

	t.Run("a version known is not read, only named", func(t *testing.T) {
		got := applyKnowing(t, docs("one"), known)
		check(t, got, map[string]string{"a": "unchanged known=true read=false", "b": "unchanged known=true read=false", "c": "unchanged known=true read=false"})
		live := got["a"].Live
		if live.GetName() != "a" || live.GetNamespace() != ns || live.GetUID() == "" || live.GetLabels()[apply.LabelSync] != ns ||
			live.GetAnnotations()[apply.AnnotationDigest] == "" || live.GetKind() != "ConfigMap" || live.GetAPIVersion() != "v1" {
			t.Errorf("the placeholder of a: %v", live.Object)
		}
	})
	t.Run("a hand edit makes a new version, which is read and undone", func(t *testing.T) {
		b := get(t, configMaps, ns, "b")
		if err := unstructured.SetNestedField(b.Object, "edited", "data", "key"); err != nil {
			t.Fatal(err)
		}
		if _, err := admin(t).Resource(configMaps).Namespace(ns).Update(t.Context(), b, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		got := applyKnowing(t, docs("one"), known)
		check(t, got, map[string]string{"a": "unchanged known=true read=false", "b": "configured known=false read=true"})
		if v, _, _ := unstructured.NestedString(get(t, configMaps, ns, "b").Object, "data", "key"); v != "one" {
			t.Errorf("b holds %q after the sync, want the hand edit undone", v)
		}
	})
	t.Run("a version of another object, or of another digest, is read", func(t *testing.T) {
		other := apply.Known{}
		for id, v := range known {
			switch id.Name {
			case "a":
				v.UID = types.UID("another-object")
			}
			other[id] = v
		}
		got := applyKnowing(t, docs("two"), other)
		check(t, got, map[string]string{"a": "unchanged known=false read=true", "c": "configured known=false read=true"})
	})
}

func TestKnownFile(t *testing.T) {
	dir := t.TempDir()
	k := apply.Known{
		{Namespace: "ns", Name: "a", GroupKind: schema.GroupKind{Kind: "ConfigMap"}}:                                   {UID: "u1", ResourceVersion: "10", Digest: "sha256:aa"},
		{Name: "system:gitsync", GroupKind: schema.GroupKind{Group: "rbac.authorization.k8s.io", Kind: "ClusterRole"}}: {UID: "u2", ResourceVersion: "11", Digest: "sha256:bb"},
		{Namespace: "ns", Name: "web", GroupKind: schema.GroupKind{Group: "apps", Kind: "Deployment"}}:                 {UID: "u3", ResourceVersion: "12", Digest: "sha256:cc"},
	}
	path := filepath.Join(dir, "sub", "known")
	if err := apply.WriteKnown(path, k); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(k, apply.ReadKnown(path)); diff != "" {
		t.Errorf("read back (-written +read):\n%s", diff)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for name, content := range map[string][]byte{
		"cut short":      data[:len(data)-5],
		"another format": append([]byte("gitsync-known 2\n"), data[len("gitsync-known 1\n"):]...),
		"a line too few": append(append([]byte{}, data...), []byte("u4 13 sha256:dd\n")...),
		"empty":          nil,
	} {
		bad := filepath.Join(dir, "bad")
		if err := os.WriteFile(bad, content, 0o600); err != nil {
			t.Fatal(err)
		}
		if got := apply.ReadKnown(bad); got != nil {
			t.Errorf("%s: read %d objects, want none", name, len(got))
		}
	}
	if got := apply.ReadKnown(filepath.Join(dir, "missing")); got != nil {
		t.Errorf("a missing file: %v", got)
	}
}

package apply_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	gosync "sync"
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
		if err == nil {
			plan.Know(known)
		}
		return byName(mustApplyPlan(t, a, plan, err))
	}
	known := apply.Known{}
	for _, c := range applyKnowing(t, docs("one"), nil) {
		if c.Action != apply.Unchanged || c.Known {
			t.Fatalf("%s without a Known: %s, known %v", c.ID.Name, c.Action, c.Known)
		}
		known[c.ID] = c.Version()
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
		if live.GetName() != "a" || live.GetNamespace() != ns || live.GetUID() == "" || live.GetResourceVersion() == "" ||
			live.GetKind() != "ConfigMap" || live.GetAPIVersion() != "v1" {
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
		{Namespace: "ns", Name: "a", GroupKind: schema.GroupKind{Kind: "ConfigMap"}}:                                   {UID: "u1", ResourceVersion: "10", Digest: "sha256:aa", Rendered: "0f0f"},
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
		"cut short":       data[:len(data)-5],
		"another format":  append([]byte("gitsync-known 1\n"), data[len("gitsync-known 2\n"):]...),
		"a field too few": append(append([]byte{}, data...), []byte("u4 13 sha256:dd ns_e__ConfigMap\n")...),
		"empty":           nil,
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

// lazyDoc is a rendered object for PlanKnown that notes each decode.
type lazyDoc struct {
	u       *unstructured.Unstructured
	json    []byte
	decoded func(name string)
}

func (d lazyDoc) Head() (apiVersion, kind, namespace, name string) {
	return d.u.GetAPIVersion(), d.u.GetKind(), d.u.GetNamespace(), d.u.GetName()
}
func (d lazyDoc) JSON() []byte { return d.json }
func (d lazyDoc) Object() (*unstructured.Unstructured, error) {
	d.decoded(d.u.GetName())
	return d.u, nil
}

func TestPlanKnownDecodesWhatItMust(t *testing.T) {
	a, _, ns := newApplier(t)
	docs := func(c, dAnnotations string) string {
		return "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\ndata: {key: one}\n---\n" +
			"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: b}\ndata: {key: one}\n---\n" +
			"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {key: " + c + "}\n---\n" +
			"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: d, annotations: {" + dAnnotations + "}}\n"
	}
	// sync applies docs as a sync run once does, and returns each object's
	// change and the names of those it decoded.
	sync := func(t *testing.T, docs string, known apply.Known) (map[string]apply.Change, []string) {
		t.Helper()
		var mu gosync.Mutex
		var decoded []string
		var lazies []apply.Lazy
		for _, u := range objects(t, docs) {
			data, err := json.Marshal(u.Object)
			if err != nil {
				t.Fatal(err)
			}
			lazies = append(lazies, lazyDoc{u: u, json: data, decoded: func(name string) {
				mu.Lock()
				defer mu.Unlock()
				decoded = append(decoded, name)
			}})
		}
		plan, err := a.PlanKnown(lazies, known)
		cs := mustApplyPlan(t, a, plan, err)
		slices.Sort(decoded)
		return byName(cs), decoded
	}
	// settle syncs docs until nothing changes and returns what a sync then
	// keeps: the versions it found up to date.
	settle := func(t *testing.T, docs string) apply.Known {
		t.Helper()
		sync(t, docs, nil)
		got, _ := sync(t, docs, nil)
		known := apply.Known{}
		for name, c := range got {
			if c.Action != apply.Unchanged || c.Version().Rendered == "" || c.Version().Digest == "" {
				t.Fatalf("%s, synced twice: %s, version %+v; want unchanged, with the sum of its rendered JSON", name, c.Action, c.Version())
			}
			known[c.ID] = c.Version()
		}
		return known
	}
	check := func(t *testing.T, got map[string]apply.Change, decoded []string, want map[string]string, wantDecoded ...string) {
		t.Helper()
		for name, w := range want {
			if c := got[name]; fmt.Sprintf("%s known=%v", c.Action, c.Known) != w {
				t.Errorf("%s: %s known=%v, want %s", name, c.Action, c.Known, w)
			}
		}
		if !slices.Equal(decoded, wantDecoded) {
			t.Errorf("decoded %q, want %q", decoded, wantDecoded)
		}
	}
	const force = "gitsync.io/force: enabled"

	t.Run("what known holds is not decoded", func(t *testing.T) {
		known := settle(t, docs("one", ""))
		got, decoded := sync(t, docs("one", ""), known)
		check(t, got, decoded, map[string]string{"a": "unchanged known=true", "b": "unchanged known=true", "c": "unchanged known=true", "d": "unchanged known=true"})
	})
	t.Run("a changed object is decoded, and only it", func(t *testing.T) {
		known := settle(t, docs("one", ""))
		got, decoded := sync(t, docs("two", ""), known)
		check(t, got, decoded, map[string]string{"a": "unchanged known=true", "c": "configured known=false"}, "c")
		if v, _, _ := unstructured.NestedString(get(t, configMaps, ns, "c").Object, "data", "key"); v != "two" {
			t.Errorf("c holds %q, want two", v)
		}
	})
	t.Run("a hand edit is decoded at the apply, and undone", func(t *testing.T) {
		known := settle(t, docs("one", ""))
		b := get(t, configMaps, ns, "b")
		if err := unstructured.SetNestedField(b.Object, "edited", "data", "key"); err != nil {
			t.Fatal(err)
		}
		if _, err := admin(t).Resource(configMaps).Namespace(ns).Update(t.Context(), b, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		got, decoded := sync(t, docs("one", ""), known)
		check(t, got, decoded, map[string]string{"a": "unchanged known=true", "b": "configured known=false"}, "b")
		if v, _, _ := unstructured.NestedString(get(t, configMaps, ns, "b").Object, "data", "key"); v != "one" {
			t.Errorf("b holds %q after the sync, want the hand edit undone", v)
		}
	})
	t.Run("another rendered JSON is decoded, and its digest compared", func(t *testing.T) {
		known := settle(t, docs("one", ""))
		v := known[cmID(ns, "a")]
		v.Rendered = "another"
		known[cmID(ns, "a")] = v
		got, decoded := sync(t, docs("one", ""), known)
		check(t, got, decoded, map[string]string{"a": "unchanged known=true", "b": "unchanged known=true"}, "a")
	})
	t.Run("an object another sync took is decoded, and taken back if its JSON forces it", func(t *testing.T) {
		known := settle(t, docs("one", force))
		d := get(t, configMaps, ns, "d")
		d.SetLabels(map[string]string{apply.LabelManagedBy: "gitsync", apply.LabelSync: apply.SyncLabel(ns, "other")})
		if _, err := admin(t).Resource(configMaps).Namespace(ns).Update(t.Context(), d, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		got, decoded := sync(t, docs("one", force), known)
		check(t, got, decoded, map[string]string{"a": "unchanged known=true", "d": "configured known=false"}, "d")
		if from := got["d"].TakenFrom; from != apply.SyncLabel(ns, "other") {
			t.Errorf("d taken from %q, want from the other sync", from)
		}
	})
}

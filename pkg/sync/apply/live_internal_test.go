package apply

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/tools/cache"

	"github.com/gitsync-io/gitsync/test/testenv"
)

func TestTrimManagedFieldsKeepsTheManagers(t *testing.T) {
	live := &unstructured.Unstructured{}
	live.SetManagedFields([]metav1.ManagedFieldsEntry{
		{Manager: "gitsync", Operation: metav1.ManagedFieldsOperationApply, FieldsType: "FieldsV1",
			FieldsV1: &metav1.FieldsV1{Raw: []byte(`{"f:data":{"f:key":{}}}`)}},
		{Manager: "helm", Operation: metav1.ManagedFieldsOperationApply, FieldsType: "FieldsV1",
			FieldsV1: &metav1.FieldsV1{Raw: []byte(`{"f:data":{"f:other":{}}}`)}},
		{Manager: "kubelet", Operation: metav1.ManagedFieldsOperationUpdate, Subresource: "status"},
	})
	trimManagedFields(live)
	for _, e := range live.GetManagedFields() {
		if e.FieldsV1 != nil {
			t.Errorf("%s keeps its field set", e.Manager)
		}
	}
	if diff := cmp.Diff([]string{"helm"}, otherAppliers(live, "gitsync")); diff != "" {
		t.Errorf("other appliers (-want +got):\n%s", diff)
	}
}

func TestEachListItemHandsOutEveryItemOnce(t *testing.T) {
	for _, tc := range []struct {
		name, list string
		want       [][]string // the batches, each item compact
		wantErr    bool
	}{
		{name: "batches of two, the last one short",
			list: `{"kind":"ConfigMapList","metadata":{"resourceVersion":"7"},"items":[{"a":1},{"b":[2,3]},{"c":"]"},{"d":{}},{"e":null}]}`,
			want: [][]string{{`{"a":1}`, `{"b":[2,3]}`}, {`{"c":"]"}`, `{"d":{}}`}, {`{"e":null}`}}},
		{name: "fields after the items", list: `{"items":[{"a":1}],"metadata":{"continue":""},"kind":"List"}`,
			want: [][]string{{`{"a":1}`}}},
		{name: "no items", list: `{"kind":"List","items":[]}`},
		{name: "null items", list: `{"kind":"List","items":null}`},
		{name: "cut short", list: `{"items":[{"a":1},{"b":`, wantErr: true},
		{name: "items that are no list", list: `{"items":{"a":1}}`, wantErr: true},
		{name: "not an object", list: `[{"a":1}]`, wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got [][]string
			err := eachListItem(strings.NewReader(tc.list), 2, func(raws []json.RawMessage) {
				var batch []string
				for _, r := range raws {
					batch = append(batch, string(r))
				}
				got = append(got, batch)
			})
			if (err != nil) != tc.wantErr {
				t.Fatalf("error %v, want an error: %v", err, tc.wantErr)
			}
			if diff := cmp.Diff(tc.want, got); !tc.wantErr && diff != "" {
				t.Errorf("batches (-want +got):\n%s", diff)
			}
		})
	}
}

func TestLiveCacheKeepsObjectsCompact(t *testing.T) {
	live := &unstructured.Unstructured{}
	if err := live.UnmarshalJSON([]byte(`{"apiVersion":"apps/v1","kind":"Deployment",
		"metadata":{"name":"web","namespace":"shop","resourceVersion":"42","labels":{"` + LabelSync + `":"shop","app":"web"},
			"managedFields":[{"manager":"gitsync","operation":"Apply","fieldsType":"FieldsV1","fieldsV1":{"f:spec":{"f:replicas":{}}}}]},
		"spec":{"replicas":2,"ratio":0.5,"paused":false,"template":{"spec":{"containers":[{"name":"app","image":"app:1"}]}}},
		"status":{"observedGeneration":3}}`)); err != nil {
		t.Fatal(err)
	}
	want := live.DeepCopy()
	trimManagedFields(want)

	kept, err := compactLive(live)
	if err != nil {
		t.Fatal(err)
	}
	l, ok := kept.(*liveObject)
	if !ok {
		t.Fatalf("the cache keeps a %T", kept)
	}
	if key, _ := cache.MetaNamespaceKeyFunc(l); key != "shop/web" || l.GetResourceVersion() != "42" {
		t.Errorf("store key %q, resourceVersion %q; want shop/web, 42", key, l.GetResourceVersion())
	}
	if index, _ := syncIndex(l); !slices.Equal(index, []string{"shop"}) {
		t.Errorf("indexed under %v, want [shop]", index)
	}
	for range 2 { // each read is a copy of its own
		got, err := l.decode()
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(want.Object, got.Object); diff != "" {
			t.Fatalf("decoded (-want +got):\n%s", diff)
		}
		got.Object["spec"].(map[string]any)["replicas"] = int64(5)
	}
	for _, o := range []any{l, cache.DeletedFinalStateUnknown{Key: "shop/web", Obj: l}} {
		if again, _ := compactLive(o); again != o {
			t.Errorf("compactLive(%T) changed it to %T", o, again)
		}
	}
}

// TestListDecodedDecodesWhatItIsAskedFor: given the names it wants, a LIST
// hands out those objects whole and leaves the others out; given none, every
// object.
func TestListDecodedDecodesWhatItIsAskedFor(t *testing.T) {
	ns := testenv.Namespace(t)
	dc, err := dynamic.NewForConfig(testenv.Config(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"a", "b", "c"} {
		cm := &unstructured.Unstructured{}
		cm.SetAPIVersion("v1")
		cm.SetKind("ConfigMap")
		cm.SetName(name)
		cm.SetLabels(map[string]string{"listed": "yes"})
		_ = unstructured.SetNestedField(cm.Object, "value of "+name, "data", "key")
		if _, err := dc.Resource(corev1.SchemeGroupVersion.WithResource("configmaps")).Namespace(ns).Create(t.Context(), cm, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	c, err := NewCluster(testenv.Config(t))
	if err != nil {
		t.Fatal(err)
	}
	a, err := c.Applier(DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	m, err := a.mapper.RESTMapping(schema.GroupKind{Kind: "ConfigMap"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		wanted nameSet
		want   []string
	}{
		{"one wanted", nameSet{{Namespace: ns, Name: "b"}: true, {Namespace: "elsewhere", Name: "c"}: true}, []string{"b"}},
		{"none named", nil, []string{"a", "b", "c"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			items, err := a.listDecoded(t.Context(), m, ns, "listed=yes", tc.wanted)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, u := range items {
				got = append(got, u.GetName())
				if v, _, _ := unstructured.NestedString(u.Object, "data", "key"); v != "value of "+u.GetName() {
					t.Errorf("%s is not whole: data.key = %q", u.GetName(), v)
				}
			}
			slices.Sort(got)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("listed (-want +got):\n%s", diff)
			}
		})
	}
}

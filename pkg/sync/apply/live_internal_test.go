package apply

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/version"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/tools/cache"
	"sigs.k8s.io/yaml"

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
		{"one wanted", nameSet{{Namespace: ns, Name: "b"}: nil, {Namespace: "elsewhere", Name: "c"}: nil}, []string{"b"}},
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

// TestProtobufListsAreTheJSONOnes lists built-in objects with the fields
// whose JSON has a form of its own (quantities, int-or-strings, bytes, a
// null timestamp, nested lists) as protobuf and as JSON: the maps must be
// the same, or a drift check would see changes nobody made, or miss some.
// A short list, and any list of a server newer than gitsync's Go types,
// comes as JSON.
func TestProtobufListsAreTheJSONOnes(t *testing.T) {
	ns := testenv.Namespace(t)
	admin, err := NewCluster(testenv.Config(t))
	if err != nil {
		t.Fatal(err)
	}
	a, err := admin.Applier(DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	docs := strings.ReplaceAll(`
apiVersion: v1
kind: ConfigMap
metadata: {name: cm, namespace: NS, labels: {listed: "yes"}, annotations: {note: "a\nb"}}
data: {key: value, empty: ""}
binaryData: {bin: AAEC/w==}
---
apiVersion: v1
kind: Secret
metadata: {name: secret, namespace: NS, labels: {listed: "yes"}}
type: Opaque
data: {password: c2VjcmV0}
---
apiVersion: v1
kind: Service
metadata: {name: svc, namespace: NS, labels: {listed: "yes"}}
spec:
  selector: {app: web}
  ports:
  - {name: http, port: 80, targetPort: web}
  - {name: admin, port: 8080, targetPort: 9090, protocol: TCP}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: NS, labels: {listed: "yes"}}
spec:
  replicas: 0
  strategy: {rollingUpdate: {maxSurge: 25%, maxUnavailable: 0}}
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: web
        image: registry.k8s.io/pause:3.10
        ports: [{name: web, containerPort: 8080}]
        resources: {requests: {cpu: 1000m, memory: 64Mi}, limits: {cpu: "1.5"}}
        env: [{name: EMPTY, value: ""}]
`, "NS", ns)
	var objs []*unstructured.Unstructured
	for _, doc := range strings.Split(docs, "---") {
		u := &unstructured.Unstructured{}
		if err := yaml.Unmarshal([]byte(doc), &u.Object); err != nil {
			t.Fatal(err)
		}
		objs = append(objs, u)
	}
	cs, err := a.Apply(t.Context(), objs)
	if err == nil {
		err = cs.Err()
	}
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	served := map[string]string{} // resource → the last Content-Type it was listed in
	cfg := testenv.Config(t)
	cfg.WrapTransport = func(rt http.RoundTripper) http.RoundTripper {
		return roundTripperFunc(func(r *http.Request) (*http.Response, error) {
			resp, err := rt.RoundTrip(r)
			if err == nil && r.Method == http.MethodGet && r.URL.Query().Has("labelSelector") {
				mu.Lock()
				served[path.Base(r.URL.Path)] = resp.Header.Get("Content-Type")
				mu.Unlock()
			}
			return resp, err
		})
	}
	c, err := NewCluster(cfg)
	if err != nil {
		t.Fatal(err)
	}
	l, err := c.Applier(DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	// wanted names the object and enough others for a LIST to come as
	// protobuf (protobufFrom).
	wanted := func(name string, n int) nameSet {
		set := nameSet{{Namespace: ns, Name: name}: nil}
		for i := range n - 1 {
			set[types.NamespacedName{Namespace: ns, Name: fmt.Sprintf("absent-%d", i)}] = nil
		}
		return set
	}
	list := func(t *testing.T, gk schema.GroupKind, name string, n int) ([]unstructured.Unstructured, string) {
		t.Helper()
		m, err := l.mapper.RESTMapping(gk)
		if err != nil {
			t.Fatal(err)
		}
		items, err := l.listDecoded(t.Context(), m, ns, "listed=yes", wanted(name, n))
		if err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		defer mu.Unlock()
		return items, served[m.Resource.Resource]
	}
	for _, o := range []struct {
		gk   schema.GroupKind
		name string
	}{{schema.GroupKind{Kind: "ConfigMap"}, "cm"}, {schema.GroupKind{Kind: "Secret"}, "secret"},
		{schema.GroupKind{Kind: "Service"}, "svc"}, {schema.GroupKind{Group: "apps", Kind: "Deployment"}, "web"}} {
		t.Run(o.gk.Kind, func(t *testing.T) {
			fromProtobuf, served := list(t, o.gk, o.name, protobufFrom)
			if !strings.HasPrefix(served, "application/vnd.kubernetes.protobuf") {
				t.Errorf("the list came as %q, not protobuf", served)
			}
			m, err := l.mapper.RESTMapping(o.gk)
			if err != nil {
				t.Fatal(err)
			}
			body, err := l.rest.Get().AbsPath(collectionPath(m, ns)...).Param("labelSelector", "listed=yes").
				SetHeader("Accept", "application/json").DoRaw(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			fromJSON, err := decodeJSONList(t.Context(), m, bytes.NewReader(body), nil)
			if err != nil {
				t.Fatal(err)
			}
			if len(fromJSON) != 1 {
				t.Fatalf("JSON lists %d objects, want 1", len(fromJSON))
			}
			if diff := cmp.Diff(fromJSON, fromProtobuf); diff != "" {
				t.Errorf("protobuf against JSON (-json +protobuf):\n%s", diff)
			}
		})
	}
	t.Run("a version known comes as its name and version alone", func(t *testing.T) {
		gk := schema.GroupKind{Group: "apps", Kind: "Deployment"}
		m, err := l.mapper.RESTMapping(gk)
		if err != nil {
			t.Fatal(err)
		}
		full, _ := list(t, gk, "web", protobufFrom)
		if len(full) != 1 {
			t.Fatalf("listed %d objects, want 1", len(full))
		}
		placeholder := map[string]any{"apiVersion": "apps/v1", "kind": "Deployment", "metadata": map[string]any{
			"name": "web", "namespace": ns, "uid": string(full[0].GetUID()), "resourceVersion": full[0].GetResourceVersion()}}
		for _, tc := range []struct {
			name string
			v    Version
			want map[string]any
		}{
			{"the version listed", Version{UID: full[0].GetUID(), ResourceVersion: full[0].GetResourceVersion()}, placeholder},
			{"another resourceVersion", Version{UID: full[0].GetUID(), ResourceVersion: "1"}, full[0].Object},
			{"another object's", Version{UID: "another", ResourceVersion: full[0].GetResourceVersion()}, full[0].Object},
		} {
			for _, n := range []int{protobufFrom, protobufFrom - 1} { // protobuf, JSON
				set := wanted("web", n)
				set[types.NamespacedName{Namespace: ns, Name: "web"}] = &tc.v
				items, err := l.listDecoded(t.Context(), m, ns, "listed=yes", set)
				if err != nil {
					t.Fatal(err)
				}
				if len(items) != 1 {
					t.Fatalf("%s, %d wanted: listed %d objects, want 1", tc.name, n, len(items))
				}
				if diff := cmp.Diff(tc.want, items[0].Object); diff != "" {
					t.Errorf("%s, %d wanted (-want +got):\n%s", tc.name, n, diff)
				}
			}
		}
	})
	t.Run("a short list", func(t *testing.T) {
		items, served := list(t, schema.GroupKind{Kind: "ConfigMap"}, "cm", protobufFrom-1)
		if len(items) != 1 || !strings.HasPrefix(served, "application/json") {
			t.Errorf("listed %d objects as %q; want 1, as JSON", len(items), served)
		}
	})
	t.Run("refused", func(t *testing.T) {
		// The Status of a refusal comes as protobuf too: it must still
		// read as the server wrote it, which the sync's error repeats.
		as, err := c.Impersonating(cfg, "system:serviceaccount:"+ns+":nobody")
		if err != nil {
			t.Fatal(err)
		}
		nobody, err := as.Applier(DefaultOptions())
		if err != nil {
			t.Fatal(err)
		}
		m, err := l.mapper.RESTMapping(schema.GroupKind{Kind: "ConfigMap"})
		if err != nil {
			t.Fatal(err)
		}
		_, err = nobody.listDecoded(t.Context(), m, ns, "listed=yes", wanted("cm", protobufFrom))
		mu.Lock()
		defer mu.Unlock()
		if !apierrors.IsForbidden(err) || !strings.Contains(fmt.Sprint(err), `cannot list resource "configmaps"`) ||
			!strings.HasPrefix(served["configmaps"], "application/vnd.kubernetes.protobuf") {
			t.Errorf("the refusal came as %q and reads %v; want protobuf, and the server's Forbidden", served["configmaps"], err)
		}
	})
	t.Run("a newer server", func(t *testing.T) {
		c.server.version = "v1.99.0"
		items, served := list(t, schema.GroupKind{Kind: "ConfigMap"}, "cm", protobufFrom)
		if len(items) != 1 || !strings.HasPrefix(served, "application/json") {
			t.Errorf("listed %d objects as %q; want 1, as JSON", len(items), served)
		}
	})
}

type roundTripperFunc func(*http.Request) (*http.Response, error)

func (f roundTripperFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestNotNewer(t *testing.T) {
	for _, tc := range []struct {
		server, types string
		want          bool
	}{
		{"v1.37.2", "v1.37.0", true},
		{"v1.36.9", "v1.37.0", true},
		{"v1.37.0-gke.1200", "v1.37.0", true},
		{"v1.38.0", "v1.37.0", false},
		{"v2.0.0", "v1.37.0", false},
		{"", "v1.37.0", false},
		{"v1.37.2", "", false},
	} {
		if got := notNewer(tc.server, tc.types); got != tc.want {
			t.Errorf("notNewer(%q, %q) = %v, want %v", tc.server, tc.types, got, tc.want)
		}
	}
}

// TestTypesReleaseIsGoMods fails once go.mod moves k8s.io/api to another
// release: typesRelease must follow, or protobuf lists would be used with
// servers whose fields gitsync's types do not know (or not used at all).
func TestTypesReleaseIsGoMods(t *testing.T) {
	data, err := os.ReadFile("../../../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	var api string
	for line := range strings.Lines(string(data)) {
		if f := strings.Fields(line); len(f) == 2 && f[0] == "k8s.io/api" {
			api = f[1]
		}
	}
	v, err := version.ParseGeneric(api)
	if err != nil {
		t.Fatalf("go.mod requires k8s.io/api %q: %v", api, err)
	}
	if want := fmt.Sprintf("v1.%d.0", v.Minor()); typesRelease != want {
		t.Errorf("go.mod requires k8s.io/api %s: set typesRelease to %q in protobuf.go", api, want)
	}
}

// The fields of an encoded ObjectMeta that headOf reads are those of the Go
// type gitsync is built with.
func TestObjectMetaFields(t *testing.T) {
	typ := reflect.TypeOf(metav1.ObjectMeta{})
	for name, number := range map[string]int{"Name": 1, "Namespace": 3, "UID": 5, "ResourceVersion": 6} {
		f, ok := typ.FieldByName(name)
		if tag := f.Tag.Get("protobuf"); !ok || !strings.HasPrefix(tag, fmt.Sprintf("bytes,%d,", number)) {
			t.Errorf("ObjectMeta.%s is tagged %q; headOf reads it as field %d", name, tag, number)
		}
	}
}

package apply_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"

	"github.com/gitsync-io/gitsync/pkg/sync/apply"
)

var (
	configMaps  = schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}
	deployments = schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}
)

const app = `
apiVersion: v1
kind: ConfigMap
metadata: {name: settings}
data: {color: blue}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      hostNetwork: false  # the server drops false, "" and 0 from built-in types:
      containers:         # still no drift (Calico's tigera-operator.yaml has such an env)
      - name: nginx
        image: nginx:1.27
        env: [{name: WATCH_NAMESPACE, value: ""}]
        resources: {requests: {cpu: 100m, memory: 64Mi}, limits: {cpu: "1", memory: 128Mi}}
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports: [{port: 80, targetPort: 8080}]
`

func TestApply(t *testing.T) {
	t.Run("creates new objects, then writes nothing when nothing changed", func(t *testing.T) {
		a, reqs, _ := newApplier(t)
		cs, err := a.Apply(t.Context(), objects(t, app))
		if err != nil || cs.Err() != nil {
			t.Fatalf("first apply: %v %v", err, cs.Err())
		}
		if got := actions(cs); got != "created=3" {
			t.Errorf("first apply: %s, want created=3", got)
		}
		before := reqs.writes()
		cs, err = a.Apply(t.Context(), objects(t, app))
		if err != nil || cs.Err() != nil {
			t.Fatalf("second apply: %v %v", err, cs.Err())
		}
		if got := actions(cs); got != "unchanged=3" {
			t.Errorf("second apply: %s, want unchanged=3", got)
		}
		if w := reqs.writes() - before; w != 0 {
			t.Errorf("second apply made %d write requests, want 0", w)
		}
	})

	t.Run("writes nothing for a Secret of stringData that did not change, and applies one that did", func(t *testing.T) {
		a, reqs, _ := newApplier(t)
		secret := "apiVersion: v1\nkind: Secret\nmetadata:\n  name: creds\nstringData:\n  password: one\ndata:\n  user: YWRtaW4=\n"
		mustApply(t, a, secret)
		before := reqs.writes()
		if got := actions(mustApply(t, a, secret)); got != "unchanged=1" {
			t.Errorf("the same Secret again: %s, want unchanged=1", got)
		}
		if w := reqs.writes() - before; w != 0 {
			t.Errorf("the same Secret again made %d write requests, want 0", w)
		}
		if got := actions(mustApply(t, a, strings.Replace(secret, "password: one", "password: two", 1))); got != "configured=1" {
			t.Errorf("a new stringData value: %s, want configured=1", got)
		}
	})

	t.Run("writes exactly the one object that changed", func(t *testing.T) {
		a, reqs, _ := newApplier(t)
		mustApply(t, a, app)
		before := reqs.writes()
		cs := mustApply(t, a, strings.Replace(app, "color: blue", "color: red", 1))
		if got := actions(cs); got != "configured=1 unchanged=2" {
			t.Errorf("got %s, want configured=1 unchanged=2", got)
		}
		if w := reqs.writes() - before; w != 1 {
			t.Errorf("made %d write requests, want 1", w)
		}
	})

	t.Run("removes a field that left git", func(t *testing.T) {
		a, _, ns := newApplier(t)
		mustApply(t, a, strings.Replace(app, "data: {color: blue}", "data: {color: blue, size: big}", 1))
		mustApply(t, a, app)
		cm := get(t, configMaps, ns, "settings")
		if _, found, _ := unstructured.NestedString(cm.Object, "data", "size"); found {
			t.Errorf("data.size is still set: %v", cm.Object["data"])
		}
	})

	t.Run("takes back fields changed by hand", func(t *testing.T) {
		a, _, ns := newApplier(t)
		mustApply(t, a, app)
		// kubectl scale and kubectl edit write with an Update, like this:
		patch := []byte(`{"spec":{"replicas":5}}`)
		if _, err := admin(t).Resource(deployments).Namespace(ns).Patch(t.Context(), "web", types.MergePatchType, patch, metav1.PatchOptions{FieldManager: "kubectl-scale"}); err != nil {
			t.Fatal(err)
		}
		cs := mustApply(t, a, app)
		if got := actions(cs); got != "configured=1 unchanged=2" {
			t.Errorf("got %s, want configured=1 unchanged=2", got)
		}
		if r, _, _ := unstructured.NestedInt64(get(t, deployments, ns, "web").Object, "spec", "replicas"); r != 2 {
			t.Errorf("replicas = %d after the sync, want 2 from git", r)
		}
	})

	t.Run("reports a conflict with another server-side applier and takes over only with force", func(t *testing.T) {
		a, _, ns := newApplier(t)
		mustApply(t, a, app)
		other := `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"settings"},"data":{"color":"green"}}`
		if _, err := admin(t).Resource(configMaps).Namespace(ns).Patch(t.Context(), "settings", types.ApplyPatchType, []byte(other), metav1.PatchOptions{FieldManager: "other-tool", Force: ptr(true)}); err != nil {
			t.Fatal(err)
		}
		cs, err := a.Apply(t.Context(), objects(t, app))
		if err != nil {
			t.Fatal(err)
		}
		msg := ""
		if cs.Err() != nil {
			msg = cs.Err().Error()
		}
		for _, want := range []string{"v1 ConfigMap " + ns + "/settings", `"other-tool"`, ".data.color", "--force"} {
			if !strings.Contains(msg, want) {
				t.Errorf("conflict error %q does not mention %s", msg, want)
			}
		}
		if v, _, _ := unstructured.NestedString(get(t, configMaps, ns, "settings").Object, "data", "color"); v != "green" {
			t.Errorf("color = %s after a refused sync, want the other tool's green", v)
		}

		forced, _, _ := newApplierFor(t, ns, func(o *apply.Options) { o.Force = true })
		mustApply(t, forced, app)
		if v, _, _ := unstructured.NestedString(get(t, configMaps, ns, "settings").Object, "data", "color"); v != "blue" {
			t.Errorf("color = %s after --force, want blue", v)
		}
	})

	t.Run("takes over from another applier when the object is annotated", func(t *testing.T) {
		a, _, ns := newApplier(t)
		other := `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"settings"},"data":{"color":"green"}}`
		if _, err := admin(t).Resource(configMaps).Namespace(ns).Patch(t.Context(), "settings", types.ApplyPatchType, []byte(other), metav1.PatchOptions{FieldManager: "other-tool"}); err != nil {
			t.Fatal(err)
		}
		annotated := strings.Replace(app, "metadata: {name: settings}", "metadata: {name: settings, annotations: {gitsync.io/force: enabled}}", 1)
		mustApply(t, a, annotated)
		if v, _, _ := unstructured.NestedString(get(t, configMaps, ns, "settings").Object, "data", "color"); v != "blue" {
			t.Errorf("color = %s, want blue", v)
		}
	})

	t.Run("adopts an object created by hand", func(t *testing.T) {
		a, _, ns := newApplier(t)
		cm := `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"settings"},"data":{"color":"green"}}`
		if _, err := admin(t).Resource(configMaps).Namespace(ns).Create(t.Context(), mustObject(t, cm), metav1.CreateOptions{FieldManager: "kubectl-create"}); err != nil {
			t.Fatal(err)
		}
		cs := mustApply(t, a, app)
		if got := actions(cs); got != "created=2 configured=1" {
			t.Errorf("got %s, want created=2 configured=1", got)
		}
		if v, _, _ := unstructured.NestedString(get(t, configMaps, ns, "settings").Object, "data", "color"); v != "blue" {
			t.Errorf("color = %s, want blue", v)
		}
	})

	t.Run("names the immutable field instead of recreating the object", func(t *testing.T) {
		a, _, ns := newApplier(t)
		mustApply(t, a, app)
		changed := strings.ReplaceAll(app, "app: web", "app: web2")
		cs, err := a.Apply(t.Context(), objects(t, changed))
		if err != nil {
			t.Fatal(err)
		}
		if cs.Err() == nil || !strings.Contains(cs.Err().Error(), "spec.selector is immutable") || !strings.Contains(cs.Err().Error(), "apps/v1 Deployment "+ns+"/web") {
			t.Errorf("error %v does not name the object and its immutable field", cs.Err())
		}
	})

	t.Run("recreates an object whose immutable field changed when annotated", func(t *testing.T) {
		a, _, ns := newApplier(t)
		mustApply(t, a, app)
		uid := get(t, deployments, ns, "web").GetUID()
		changed := strings.ReplaceAll(app, "app: web", "app: web2")
		changed = strings.Replace(changed, "metadata: {name: web}\nspec:\n  replicas", "metadata: {name: web, annotations: {gitsync.io/force: enabled}}\nspec:\n  replicas", 1)
		mustApply(t, a, changed)
		d := get(t, deployments, ns, "web")
		if d.GetUID() == uid {
			t.Error("the Deployment was not recreated")
		}
		if sel, _, _ := unstructured.NestedString(d.Object, "spec", "selector", "matchLabels", "app"); sel != "web2" {
			t.Errorf("selector app = %s, want web2", sel)
		}
	})

	t.Run("applies a CRD and its custom resource in one go", func(t *testing.T) {
		a, _, ns := newApplier(t)
		group := ns + ".example.com"
		docs := `
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.` + group + `}
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
---
apiVersion: ` + group + `/v1
kind: Widget
metadata: {name: w}
spec: {size: 3}
`
		cs := mustApply(t, a, docs)
		if got := actions(cs); got != "created=2" {
			t.Errorf("got %s, want created=2", got)
		}
		if got := actions(mustApply(t, a, docs)); got != "unchanged=2" {
			t.Errorf("second apply: %s, want unchanged=2", got)
		}
	})

	t.Run("makes no changes in a dry run", func(t *testing.T) {
		a, _, ns := newApplier(t, func(o *apply.Options) { o.DryRun = true })
		cs := mustApply(t, a, app)
		if got := actions(cs); got != "created=3" {
			t.Errorf("got %s, want created=3 (would be)", got)
		}
		if _, err := admin(t).Resource(configMaps).Namespace(ns).Get(t.Context(), "settings", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Errorf("dry run created the ConfigMap: %v", err)
		}
	})
}

func TestApplyRefusesBadInputBeforeWriting(t *testing.T) {
	for _, tc := range []struct {
		name, docs, want   string
		noDefaultNamespace bool
	}{
		{
			name: "an unknown kind",
			docs: "apiVersion: example.com/v1\nkind: Gadget\nmetadata: {name: g}\n---\n" + "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: fine}\n",
			want: "example.com/v1 Gadget g: unknown kind Gadget.example.com",
		},
		{
			name:               "a namespaced object without a namespace and no default",
			docs:               "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n",
			want:               "v1 ConfigMap c: namespaced object has no metadata.namespace",
			noDefaultNamespace: true,
		},
		{
			name: "the same object twice",
			docs: "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n",
			want: "ConfigMap",
		},
	} {
		t.Run("refuses "+tc.name, func(t *testing.T) {
			a, reqs, _ := newApplier(t, func(o *apply.Options) {
				if tc.noDefaultNamespace {
					o.DefaultNamespace = ""
				}
			})
			_, err := a.Apply(t.Context(), objects(t, tc.docs))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want an error containing %q", err, tc.want)
			}
			if w := reqs.writes(); w != 0 {
				t.Errorf("made %d write requests, want 0", w)
			}
		})
	}

	t.Run("reports every bad object, in the order rendered", func(t *testing.T) {
		a, _, _ := newApplier(t)
		var docs []string
		var want []string
		for i := range 9 { // more than one core's share: prepared in parallel, reported in order
			docs = append(docs, fmt.Sprintf("apiVersion: example.com/v1\nkind: Gadget\nmetadata: {name: g%d}\n", i))
			want = append(want, fmt.Sprintf("example.com/v1 Gadget g%d: unknown kind Gadget.example.com", i))
		}
		docs = append(docs, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n")
		_, err := a.Apply(t.Context(), objects(t, strings.Join(docs, "---\n")))
		if err == nil {
			t.Fatal("no error")
		}
		got := strings.Split(err.Error(), "\n")
		inOrder := len(got) == len(want)+1 && strings.Contains(got[len(want)], "appears twice")
		for i := range want {
			inOrder = inOrder && strings.HasPrefix(got[i], want[i])
		}
		if !inOrder {
			t.Errorf("errors, in order:\n%s\nwant the nine Gadgets in order, then the ConfigMap twice", err)
		}
	})

	t.Run("reports an object the API server rejects, and applies the others", func(t *testing.T) {
		a, _, ns := newApplier(t)
		bad := "apiVersion: v1\nkind: Service\nmetadata: {name: bad}\nspec: {ports: [{port: 99999}]}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: good}\n"
		cs, err := a.Apply(t.Context(), objects(t, bad))
		if err != nil {
			t.Fatal(err)
		}
		if cs.Err() == nil || !strings.Contains(cs.Err().Error(), "v1 Service "+ns+"/bad") || !strings.Contains(cs.Err().Error(), "99999") {
			t.Errorf("error %v does not name the object and the bad value", cs.Err())
		}
		var terminal interface{ Terminal() bool }
		if !errorsAs(cs.Err(), &terminal) || !terminal.Terminal() {
			t.Errorf("a rejected object should be a terminal error: %v", cs.Err())
		}
		if got := actions(cs); got != "created=1 failed=1" {
			t.Errorf("got %s, want created=1 failed=1", got)
		}
	})
}

// TestApplyLeavesItsObjectsAlone: a sync's rendered objects are shared with
// the renderer's cache (render.Options.Shared), so applying them must not
// change them: the namespace, labels and digest gitsync adds go on copies,
// in a create, an unchanged apply, a change and a dry run.
func TestApplyLeavesItsObjectsAlone(t *testing.T) {
	a, _, _ := newApplier(t)
	dry, _, _ := newApplier(t, func(o *apply.Options) { o.DryRun = true })
	objs := objects(t, app+`---
apiVersion: v1
kind: ConfigMap
metadata:
  name: stamped-before
  labels: {app.kubernetes.io/managed-by: someone-else, team: a}
  annotations: {gitsync.io/digest: "0000000000000000", note: kept}
data: {key: value}
`)
	want := make([]*unstructured.Unstructured, len(objs))
	for i, o := range objs {
		want[i] = o.DeepCopy()
	}
	for _, step := range []struct {
		name string
		a    *apply.Applier
	}{{"create", a}, {"unchanged", a}, {"dry run", dry}} {
		cs, err := step.a.Apply(t.Context(), objs)
		if err != nil || cs.Err() != nil {
			t.Fatalf("%s: %v %v", step.name, err, cs.Err())
		}
		for i := range objs {
			if diff := cmp.Diff(want[i].Object, objs[i].Object); diff != "" {
				t.Errorf("%s changed %s (-before +after):\n%s", step.name, objs[i].GetName(), diff)
			}
		}
	}
}

// TestAppliedObjectsKeepTheirManagersNotTheirFields: the object the server
// answers an apply with is kept as a listed one is, with who manages it and
// how but without the field sets, which nothing reads and which are a large
// part of an object in memory.
func TestAppliedObjectsKeepTheirManagersNotTheirFields(t *testing.T) {
	a, _, _ := newApplier(t)
	objs := objects(t, app)
	for _, step := range []string{"create", "configure"} {
		if step == "configure" {
			for _, o := range objs {
				o.SetLabels(map[string]string{"step": step})
			}
		}
		cs, err := a.Apply(t.Context(), objs)
		if err != nil || cs.Err() != nil {
			t.Fatalf("%s: %v %v", step, err, cs.Err())
		}
		for _, c := range cs.Changes {
			if c.Live == nil {
				t.Fatalf("%s: %s has no live object", step, c.ID)
			}
			managers := c.Live.GetManagedFields()
			if len(managers) == 0 || managers[0].Manager == "" || managers[0].Operation == "" {
				t.Errorf("%s: %s lost its managers: %+v", step, c.ID, managers)
			}
			for _, m := range managers {
				if m.FieldsV1 != nil {
					t.Errorf("%s: %s keeps the field set of %s", step, c.ID, m.Manager)
				}
			}
		}
	}
}

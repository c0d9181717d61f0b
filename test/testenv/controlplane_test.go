package testenv_test

import (
	"context"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/yaml"

	"github.com/gitsync-io/gitsync/test/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m, testenv.Options{Workloads: true}) }

func clients(t *testing.T) (*kubernetes.Clientset, *dynamic.DynamicClient) {
	t.Helper()
	cfg := testenv.Config(t)
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	dc, err := dynamic.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return cs, dc
}

// apply server-side applies a YAML object as manager.
func apply(ctx context.Context, t *testing.T, dc dynamic.Interface, gvr schema.GroupVersionResource, ns, manifest, manager string, force bool) (*unstructured.Unstructured, error) {
	t.Helper()
	var obj unstructured.Unstructured
	if err := yaml.Unmarshal([]byte(manifest), &obj.Object); err != nil {
		t.Fatalf("bad test manifest: %v", err)
	}
	data, err := obj.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	var ri dynamic.ResourceInterface = dc.Resource(gvr)
	if ns != "" {
		ri = dc.Resource(gvr).Namespace(ns)
	}
	return ri.Patch(ctx, obj.GetName(), types.ApplyPatchType, data, metav1.PatchOptions{FieldManager: manager, Force: &force})
}

var deploymentsGVR = schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}

const nginx = `
apiVersion: apps/v1
kind: Deployment
metadata:
  name: nginx
spec:
  replicas: 2
  selector:
    matchLabels: {app: nginx}
  template:
    metadata:
      labels: {app: nginx}
    spec:
      containers:
      - name: nginx
        image: nginx:1.27
`

func TestServerSideAppliedDeploymentBecomesAvailable(t *testing.T) {
	ctx := t.Context()
	ns := testenv.Namespace(t)
	cs, dc := clients(t)
	if _, err := apply(ctx, t, dc, deploymentsGVR, ns, nginx, "testenv", false); err != nil {
		t.Fatalf("apply: %v", err)
	}
	waitAvailable(t, cs, ns, "nginx", 2)
}

// waitAvailable waits until the Deployment is Available with ready pods.
func waitAvailable(t *testing.T, cs kubernetes.Interface, ns, name string, ready int32) {
	t.Helper()
	var last *appsv1.Deployment
	err := wait.PollUntilContextTimeout(t.Context(), 50*time.Millisecond, 60*time.Second, true, func(ctx context.Context) (bool, error) {
		d, err := cs.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		last = d
		for _, c := range d.Status.Conditions {
			if c.Type == appsv1.DeploymentAvailable && c.Status == corev1.ConditionTrue {
				return d.Status.ReadyReplicas == ready, nil
			}
		}
		return false, nil
	})
	if err != nil {
		t.Fatalf("Deployment %s/%s did not become Available with %d ready replicas: %v; status: %+v", ns, name, ready, err, last.Status)
	}
}

func TestCRDBecomesEstablishedAndItsResourceApplies(t *testing.T) {
	ctx := t.Context()
	ns := testenv.Namespace(t)
	_, dc := clients(t)
	crdGVR := schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
	const crd = `
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.testenv.gitsync.io
spec:
  group: testenv.gitsync.io
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
          spec:
            type: object
            properties:
              size: {type: integer}
`
	if _, err := apply(ctx, t, dc, crdGVR, "", crd, "testenv", false); err != nil {
		t.Fatalf("apply CRD: %v", err)
	}
	err := wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		got, err := dc.Resource(crdGVR).Get(ctx, "widgets.testenv.gitsync.io", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		conds, _, _ := unstructured.NestedSlice(got.Object, "status", "conditions")
		for _, c := range conds {
			m, _ := c.(map[string]any)
			if m["type"] == "Established" && m["status"] == "True" {
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		t.Fatalf("CRD not Established: %v", err)
	}
	widgets := schema.GroupVersionResource{Group: "testenv.gitsync.io", Version: "v1", Resource: "widgets"}
	// Discovery of a new group can lag Established by a moment.
	var got *unstructured.Unstructured
	err = wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 10*time.Second, true, func(ctx context.Context) (bool, error) {
		got, err = apply(ctx, t, dc, widgets, ns, "{apiVersion: testenv.gitsync.io/v1, kind: Widget, metadata: {name: w}, spec: {size: 3}}", "testenv", false)
		return err == nil, nil
	})
	if err != nil {
		t.Fatalf("apply Widget: %v", err)
	}
	if size, _, _ := unstructured.NestedInt64(got.Object, "spec", "size"); size != 3 {
		t.Errorf("Widget spec.size = %d, want 3", size)
	}
}

func TestConflictingApplyByAnotherManagerIsReported(t *testing.T) {
	ctx := t.Context()
	ns := testenv.Namespace(t)
	_, dc := clients(t)
	cms := schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}
	if _, err := apply(ctx, t, dc, cms, ns, "{apiVersion: v1, kind: ConfigMap, metadata: {name: c}, data: {a: one}}", "first", false); err != nil {
		t.Fatal(err)
	}
	_, err := apply(ctx, t, dc, cms, ns, "{apiVersion: v1, kind: ConfigMap, metadata: {name: c}, data: {a: two}}", "second", false)
	if !apierrors.IsConflict(err) {
		t.Fatalf("second manager's apply: got %v, want a 409 conflict", err)
	}
	if !strings.Contains(err.Error(), `conflict with "first"`) || !strings.Contains(err.Error(), ".data.a") {
		t.Errorf("conflict does not name the manager and field: %v", err)
	}
	// With force the second manager takes the field.
	got, err := apply(ctx, t, dc, cms, ns, "{apiVersion: v1, kind: ConfigMap, metadata: {name: c}, data: {a: two}}", "second", true)
	if err != nil {
		t.Fatalf("forced apply: %v", err)
	}
	if v, _, _ := unstructured.NestedString(got.Object, "data", "a"); v != "two" {
		t.Errorf("data.a = %q after forced apply, want two", v)
	}
}

func TestDeletingANamespaceRemovesItsObjects(t *testing.T) {
	ctx := t.Context()
	ns := testenv.Namespace(t)
	cs, dc := clients(t)
	if _, err := apply(ctx, t, dc, deploymentsGVR, ns, nginx, "testenv", false); err != nil {
		t.Fatal(err)
	}
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "c"}}
	if _, err := cs.CoreV1().ConfigMaps(ns).Create(ctx, cm, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitAvailable(t, cs, ns, "nginx", 2) // so there are pods and a ReplicaSet to remove too

	if err := cs.CoreV1().Namespaces().Delete(ctx, ns, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 90*time.Second, true, func(ctx context.Context) (bool, error) {
		_, err := cs.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	})
	if err != nil {
		t.Fatalf("namespace %s still exists: %v", ns, err)
	}
	if _, err := cs.CoreV1().ConfigMaps(ns).Get(ctx, "c", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("ConfigMap c survived the namespace deletion: %v", err)
	}
	if _, err := cs.AppsV1().Deployments(ns).Get(ctx, "nginx", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("Deployment nginx survived the namespace deletion: %v", err)
	}
	if rs, err := cs.AppsV1().ReplicaSets(ns).List(ctx, metav1.ListOptions{}); err != nil || len(rs.Items) > 0 {
		t.Errorf("ReplicaSets survived the namespace deletion: %v %v", rs, err)
	}
	if pods, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{}); err != nil || len(pods.Items) > 0 {
		t.Errorf("Pods survived the namespace deletion: %v %v", pods, err)
	}
}

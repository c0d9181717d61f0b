package health_test

import (
	"context"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/dynamic"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/yaml"

	"github.com/gitsync-io/gitsync/test/testenv"
)

// probeCRD stands in for an operator's status kind (Calico's TigeraStatus):
// cluster-scoped, with a status subresource holding conditions.
const probeCRD = `{apiVersion: apiextensions.k8s.io/v1, kind: CustomResourceDefinition,
 metadata: {name: probes.health.gitsync.io},
 spec: {group: health.gitsync.io, scope: Cluster, names: {kind: Probe, plural: probes},
  versions: [{name: v1, served: true, storage: true, subresources: {status: {}},
   schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}}]}}`

var probes = schema.GroupVersionResource{Group: "health.gitsync.io", Version: "v1", Resource: "probes"}

func TestWaitFor(t *testing.T) {
	c, dc := newChecker(t)
	installProbeCRD(t, dc)

	t.Run("waits for a named object to appear", func(t *testing.T) {
		ns := testenv.Namespace(t)
		objs := applyAll(t, dc, ns, `{apiVersion: v1, kind: ConfigMap, metadata: {name: trigger, labels: {health-test: "yes"},
			annotations: {gitsync.io/wait-for: "ConfigMap/later"}}}`)
		applied := make(chan struct{})
		go func() {
			defer close(applied)
			time.Sleep(500 * time.Millisecond)
			applyAll(t, dc, ns, `{apiVersion: v1, kind: ConfigMap, metadata: {name: later}}`)
		}()
		got, err := c.Wait(t.Context(), objs, 30*time.Second)
		<-applied // the wait may see the object before the apply's response arrives
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 2 || got[1].Ref != "ConfigMap "+ns+"/later" || got[1].Status != status.CurrentStatus {
			t.Errorf("statuses %+v: want the trigger and ConfigMap later, Current", got)
		}
	})

	t.Run("an object that never appears is named in the error", func(t *testing.T) {
		ns := testenv.Namespace(t)
		objs := applyAll(t, dc, ns, `{apiVersion: v1, kind: ConfigMap, metadata: {name: trigger, labels: {health-test: "yes"},
			annotations: {gitsync.io/wait-for: "ConfigMap/`+ns+`/never"}}}`)
		_, err := c.Wait(t.Context(), objs, 2*time.Second)
		if err == nil || !strings.Contains(err.Error(), "ConfigMap "+ns+"/never") {
			t.Errorf("err = %v, want one naming ConfigMap %s/never", err, ns)
		}
	})

	t.Run("waits until the Available condition is True", func(t *testing.T) {
		ns := testenv.Namespace(t)
		probe := createProbe(t, dc, ns, "False")
		objs := applyAll(t, dc, ns, `{apiVersion: v1, kind: ConfigMap, metadata: {name: trigger, labels: {health-test: "yes"},
			annotations: {gitsync.io/wait-for: "Probe.health.gitsync.io/`+probe+`"}}}`)
		if _, err := c.Wait(t.Context(), objs, 2*time.Second); err == nil || !strings.Contains(err.Error(), "Available is False") {
			t.Fatalf("err = %v, want the probe named as not Available", err)
		}
		updated := make(chan struct{})
		go func() {
			defer close(updated)
			time.Sleep(500 * time.Millisecond)
			setAvailable(t, dc, probe, "True")
		}()
		_, err := c.Wait(t.Context(), objs, 30*time.Second)
		<-updated // the wait may see the update before its response arrives
		if err != nil {
			t.Fatal(err)
		}
	})

	t.Run("an annotation it cannot read names the object and the entry", func(t *testing.T) {
		ns := testenv.Namespace(t)
		for entry, want := range map[string]string{
			"ConfigMap":                    "want Kind[.group]/[namespace/]name",
			"Gizmo.nowhere.example/x":      "does not know the kind",
			"Probe.health.gitsync.io/ns/x": "cluster-scoped",
		} {
			objs := applyAll(t, dc, ns, `{apiVersion: v1, kind: ConfigMap, metadata: {name: trigger, labels: {health-test: "yes"},
				annotations: {gitsync.io/wait-for: "`+entry+`"}}}`)
			_, err := c.Wait(t.Context(), objs, time.Second)
			if err == nil || !strings.Contains(err.Error(), "v1 ConfigMap "+ns+"/trigger") || !strings.Contains(err.Error(), want) {
				t.Errorf("%s: err = %v, want it to name the ConfigMap and say %q", entry, err, want)
			}
		}
	})
}

func installProbeCRD(t *testing.T, dc dynamic.Interface) {
	t.Helper()
	crds := schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
	if _, err := dc.Resource(crds).Patch(t.Context(), "probes.health.gitsync.io", types.ApplyPatchType, yamlToJSON(t, probeCRD),
		metav1.PatchOptions{FieldManager: "test"}); err != nil {
		t.Fatal(err)
	}
	err := wait.PollUntilContextTimeout(t.Context(), 100*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		_, err := dc.Resource(probes).List(ctx, metav1.ListOptions{})
		return err == nil, nil
	})
	if err != nil {
		t.Fatal("the Probe CRD never became usable")
	}
}

// createProbe creates a Probe, named after the test's namespace, whose
// Available condition is available.
func createProbe(t *testing.T, dc dynamic.Interface, ns, available string) string {
	t.Helper()
	u := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "health.gitsync.io/v1", "kind": "Probe", "metadata": map[string]any{"name": ns}}}
	if _, err := dc.Resource(probes).Create(t.Context(), u, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	setAvailable(t, dc, ns, available)
	return ns
}

func setAvailable(t *testing.T, dc dynamic.Interface, name, available string) {
	patch := `{"status": {"conditions": [{"type": "Available", "status": "` + available + `", "message": "calico-node is rolling out", "reason": "Test", "lastTransitionTime": "2026-01-01T00:00:00Z"}]}}`
	if _, err := dc.Resource(probes).Patch(t.Context(), name, types.MergePatchType, []byte(patch), metav1.PatchOptions{}, "status"); err != nil {
		t.Error(err)
	}
}

func yamlToJSON(t *testing.T, doc string) []byte {
	t.Helper()
	j, err := yaml.YAMLToJSON([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	return j
}

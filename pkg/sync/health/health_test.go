package health_test

import (
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/restmapper"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/yaml"

	"github.com/gitsync-io/gitsync/pkg/sync/health"
	"github.com/gitsync-io/gitsync/test/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m, testenv.Options{Workloads: true}) }

const selector = "health-test=yes"

func deployment(name, annotations string) string {
	return `
apiVersion: apps/v1
kind: Deployment
metadata: {name: ` + name + `, labels: {health-test: "yes"}}
spec:
  replicas: 2
  progressDeadlineSeconds: 2
  selector: {matchLabels: {app: ` + name + `}}
  template:
    metadata: {labels: {app: ` + name + `}, annotations: {` + annotations + `}}
    spec: {containers: [{name: c, image: nginx}]}
`
}

// applyAll server-side applies docs and returns the objects as the server
// answered, the way the applier hands them to health.
func applyAll(t *testing.T, dc dynamic.Interface, ns string, docs ...string) []*unstructured.Unstructured {
	t.Helper()
	var out []*unstructured.Unstructured
	for _, doc := range docs {
		u := &unstructured.Unstructured{}
		if err := yaml.Unmarshal([]byte(doc), &u.Object); err != nil {
			t.Fatal(err)
		}
		gvr := schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}
		if u.GetKind() == "Deployment" {
			gvr = schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}
		}
		data, _ := u.MarshalJSON()
		live, err := dc.Resource(gvr).Namespace(ns).Patch(t.Context(), u.GetName(), types.ApplyPatchType, data, metav1.PatchOptions{FieldManager: "test"})
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, live)
	}
	return out
}

func newChecker(t *testing.T) (*health.Checker, dynamic.Interface) {
	c, dc, _ := newCountingChecker(t)
	return c, dc
}

// newCountingChecker also returns the number of requests the checker made.
func newCountingChecker(t *testing.T) (*health.Checker, dynamic.Interface, *atomic.Int64) {
	t.Helper()
	admin, err := dynamic.NewForConfig(testenv.Config(t))
	if err != nil {
		t.Fatal(err)
	}
	var requests atomic.Int64
	cfg := testenv.Config(t)
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper {
		return roundTripper(func(r *http.Request) (*http.Response, error) {
			requests.Add(1)
			return rt.RoundTrip(r)
		})
	})
	dc, err := dynamic.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	disc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	mapper := restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(disc))
	return health.New(dc, mapper, labels.SelectorFromSet(labels.Set{"health-test": "yes"})), admin, &requests
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestWait(t *testing.T) {
	t.Run("returns once a new Deployment becomes available", func(t *testing.T) {
		c, dc := newChecker(t)
		ns := testenv.Namespace(t)
		objs := applyAll(t, dc, ns, deployment("web", ""), `{apiVersion: v1, kind: ConfigMap, metadata: {name: c, labels: {health-test: "yes"}}}`)
		got, err := c.Wait(t.Context(), objs, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range got {
			if s.Status != status.CurrentStatus {
				t.Errorf("%s: %s, want Current", s.Ref, s.Status)
			}
		}
	})

	t.Run("names each object that does not become ready, with kstatus's message", func(t *testing.T) {
		c, dc := newChecker(t)
		ns := testenv.Namespace(t)
		objs := applyAll(t, dc, ns, deployment("stuck", testenv.HoldAnnotation+`: "true"`), deployment("fine", ""))
		_, err := c.Wait(t.Context(), objs, 20*time.Second)
		if err == nil {
			t.Fatal("Wait succeeded although the pods of Deployment stuck never become ready")
		}
		msg := err.Error()
		if !strings.Contains(msg, "apps/v1 Deployment "+ns+"/stuck") || strings.Contains(msg, ns+"/fine") {
			t.Errorf("error should name only the stuck Deployment: %v", err)
		}
		if !strings.Contains(msg, "Failed") && !strings.Contains(msg, "InProgress") {
			t.Errorf("error should carry kstatus's verdict: %v", err)
		}
	})

	t.Run("does not watch objects that are already current", func(t *testing.T) {
		c, dc, requests := newCountingChecker(t)
		ns := testenv.Namespace(t)
		objs := applyAll(t, dc, ns, `{apiVersion: v1, kind: ConfigMap, metadata: {name: a, labels: {health-test: "yes"}}}`)
		if _, err := c.Wait(t.Context(), objs, time.Minute); err != nil {
			t.Fatal(err)
		}
		if n := requests.Load(); n != 0 {
			t.Errorf("Wait made %d requests for an object that was already Current, want 0", n)
		}
	})
}

package sync

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"testing"
	"time"

	"github.com/gitsync-io/gitsync/pkg/sync/chart"
	"github.com/gitsync-io/gitsync/test/charts"
	"github.com/gitsync-io/gitsync/test/testenv"
)

// TestChartPostRendered syncs a chart of a registry as the first resource of
// a kustomization that patches it.
func TestChartPostRendered(t *testing.T) {
	f := newFixture(t)
	registry := charts.StartRegistry(t)
	registry.Push(t, "charts", charts.Dir(t, charts.Big), "1.0.0")
	f.repo.Commit(t, "post-render", map[string]string{
		"app/kustomization.yaml": "resources: []\npatches:\n- patch: |-\n    apiVersion: v1\n    kind: ConfigMap\n    metadata: {name: big-0, namespace: " + f.home + "}\n    data: {patched: \"yes\"}\n",
	})
	o := f.options("app", "app")
	o.TargetNamespace, o.Timeout = f.home, 30*time.Second
	o.Helm = &chart.Spec{Repo: registry.URL + "/charts", Name: "big", PlainHTTP: true, Set: []string{"count=3"}}
	s, err := New(testenv.Config(t), o)
	if err != nil {
		t.Fatal(err)
	}
	r, err := s.Once(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if r.Objects != 3 || r.Chart != "big 1.0.0" {
		t.Errorf("result: %d objects, chart %q; want 3 of big 1.0.0", r.Objects, r.Chart)
	}
	cm, err := f.admin.CoreV1().ConfigMaps(f.home).Get(t.Context(), "big-0", metav1.GetOptions{})
	if err != nil || cm.Data["patched"] != "yes" {
		t.Errorf("ConfigMap big-0: %v, %v; want it patched", cm, err)
	}
}

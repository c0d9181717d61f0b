package sync

import (
	"strings"

	"github.com/google/go-cmp/cmp"
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
	_, diffs, err := s.Diff(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range diffs {
		t.Errorf("diff after the sync: %s %s\n%s", d.Action, d.Ref, d.Diff)
	}
}

// hookedChart is a chart of the repository with hooks of every kind gitsync
// runs, and a test hook it does not.
func hookedChart(data, preName string) map[string]string {
	hook := func(name, events, weight string) string {
		return "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: " + name + "\n  annotations:\n    helm.sh/hook: " + events +
			"\n    helm.sh/hook-weight: \"" + weight + "\"\n"
	}
	return map[string]string{
		"chart/Chart.yaml":          "apiVersion: v2\nname: hooked\nversion: 0.1.0\n",
		"chart/templates/cm.yaml":   "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: main\ndata:\n  value: " + data + "\n",
		"chart/templates/pre.yaml":  hook(preName, "pre-install,pre-upgrade", "1"),
		"chart/templates/pre0.yaml": hook("pre0", "pre-install", "-1"),
		"chart/templates/post.yaml": hook("post", "post-install,post-upgrade", "0"),
		"chart/templates/test.yaml": hook("test", "test", "0"),
	}
}

// TestChartHooks: the hooks run around the apply in weight order on an
// install and an upgrade, not on a sync with nothing new, and a failing
// pre-upgrade hook stops the sync before anything else is applied.
func TestChartHooks(t *testing.T) {
	f := newFixture(t)
	f.repo.Commit(t, "v1", hookedChart("one", "pre"))
	o := f.options("app", "")
	o.TargetNamespace = f.home
	o.Helm = &chart.Spec{Path: "chart"}
	s, err := New(testenv.Config(t), o)
	if err != nil {
		t.Fatal(err)
	}
	once := func(want ...string) {
		t.Helper()
		r, err := s.Once(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(want, r.Hooks); diff != "" {
			t.Errorf("hooks run (-want +got):\n%s", diff)
		}
	}
	once("pre-install ConfigMap pre0", "pre-install ConfigMap pre", "post-install ConfigMap post")
	if f.exists(t, f.home, "test") {
		t.Error("the test hook was applied")
	}
	once() // nothing new
	f.repo.Commit(t, "v2", hookedChart("two", "pre"))
	once("pre-upgrade ConfigMap pre", "post-upgrade ConfigMap post")

	f.repo.Commit(t, "v3", hookedChart("three", "Bad_Name"))
	_, err = s.Once(t.Context())
	if phaseOf(err) != PhaseHooks || !strings.Contains(err.Error(), "Bad_Name") {
		t.Fatalf("a pre-upgrade hook the API server refuses: %v; want the hooks phase to fail naming it", err)
	}
	if cm, err := f.admin.CoreV1().ConfigMaps(f.home).Get(t.Context(), "main", metav1.GetOptions{}); err != nil || cm.Data["value"] != "two" {
		t.Errorf("ConfigMap main after the failed hook: %v, %v; want it left at two", cm.Data, err)
	}
}

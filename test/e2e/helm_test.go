package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/gitsync-io/gitsync/test/charts"
)

// TestHelmChartFromARegistry runs gitsync run --config with a sync of a
// chart in an OCI registry by semver range, its values file in git and a
// kustomization patching its output: a new chart version pushed is picked
// up without a commit, a version outside the range is not, objects that
// leave the chart are pruned, and a value the chart's schema refuses fails
// the sync with one line and keeps the cluster as it was.
func TestHelmChartFromARegistry(t *testing.T) {
	f := newFixture(t)
	crds := schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
	t.Cleanup(func() { // the chart's CRD is cluster-scoped: the next run of this test applies it again
		_ = f.admin.Resource(crds).Delete(context.Background(), "widgets.charts.gitsync.io", metav1.DeleteOptions{})
	})
	registry := charts.StartRegistry(t)
	registry.Push(t, "charts", charts.Dir(t, charts.App), "1.0.0")
	f.repo.Commit(t, "the app, from its chart", map[string]string{
		"values/app.yaml": "message: from git\n",
		"app/kustomization.yaml": `resources: []
patches:
- patch: |-
    apiVersion: v1
    kind: ConfigMap
    metadata: {name: web-config, namespace: ` + f.ns + `}
    data: {patched: "yes"}
`,
	})
	config := f.writeConfig("300ms", `- name: app
  source: repo
  path: app
  namespace: `+f.ns+`
  timeout: 60s
  helm:
    chart: {repo: `+registry.URL+`/charts, name: app, version: ">=1.0.0 <2", plainHTTP: true}
    releaseName: web
    values: [values/app.yaml]`)
	p, _ := f.runConfig(config)

	p.eventually("the chart applied and healthy", 60*time.Second, func() bool { return f.statusOf("app")["ready"] == true })
	cm := f.get(configMaps, "web-config")
	if data, _ := cm.Object["data"].(map[string]any); data["message"] != "from git" || data["patched"] != "yes" {
		t.Errorf("ConfigMap web-config data %v: want the values file's message and the kustomization's patch", data)
	}
	if st := f.statusOf("app"); st["chart"] != "app 1.0.0" {
		t.Errorf("status chart %v, want app 1.0.0", st["chart"])
	}
	if f.get(configMaps, "web-lib") == nil {
		t.Error("the subchart's ConfigMap web-lib is missing")
	}
	// The hooks ran: the pre-install Job, deleted once it succeeded
	// (hook-succeeded), and the post-install ConfigMap, which stays; the
	// test hook never runs.
	jobs := schema.GroupVersionResource{Group: "batch", Version: "v1", Resource: "jobs"}
	pods := schema.GroupVersionResource{Version: "v1", Resource: "pods"}
	post := f.get(configMaps, "web-post-install")
	if post == nil || f.get(jobs, "web-pre-install") != nil || f.get(pods, "web-test") != nil {
		t.Fatalf("after the install: post-install hook %v, pre-install Job left %v, test Pod %v; want the ConfigMap only",
			post != nil, f.get(jobs, "web-pre-install") != nil, f.get(pods, "web-test") != nil)
	}
	time.Sleep(time.Second) // three intervals with nothing new: the hooks do not run again
	if again := f.get(configMaps, "web-post-install"); again == nil || again.GetUID() != post.GetUID() {
		t.Errorf("the post-install hook was replaced with no new render")
	}

	registry.Push(t, "charts", charts.Dir(t, charts.App), "2.0.0") // outside the range
	registry.Push(t, "charts", charts.Dir(t, charts.App), "1.1.0")
	p.eventually("the new chart version in the range", 30*time.Second, func() bool { return f.statusOf("app")["chart"] == "app 1.1.0" })
	if upgraded := f.get(configMaps, "web-post-install"); upgraded == nil || upgraded.GetUID() == post.GetUID() {
		t.Errorf("the post-upgrade hook did not run again for the new version (before-hook-creation replaces it)")
	}

	f.repo.Commit(t, "no lib", map[string]string{"values/app.yaml": "message: from git\nlib:\n  enabled: false\n"})
	p.eventually("the subchart's ConfigMap pruned", 30*time.Second, func() bool { return f.get(configMaps, "web-lib") == nil })

	bad := f.repo.Commit(t, "no replicas", map[string]string{"values/app.yaml": "message: from git\nlib:\n  enabled: false\nreplicas: 0\n"})
	p.eventually("the bad value refused", 30*time.Second, func() bool { return f.statusOf("app")["lastAttemptedRevision"] == bad })
	st := f.statusOf("app")
	want := "chart app 1.1.0: values don't meet the specifications of the schema(s) in the following chart(s): app: - at '/replicas': minimum: got 0, want 1"
	if errText, _ := st["error"].(string); !strings.Contains(errText, want) || strings.Contains(errText, "\n") {
		t.Errorf("status error %q, want one line saying %s", errText, want)
	}
	if f.get(configMaps, "web-config") == nil {
		t.Error("ConfigMap web-config is gone after a refused render")
	}
	if err := p.stop(); err != nil {
		t.Errorf("gitsync run exited with %v; logs:\n%s", err, p.logs.String())
	}
}

package render

import (
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

const lintRepo = "testdata/lint"

// The fixes every finding of one kind shares.
const (
	fixOwnSelector    = "make spec.selector select spec.template.metadata.labels (the selector cannot change once the object exists: if it does, change the template's labels instead)"
	fixBudgetSelector = "change spec.selector to labels the pods it protects carry"
	fixRequests       = "set resources.requests.cpu and resources.requests.memory"
	fixProbe          = "add a readinessProbe (and a livenessProbe for hangs), such as an httpGet or tcpSocket on its port"
	noProbe           = " has no readinessProbe or livenessProbe: it counts as ready as soon as it starts, and a hung process is never restarted"
	noRequests        = " has no resource requests: the scheduler counts it as needing nothing, and it is evicted first"
	unpinnedImage     = ", so each node runs whatever it pulls at the time"
)

func TestLint(t *testing.T) {
	cases := []struct {
		name  string
		paths []string // rendered one by one, their objects linted together
		want  []Finding
	}{
		{
			name:  "finds nothing wrong with a render that does everything right",
			paths: []string{"clean"},
		},
		{
			name:  "reports the Service whose selector is name: nginx while the pods are labelled app: nginx, before the warnings",
			paths: []string{"service-selector"},
			want: []Finding{
				{Severity: SeverityError, Object: "v1 Service nginx-http", Field: "spec.selector",
					Message: "selector {name: nginx} matches no pod template in the render (pods here are labelled {app: nginx})",
					Fix:     "change spec.selector to labels the pods carry, or add {name: nginx} to their pod template's labels"},
				{Severity: SeverityWarning, Object: "apps/v1 Deployment nginx", Field: "spec.template.spec.containers[0].readinessProbe",
					Message: "container nginx" + noProbe, Fix: fixProbe},
			},
		},
		{
			name:  "reports a Service whose pods are in another namespace",
			paths: []string{"service-namespace"},
			want: []Finding{
				{Severity: SeverityError, Object: "v1 Service web/nginx", Field: "spec.selector",
					Message: "selector {app: nginx} matches no pod template in the render (it has none in namespace web)",
					Fix:     "change spec.selector to labels the pods carry, or add {app: nginx} to their pod template's labels"},
			},
		},
		{
			name:  "reports workloads whose matchLabels or matchExpressions miss their own template, and Jobs only with a manual selector",
			paths: []string{"workload-selector"},
			want: []Finding{
				{Severity: SeverityError, Object: "apps/v1 Deployment dev/web", Field: "spec.selector",
					Message: "selector {app: web} does not match the pod template's labels {app: nginx}: the API server refuses the object",
					Fix:     fixOwnSelector},
				{Severity: SeverityError, Object: "apps/v1 StatefulSet dev/db", Field: "spec.selector",
					Message: "selector {app: db, role NotIn (primary, replica)} does not match the pod template's labels {app: db, role: primary}: the API server refuses the object",
					Fix:     fixOwnSelector},
				{Severity: SeverityError, Object: "batch/v1 Job dev/migrate", Field: "spec.selector",
					Message: "selector {job: migrate} does not match the pod template's labels {job: migrate-db}: the API server refuses the object",
					Fix:     fixOwnSelector},
			},
		},
		{
			name:  "reports PodDisruptionBudgets that protect no pod template of their namespace",
			paths: []string{"disruption-budget"},
			want: []Finding{
				{Severity: SeverityError, Object: "policy/v1 PodDisruptionBudget prod/canary", Field: "spec.selector",
					Message: "selector {app: nginx, track In (canary)} matches no pod template in the render (pods in namespace prod are labelled {app: nginx, track: stable})",
					Fix:     fixBudgetSelector},
				{Severity: SeverityError, Object: "policy/v1 PodDisruptionBudget prod/web", Field: "spec.selector",
					Message: "selector {app: web} matches no pod template in the render (pods in namespace prod are labelled {app: nginx, track: stable})",
					Fix:     fixBudgetSelector},
			},
		},
		{
			name:  "reports HorizontalPodAutoscalers whose target has another name or kind, and names what they could scale",
			paths: []string{"autoscaler"},
			want: []Finding{
				{Severity: SeverityError, Object: "autoscaling/v2 HorizontalPodAutoscaler web/nginx-sts", Field: "spec.scaleTargetRef",
					Message: "scaleTargetRef {apps/v1 StatefulSet nginx} names no object of the render in namespace web",
					Fix:     "point spec.scaleTargetRef at the object to scale: {apps/v1 Deployment nginx}"},
				{Severity: SeverityError, Object: "autoscaling/v2 HorizontalPodAutoscaler web/nginx-web", Field: "spec.scaleTargetRef",
					Message: "scaleTargetRef {apps/v1 Deployment nginx-web} names no object of the render in namespace web",
					Fix:     "point spec.scaleTargetRef at the object to scale: {apps/v1 Deployment nginx}"},
			},
		},
		{
			name:  "reports an object that two renders both define, once",
			paths: []string{"duplicate/a", "duplicate/b"},
			want: []Finding{
				{Severity: SeverityError, Object: "v1 ConfigMap settings", Field: "metadata.name",
					Message: "defined 2 times in the render: only one definition can be applied",
					Fix:     "keep one definition, or give the others another name"},
			},
		},
		{
			name:  "warns about images without a tag, behind a registry port, or tagged latest, in containers and init containers",
			paths: []string{"images"},
			want: []Finding{
				{Severity: SeverityWarning, Object: "apps/v1 Deployment web", Field: "spec.template.spec.containers[0].image",
					Message: "container nginx: image nginx has no tag or digest" + unpinnedImage,
					Fix:     "pin a version tag or a digest: nginx:<version> or nginx@sha256:<digest>"},
				{Severity: SeverityWarning, Object: "apps/v1 Deployment web", Field: "spec.template.spec.containers[1].image",
					Message: "container local: image localhost:5000/nginx has no tag or digest" + unpinnedImage,
					Fix:     "pin a version tag or a digest: localhost:5000/nginx:<version> or localhost:5000/nginx@sha256:<digest>"},
				{Severity: SeverityWarning, Object: "apps/v1 Deployment web", Field: "spec.template.spec.containers[2].image",
					Message: "container sidecar: image docker.io/library/busybox:latest uses the tag latest" + unpinnedImage,
					Fix:     "pin a version tag or a digest: docker.io/library/busybox:<version> or docker.io/library/busybox@sha256:<digest>"},
				{Severity: SeverityWarning, Object: "apps/v1 Deployment web", Field: "spec.template.spec.initContainers[0].image",
					Message: "init container init: image alpine has no tag or digest" + unpinnedImage,
					Fix:     "pin a version tag or a digest: alpine:<version> or alpine@sha256:<digest>"},
			},
		},
		{
			name:  "warns about containers and init containers with neither requests nor limits",
			paths: []string{"resources"},
			want: []Finding{
				{Severity: SeverityWarning, Object: "apps/v1 Deployment web", Field: "spec.template.spec.containers[0].resources.requests",
					Message: "container nginx" + noRequests, Fix: fixRequests},
				{Severity: SeverityWarning, Object: "apps/v1 Deployment web", Field: "spec.template.spec.initContainers[0].resources.requests",
					Message: "init container init" + noRequests, Fix: fixRequests},
			},
		},
		{
			name:  "warns about long-running containers without probes, not about init containers, Jobs, CronJobs or Pods that finish",
			paths: []string{"probes"},
			want: []Finding{
				{Severity: SeverityWarning, Object: "apps/v1 DaemonSet agent", Field: "spec.template.spec.containers[0].readinessProbe",
					Message: "container agent" + noProbe, Fix: fixProbe},
				{Severity: SeverityWarning, Object: "v1 Pod debug", Field: "spec.containers[0].readinessProbe",
					Message: "container shell" + noProbe, Fix: fixProbe},
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := Lint(renderLint(t, tc.paths...))
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("findings (-want +got):\n%s", diff)
			}
			if want := slices.ContainsFunc(tc.want, func(f Finding) bool { return f.Severity == SeverityError }); HasErrors(got) != want {
				t.Errorf("HasErrors = %v, want %v", HasErrors(got), want)
			}
		})
	}
}

func TestLintReportsSelectorsItCannotRead(t *testing.T) {
	obj := func(apiVersion, kind string, spec map[string]any) *unstructured.Unstructured {
		return &unstructured.Unstructured{Object: map[string]any{"apiVersion": apiVersion, "kind": kind,
			"metadata": map[string]any{"name": "x"}, "spec": spec}}
	}
	template := map[string]any{"metadata": map[string]any{"labels": map[string]any{"app": "x"}}}
	cases := []struct {
		name string
		obj  *unstructured.Unstructured
		want Finding
	}{
		{
			name: "a Deployment without a selector",
			obj:  obj("apps/v1", "Deployment", map[string]any{"template": template}),
			want: Finding{Severity: SeverityError, Object: "apps/v1 Deployment x", Field: "spec.selector",
				Message: "no selector: Deployment requires one", Fix: "set spec.selector.matchLabels to labels of spec.template.metadata.labels, such as {app: x}"},
		},
		{
			name: "a Deployment with an empty selector",
			obj:  obj("apps/v1", "Deployment", map[string]any{"template": template, "selector": map[string]any{}}),
			want: Finding{Severity: SeverityError, Object: "apps/v1 Deployment x", Field: "spec.selector",
				Message: "empty selector: it would select every pod of the namespace, and the API server refuses it",
				Fix:     "set spec.selector.matchLabels to labels of spec.template.metadata.labels, such as {app: x}"},
		},
		{
			name: "a ReplicaSet with an unknown operator",
			obj: obj("apps/v1", "ReplicaSet", map[string]any{"template": template, "selector": map[string]any{
				"matchExpressions": []any{map[string]any{"key": "app", "operator": "Is", "values": []any{"x"}}}}}),
			want: Finding{Severity: SeverityError, Object: "apps/v1 ReplicaSet x", Field: "spec.selector",
				Message: `invalid selector: "Is" is not a valid label selector operator`,
				Fix:     "write spec.selector as matchLabels and matchExpressions that select spec.template.metadata.labels"},
		},
		{
			name: "a PodDisruptionBudget without a selector",
			obj:  obj("policy/v1", "PodDisruptionBudget", map[string]any{"minAvailable": int64(1)}),
			want: Finding{Severity: SeverityError, Object: "policy/v1 PodDisruptionBudget x", Field: "spec.selector",
				Message: "no selector: it protects no pod", Fix: "set spec.selector.matchLabels to the labels of the pods it protects"},
		},
	}
	for _, tc := range cases {
		t.Run("reports "+tc.name, func(t *testing.T) {
			if diff := cmp.Diff([]Finding{tc.want}, Lint([]*unstructured.Unstructured{tc.obj})); diff != "" {
				t.Errorf("findings (-want +got):\n%s", diff)
			}
		})
	}
}

func TestFindingStringIsOneLineNamingObjectFieldProblemAndFix(t *testing.T) {
	got := Lint(renderLint(t, "service-selector"))[0].String()
	want := "v1 Service nginx-http: spec.selector: selector {name: nginx} matches no pod template in the render " +
		"(pods here are labelled {app: nginx}); fix: change spec.selector to labels the pods carry, or add {name: nginx} to their pod template's labels"
	if got != want {
		t.Errorf("String() =\n%s\nwant\n%s", got, want)
	}
}

func TestUnpinned(t *testing.T) {
	cases := []struct{ image, want string }{
		{"nginx", "has no tag or digest"},
		{"nginx:latest", "uses the tag latest"},
		{"localhost:5000/nginx", "has no tag or digest"},
		{"localhost:5000/team/nginx:latest", "uses the tag latest"},
		{"nginx:1.27", ""},
		{"localhost:5000/nginx:1.27", ""},
		{"nginx@sha256:0f2c3e0b4c1f8c6a2b0a5e2f8e4b6d1c3a9f7e5d2b4c6a8e0f1d3b5c7e9a1b2c", ""},
		{"nginx:latest@sha256:0f2c3e0b4c1f8c6a2b0a5e2f8e4b6d1c3a9f7e5d2b4c6a8e0f1d3b5c7e9a1b2c", ""},
	}
	for _, tc := range cases {
		t.Run("judges "+tc.image, func(t *testing.T) {
			if got := unpinned(tc.image); got != tc.want {
				t.Errorf("unpinned(%q) = %q, want %q", tc.image, got, tc.want)
			}
		})
	}
}

// renderLint renders each path of testdata/lint and returns all their objects.
func renderLint(t *testing.T, paths ...string) []*unstructured.Unstructured {
	t.Helper()
	var objs []*unstructured.Unstructured
	for _, p := range paths {
		res, err := New().Render(t.Context(), lintRepo, p)
		if err != nil {
			t.Fatal(err)
		}
		objs = append(objs, res.Objects...)
	}
	return objs
}

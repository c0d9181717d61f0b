package render

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// Severity says whether a finding should stop a change: an error is a render that will not work
// as written, a warning one that works but surprises later.
type Severity string

// The severities of a finding, errors first.
const (
	SeverityError   Severity = "error"
	SeverityWarning Severity = "warning"
)

func (s Severity) String() string { return string(s) }

// Finding is one problem Lint sees in a set of rendered objects.
type Finding struct {
	Severity Severity `json:"severity"`
	// Object names the object the finding is about, as "apps/v1 Deployment dev/nginx".
	Object string `json:"object"`
	// Field is the path of the offending field in the object, as "spec.selector" or
	// "spec.template.spec.containers[0].image".
	Field string `json:"field"`
	// Message says what is wrong, naming the offending values.
	Message string `json:"message"`
	// Fix says what to change in the repository.
	Fix string `json:"fix"`
}

// String is the finding on one line, without its severity: object: field: message; fix: fix.
func (f Finding) String() string {
	return fmt.Sprintf("%s: %s: %s; fix: %s", f.Object, f.Field, f.Message, f.Fix)
}

// Lint checks rendered objects for mistakes the API server accepts, or reports only once the
// objects are applied: Services, PodDisruptionBudgets and workload selectors that select no pods
// of the render, HorizontalPodAutoscalers that scale nothing, objects defined twice (errors); and
// containers with unpinned images, without resource requests or without probes (warnings).
//
// It sees only the objects it is given: a selector is checked against the pod templates among
// them, in the same namespace as rendered, so an object without a namespace matches only others
// without one (they all land in the sync's default namespace). The findings are sorted, errors
// first, then by object, field and message.
func Lint(objs []*unstructured.Unstructured) []Finding {
	templates := podTemplates(objs)
	var out []Finding
	out = append(out, lintDuplicates(objs)...)
	out = append(out, lintWorkloadSelectors(templates)...)
	out = append(out, lintServices(objs, templates)...)
	out = append(out, lintDisruptionBudgets(objs, templates)...)
	out = append(out, lintAutoscalers(objs)...)
	for _, t := range templates {
		out = append(out, lintContainers(t)...)
	}
	slices.SortFunc(out, compareFindings)
	return out
}

// HasErrors reports whether any of the findings is an error.
func HasErrors(findings []Finding) bool {
	return slices.ContainsFunc(findings, func(f Finding) bool { return f.Severity == SeverityError })
}

func compareFindings(a, b Finding) int {
	return cmp.Or(
		cmp.Compare(severityRank(a.Severity), severityRank(b.Severity)),
		cmp.Compare(a.Object, b.Object),
		cmp.Compare(a.Field, b.Field),
		cmp.Compare(a.Message, b.Message),
	)
}

func severityRank(s Severity) int {
	if s == SeverityError {
		return 0
	}
	return 1
}

// lintDuplicates reports each object defined more than once, at its first definition. A single
// Render refuses duplicates; Lint also sees objects gathered from several renders.
func lintDuplicates(objs []*unstructured.Unstructured) []Finding {
	count := map[objectKey]int{}
	for _, o := range objs {
		count[headOf(o).key()]++
	}
	var out []Finding
	for _, o := range objs {
		n := count[headOf(o).key()]
		if n < 2 {
			continue
		}
		delete(count, headOf(o).key())
		out = append(out, Finding{Severity: SeverityError, Object: describe(o), Field: "metadata.name",
			Message: fmt.Sprintf("defined %d times in the render: only one definition can be applied", n),
			Fix:     "keep one definition, or give the others another name"})
	}
	return out
}

// podTemplate is a pod as rendered: the template of a workload, or a bare Pod.
type podTemplate struct {
	owner *unstructured.Unstructured
	// at is the path of the template in owner: spec.template, spec.jobTemplate.spec.template,
	// or nothing for a Pod, whose metadata and spec are the template's.
	at     []string
	labels map[string]string
	// longRunning is false for pods that run to completion: those of Jobs and CronJobs, and
	// bare Pods with restartPolicy Never or OnFailure.
	longRunning bool
}

// podTemplates returns the pod templates of objs, in order.
func podTemplates(objs []*unstructured.Unstructured) []podTemplate {
	var out []podTemplate
	for _, o := range objs {
		at, ok := templatePath(groupKind(o))
		if !ok {
			continue
		}
		labels, _, _ := unstructured.NestedStringMap(o.Object, append(slices.Clone(at), "metadata", "labels")...)
		out = append(out, podTemplate{owner: o, at: at, labels: labels, longRunning: runsForever(o)})
	}
	return out
}

// templatePath is where the pod template of a kind is, and whether the kind has one.
func templatePath(gk schema.GroupKind) ([]string, bool) {
	switch gk {
	case schema.GroupKind{Group: "apps", Kind: "Deployment"}, schema.GroupKind{Group: "apps", Kind: "StatefulSet"},
		schema.GroupKind{Group: "apps", Kind: "DaemonSet"}, schema.GroupKind{Group: "apps", Kind: "ReplicaSet"},
		schema.GroupKind{Group: "batch", Kind: "Job"}:
		return []string{"spec", "template"}, true
	case schema.GroupKind{Group: "batch", Kind: "CronJob"}:
		return []string{"spec", "jobTemplate", "spec", "template"}, true
	case schema.GroupKind{Kind: "Pod"}:
		return nil, true
	}
	return nil, false
}

func runsForever(o *unstructured.Unstructured) bool {
	switch groupKind(o) {
	case schema.GroupKind{Group: "batch", Kind: "Job"}, schema.GroupKind{Group: "batch", Kind: "CronJob"}:
		return false
	case schema.GroupKind{Kind: "Pod"}:
		policy, _, _ := unstructured.NestedString(o.Object, "spec", "restartPolicy")
		return policy != "Never" && policy != "OnFailure"
	}
	return true
}

// field is the dotted path of a field of the template's pod spec, as "spec.template.spec.containers".
func (t podTemplate) field(rest ...string) string {
	return strings.Join(append(append(slices.Clone(t.at), "spec"), rest...), ".")
}

func groupKind(o *unstructured.Unstructured) schema.GroupKind {
	return o.GroupVersionKind().GroupKind()
}

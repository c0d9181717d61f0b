package render

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// immutableSelector is the reason a selector mistake is best fixed on the template side.
const immutableSelector = " (the selector cannot change once the object exists: if it does, change the template's labels instead)"

// lintWorkloadSelectors reports workloads whose selector does not select their own pod template,
// which the API server refuses. Jobs are checked only with spec.manualSelector: otherwise the
// Job controller writes the selector itself.
func lintWorkloadSelectors(templates []podTemplate) []Finding {
	var out []Finding
	for _, t := range templates {
		if !choosesSelector(t.owner) {
			continue
		}
		if f, ok := ownSelector(t); !ok {
			out = append(out, f)
		}
	}
	return out
}

func choosesSelector(o *unstructured.Unstructured) bool {
	switch groupKind(o) {
	case schema.GroupKind{Group: "batch", Kind: "Job"}:
		manual, _, _ := unstructured.NestedBool(o.Object, "spec", "manualSelector")
		return manual
	case schema.GroupKind{Kind: "Pod"}, schema.GroupKind{Group: "batch", Kind: "CronJob"}:
		return false
	}
	return true
}

// ownSelector checks the selector of t's owner against t's labels; ok is false with the finding
// when it does not select them.
func ownSelector(t podTemplate) (f Finding, ok bool) {
	labelsField := strings.Join(t.at, ".") + ".metadata.labels"
	f = Finding{Severity: SeverityError, Object: describe(t.owner), Field: "spec.selector"}
	ls, sel, err := labelSelector(t.owner, "spec", "selector")
	switch {
	case err != nil:
		f.Message, f.Fix = "invalid selector: "+err.Error(), "write spec.selector as matchLabels and matchExpressions that select "+labelsField
	case ls == nil:
		f.Message = "no selector: " + t.owner.GetKind() + " requires one"
		f.Fix = "set spec.selector.matchLabels to labels of " + labelsField + ", such as " + formatLabels(t.labels)
	case len(ls.MatchLabels) == 0 && len(ls.MatchExpressions) == 0:
		f.Message = "empty selector: it would select every pod of the namespace, and the API server refuses it"
		f.Fix = "set spec.selector.matchLabels to labels of " + labelsField + ", such as " + formatLabels(t.labels)
	case !sel.Matches(labels.Set(t.labels)):
		f.Message = fmt.Sprintf("selector %s does not match the pod template's labels %s: the API server refuses the object",
			describeSelector(ls), formatLabels(t.labels))
		f.Fix = "make spec.selector select " + labelsField + immutableSelector
	default:
		return Finding{}, true
	}
	return f, false
}

// lintServices reports Services whose selector matches no pod template of their namespace: the
// classic mistake of a selector such as {name: nginx} for pods labelled {app: nginx}, which
// leaves the Service without endpoints. Services without a selector (endpoints managed by
// hand) and ExternalName Services select nothing and are skipped.
func lintServices(objs []*unstructured.Unstructured, templates []podTemplate) []Finding {
	var out []Finding
	for _, o := range objs {
		if groupKind(o) != (schema.GroupKind{Kind: "Service"}) {
			continue
		}
		typ, _, _ := unstructured.NestedString(o.Object, "spec", "type")
		set, _, err := unstructured.NestedStringMap(o.Object, "spec", "selector")
		if typ == "ExternalName" || err != nil || len(set) == 0 {
			continue
		}
		if selectsAny(labels.SelectorFromValidatedSet(set), templates, o.GetNamespace()) {
			continue
		}
		out = append(out, Finding{Severity: SeverityError, Object: describe(o), Field: "spec.selector",
			Message: fmt.Sprintf("selector %s matches no pod template in the render (%s)", formatLabels(set), podsIn(templates, o.GetNamespace())),
			Fix:     fmt.Sprintf("change spec.selector to labels the pods carry, or add %s to their pod template's labels", formatLabels(set))})
	}
	return out
}

// lintDisruptionBudgets reports PodDisruptionBudgets that protect no pod template of their namespace.
func lintDisruptionBudgets(objs []*unstructured.Unstructured, templates []podTemplate) []Finding {
	var out []Finding
	for _, o := range objs {
		if groupKind(o) != (schema.GroupKind{Group: "policy", Kind: "PodDisruptionBudget"}) {
			continue
		}
		f := Finding{Severity: SeverityError, Object: describe(o), Field: "spec.selector"}
		ls, sel, err := labelSelector(o, "spec", "selector")
		switch {
		case err != nil:
			f.Message, f.Fix = "invalid selector: "+err.Error(), "write spec.selector as matchLabels and matchExpressions"
		case ls == nil:
			f.Message, f.Fix = "no selector: it protects no pod", "set spec.selector.matchLabels to the labels of the pods it protects"
		case selectsAny(sel, templates, o.GetNamespace()):
			continue
		default:
			f.Message = fmt.Sprintf("selector %s matches no pod template in the render (%s)", describeSelector(ls), podsIn(templates, o.GetNamespace()))
			f.Fix = "change spec.selector to labels the pods it protects carry"
		}
		out = append(out, f)
	}
	return out
}

// lintAutoscalers reports HorizontalPodAutoscalers whose scaleTargetRef names no object of the
// render in their namespace.
func lintAutoscalers(objs []*unstructured.Unstructured) []Finding {
	var out []Finding
	for _, o := range objs {
		if groupKind(o) != (schema.GroupKind{Group: "autoscaling", Kind: "HorizontalPodAutoscaler"}) {
			continue
		}
		ref, _, _ := unstructured.NestedStringMap(o.Object, "spec", "scaleTargetRef")
		if scaleTarget(objs, ref, o.GetNamespace()) {
			continue
		}
		target := strings.Join(strings.Fields(ref["apiVersion"]+" "+ref["kind"]+" "+ref["name"]), " ")
		out = append(out, Finding{Severity: SeverityError, Object: describe(o), Field: "spec.scaleTargetRef",
			Message: fmt.Sprintf("scaleTargetRef {%s} names no object of the render %s", target, where(o.GetNamespace())),
			Fix:     scaleTargetFix(objs, o.GetNamespace())})
	}
	return out
}

// scaleTarget reports whether objs hold the object ref names in namespace ns. A ref without an
// apiVersion matches any group.
func scaleTarget(objs []*unstructured.Unstructured, ref map[string]string, ns string) bool {
	gv, err := schema.ParseGroupVersion(ref["apiVersion"])
	if err != nil || ref["kind"] == "" || ref["name"] == "" {
		return false
	}
	return slices.ContainsFunc(objs, func(o *unstructured.Unstructured) bool {
		return o.GetKind() == ref["kind"] && o.GetName() == ref["name"] && o.GetNamespace() == ns &&
			(ref["apiVersion"] == "" || groupKind(o).Group == gv.Group)
	})
}

// scaleTargetFix names the workloads of namespace ns an autoscaler could scale.
func scaleTargetFix(objs []*unstructured.Unstructured, ns string) string {
	var candidates []string
	for _, o := range objs {
		switch groupKind(o) {
		case schema.GroupKind{Group: "apps", Kind: "Deployment"}, schema.GroupKind{Group: "apps", Kind: "StatefulSet"},
			schema.GroupKind{Group: "apps", Kind: "ReplicaSet"}:
			if o.GetNamespace() == ns {
				candidates = append(candidates, "{"+o.GetAPIVersion()+" "+o.GetKind()+" "+o.GetName()+"}")
			}
		}
	}
	if len(candidates) == 0 {
		return "add the object to scale to the render, or point spec.scaleTargetRef at one it holds"
	}
	return "point spec.scaleTargetRef at the object to scale: " + strings.Join(candidates, " or ")
}

// labelSelector reads the metav1.LabelSelector at path of o: nil when there is none.
func labelSelector(o *unstructured.Unstructured, path ...string) (*metav1.LabelSelector, labels.Selector, error) {
	v, found, err := unstructured.NestedFieldNoCopy(o.Object, path...)
	if err != nil || !found || v == nil {
		return nil, nil, err
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, nil, fmt.Errorf("%s is a %T, not an object", strings.Join(path, "."), v)
	}
	var ls metav1.LabelSelector
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(m, &ls); err != nil {
		return nil, nil, err
	}
	sel, err := metav1.LabelSelectorAsSelector(&ls)
	if err != nil {
		return nil, nil, err
	}
	return &ls, sel, nil
}

// selectsAny reports whether sel selects a pod template of namespace ns.
func selectsAny(sel labels.Selector, templates []podTemplate, ns string) bool {
	return slices.ContainsFunc(templates, func(t podTemplate) bool {
		return t.owner.GetNamespace() == ns && sel.Matches(labels.Set(t.labels))
	})
}

// podsIn says how the pod templates of namespace ns are labelled, for a selector that missed them.
func podsIn(templates []podTemplate, ns string) string {
	var sets []string
	for _, t := range templates {
		if s := formatLabels(t.labels); t.owner.GetNamespace() == ns && !slices.Contains(sets, s) {
			sets = append(sets, s)
		}
	}
	if len(sets) == 0 {
		return "it has none " + where(ns)
	}
	pods := "pods here"
	if ns != "" {
		pods = "pods in namespace " + ns
	}
	return pods + " are labelled " + strings.Join(sets, " or ")
}

// where names namespace ns as rendered.
func where(ns string) string {
	if ns == "" {
		return "without a namespace"
	}
	return "in namespace " + ns
}

// formatLabels writes labels as YAML flow, keys sorted: {app: nginx, tier: web}.
func formatLabels(set map[string]string) string {
	parts := make([]string, 0, len(set))
	for _, k := range slices.Sorted(maps.Keys(set)) {
		parts = append(parts, k+": "+set[k])
	}
	return "{" + strings.Join(parts, ", ") + "}"
}

// describeSelector writes a label selector like formatLabels, its expressions after its labels:
// {app: nginx, tier NotIn (cache, db)}.
func describeSelector(ls *metav1.LabelSelector) string {
	s := strings.TrimSuffix(formatLabels(ls.MatchLabels), "}")
	for i, e := range ls.MatchExpressions {
		if i > 0 || len(ls.MatchLabels) > 0 {
			s += ", "
		}
		s += e.Key + " " + string(e.Operator)
		if len(e.Values) > 0 {
			s += " (" + strings.Join(e.Values, ", ") + ")"
		}
	}
	return s + "}"
}

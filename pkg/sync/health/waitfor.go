package health

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/cli-utils/pkg/object"
)

// AnnotationWaitFor, on an applied object, names objects the sync does not apply but waits for
// as well: those an operator creates in answer, such as Calico's TigeraStatus. The value is a
// comma-separated list of Kind[.group]/[namespace/]name, e.g.
//
//	gitsync.io/wait-for: TigeraStatus.operator.tigera.io/calico, DaemonSet.apps/calico-system/calico-node
//
// A namespaced object named without a namespace is looked for in the annotated object's. Such an
// object is ready when it exists, kstatus calls it Current, and its Ready or Available condition,
// if it has one, is True.
const AnnotationWaitFor = "gitsync.io/wait-for"

// waitFor collects the objects named by the objects' wait-for annotations, in order, without
// repeats. An annotation that cannot be understood is an error naming the object.
func waitFor(mapper meta.RESTMapper, objs []*unstructured.Unstructured) ([]object.ObjMetadata, error) {
	var ids []object.ObjMetadata
	seen := map[object.ObjMetadata]bool{}
	for _, o := range objs {
		value, _, _ := unstructured.NestedString(o.Object, "metadata", "annotations", AnnotationWaitFor) // GetAnnotations copies them all
		for _, entry := range strings.Split(value, ",") {
			if entry = strings.TrimSpace(entry); entry == "" {
				continue
			}
			id, err := parseWaitFor(mapper, entry, o.GetNamespace())
			if err != nil {
				return nil, fmt.Errorf("%s: annotation %s: %q: %w", ref(o), AnnotationWaitFor, entry, err)
			}
			if !seen[id] {
				seen[id] = true
				ids = append(ids, id)
			}
		}
	}
	return ids, nil
}

func parseWaitFor(mapper meta.RESTMapper, entry, namespace string) (object.ObjMetadata, error) {
	parts := strings.Split(entry, "/")
	if len(parts) < 2 || len(parts) > 3 || slicesContainEmpty(parts) {
		return object.ObjMetadata{}, fmt.Errorf("want Kind[.group]/[namespace/]name")
	}
	kind, group, _ := strings.Cut(parts[0], ".")
	gk := schema.GroupKind{Group: group, Kind: kind}
	mapping, err := mapper.RESTMapping(gk)
	if err != nil {
		return object.ObjMetadata{}, fmt.Errorf("the cluster does not know the kind %s: %w", gk, err)
	}
	id := object.ObjMetadata{GroupKind: gk, Name: parts[len(parts)-1]}
	switch {
	case mapping.Scope.Name() == meta.RESTScopeNameRoot && len(parts) == 3:
		return id, fmt.Errorf("%s is cluster-scoped: give no namespace", gk)
	case mapping.Scope.Name() == meta.RESTScopeNameRoot:
	case len(parts) == 3:
		id.Namespace = parts[1]
	case namespace == "":
		return id, fmt.Errorf("%s is namespaced: give Kind/namespace/name", gk)
	default:
		id.Namespace = namespace
	}
	return id, nil
}

func slicesContainEmpty(parts []string) bool {
	for _, p := range parts {
		if p == "" {
			return true
		}
	}
	return false
}

// computeAwaited is compute with the stricter rule for awaited objects: operators report
// readiness in a Ready or Available condition, which kstatus alone does not read.
func computeAwaited(o *unstructured.Unstructured) ObjectStatus {
	s := compute(o)
	if s.Status != status.CurrentStatus {
		return s
	}
	conditions, _, _ := unstructured.NestedSlice(o.Object, "status", "conditions")
	for _, c := range conditions {
		m, _ := c.(map[string]any)
		typ, _ := m["type"].(string)
		st, _ := m["status"].(string)
		if (typ == "Ready" || typ == "Available") && st != "True" {
			msg, _ := m["message"].(string)
			s.Status, s.Message = status.InProgressStatus, fmt.Sprintf("%s is %s: %s", typ, st, msg)
		}
		if typ == "Degraded" && st == "True" {
			msg, _ := m["message"].(string)
			s.Status, s.Message = status.InProgressStatus, "Degraded: "+msg
		}
	}
	return s
}

// idRef names an awaited object the way ref names an applied one.
func idRef(id object.ObjMetadata) string {
	name := id.Name
	if id.Namespace != "" {
		name = id.Namespace + "/" + name
	}
	kind := id.GroupKind.Kind
	if id.GroupKind.Group != "" {
		kind += "." + id.GroupKind.Group
	}
	return kind + " " + name
}

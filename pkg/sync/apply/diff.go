package apply

import (
	"context"

	"github.com/pmezard/go-difflib/difflib"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/cli-utils/pkg/object"
	"sigs.k8s.io/yaml"
)

// ObjectDiff is how applying would change one object.
type ObjectDiff struct {
	ID  object.ObjMetadata
	Ref string
	// Action is Created, Configured or Deleted (by prune); Failed when the
	// dry run failed, with Err set.
	Action Action
	Err    error
	// Diff is a unified diff of the live object (server fields removed)
	// against what the server would store. A Secret's values show as masks
	// that tell only whether each key was added, removed, changed or kept.
	Diff string
}

// Diff reports how applying objs and pruning prune would change the cluster,
// using server-side dry runs so that defaulted fields are not differences.
// Objects that would not change are left out. It writes nothing.
func (a *Applier) Diff(ctx context.Context, objs []*unstructured.Unstructured, prune object.ObjMetadataSet) ([]ObjectDiff, error) {
	dry := *a
	dry.opts.DryRun = true
	cs, err := dry.Apply(ctx, objs)
	if err != nil {
		return nil, err
	}
	var out []ObjectDiff
	for _, c := range cs.Changes {
		switch c.Action {
		case Unchanged:
			continue
		case Failed:
			out = append(out, ObjectDiff{ID: c.ID, Ref: idRef(c.ID), Action: Failed, Err: c.Err})
			continue
		}
		before, err := a.current(ctx, c.ID)
		if err != nil {
			return nil, err
		}
		if d := unified(idRef(c.ID), before, c.Live); d != "" {
			out = append(out, ObjectDiff{ID: c.ID, Ref: idRef(c.ID), Action: c.Action, Diff: d})
		}
	}
	for _, c := range dry.Prune(ctx, prune).Changes {
		switch c.Action {
		case Deleted:
			before, err := a.current(ctx, c.ID)
			if err != nil {
				return nil, err
			}
			out = append(out, ObjectDiff{ID: c.ID, Ref: idRef(c.ID), Action: Deleted, Diff: unified(idRef(c.ID), before, nil)})
		case Failed:
			out = append(out, ObjectDiff{ID: c.ID, Ref: idRef(c.ID), Action: Failed, Err: c.Err})
		}
	}
	return out, nil
}

// current gets the live object, nil if it does not exist.
func (a *Applier) current(ctx context.Context, id object.ObjMetadata) (*unstructured.Unstructured, error) {
	m, err := a.mapper.RESTMapping(id.GroupKind)
	if err != nil {
		return nil, nil // its kind does not exist yet, so neither does it
	}
	u, err := a.dynamic.Resource(m.Resource).Namespace(id.Namespace).Get(ctx, id.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	return u, err
}

// unified diffs two objects as YAML, without the fields the server owns and
// with a Secret's values masked.
func unified(ref string, before, after *unstructured.Unstructured) string {
	before, after = maskSecret(before, after)
	d, _ := difflib.GetUnifiedDiffString(difflib.UnifiedDiff{
		A:        lines(diffable(before)),
		B:        lines(diffable(after)),
		FromFile: "live " + ref,
		ToFile:   "git " + ref,
		Context:  3,
	})
	return d
}

func lines(s string) []string {
	if s == "" {
		return nil
	}
	return difflib.SplitLines(s)
}

func diffable(u *unstructured.Unstructured) string {
	if u == nil {
		return ""
	}
	c := u.DeepCopy()
	for _, f := range []string{"managedFields", "resourceVersion", "generation", "uid", "creationTimestamp"} {
		unstructured.RemoveNestedField(c.Object, "metadata", f)
	}
	unstructured.RemoveNestedField(c.Object, "metadata", "annotations", AnnotationDigest)
	if len(c.GetAnnotations()) == 0 {
		unstructured.RemoveNestedField(c.Object, "metadata", "annotations")
	}
	unstructured.RemoveNestedField(c.Object, "status")
	data, _ := yaml.Marshal(c.Object)
	return string(data)
}

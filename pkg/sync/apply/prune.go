package apply

import (
	"context"
	"fmt"
	"time"

	"golang.org/x/sync/errgroup"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/cli-utils/pkg/object"
)

// Prune deletes the objects of ids that still carry this sync's label, except
// those annotated gitsync.io/prune: disabled and CRDs not annotated
// gitsync.io/prune: enabled, which are Skipped. Objects not found (or no
// longer labelled as this sync's) are Skipped too. Namespaces go last, after
// everything else. A Failed change means the object may still exist: the
// caller must keep it in the inventory.
func (a *Applier) Prune(ctx context.Context, ids object.ObjMetadataSet) *ChangeSet {
	changes := make([]Change, len(ids))
	targets := make([]*target, len(ids))
	for i, id := range ids {
		m, err := a.mapper.RESTMapping(id.GroupKind)
		if meta.IsNoMatchError(err) {
			changes[i] = Change{ID: id, Action: Skipped, Reason: "its kind is no longer served"}
			continue
		} else if err != nil {
			changes[i] = Change{ID: id, Action: Failed, Err: requestError(idRef(id), err)}
			continue
		}
		targets[i] = &target{id: id, ref: idRef(id), mapping: m}
	}
	live, denied, err := a.listLive(ctx, nonNil(targets), nil)
	if err != nil {
		for i, t := range targets {
			if t != nil {
				changes[i] = Change{ID: t.id, Action: Failed, Err: requestError(t.ref, err)}
			}
		}
		return &ChangeSet{Changes: changes}
	}
	done := a.progress("prune", len(ids))
	for _, namespaces := range []bool{false, true} {
		var g errgroup.Group
		g.SetLimit(a.opts.Concurrency)
		for i, t := range targets {
			if t == nil || (t.id.GroupKind == namespaceKind) != namespaces {
				continue
			}
			g.Go(func() error {
				if err := denied[t.id]; err != nil {
					changes[i] = Change{ID: t.id, Action: Failed, Err: requestError(t.ref, err)}
				} else {
					changes[i] = a.pruneOne(ctx, t, live[t.id])
				}
				done()
				return nil
			})
		}
		_ = g.Wait()
	}
	return &ChangeSet{Changes: changes}
}

func (a *Applier) pruneOne(ctx context.Context, t *target, live *unstructured.Unstructured) Change {
	skip := func(reason string) Change { return Change{ID: t.id, Action: Skipped, Reason: reason} }
	switch {
	case live == nil:
		return skip("not found with this sync's label")
	case live.GetAnnotations()[AnnotationPrune] == "disabled":
		return skip(AnnotationPrune + ": disabled")
	case t.id.GroupKind == crdKind && live.GetAnnotations()[AnnotationPrune] != "enabled":
		return skip("CustomResourceDefinitions are pruned only when annotated " + AnnotationPrune + ": enabled")
	}
	background := metav1.DeletePropagationBackground
	opts := metav1.DeleteOptions{
		PropagationPolicy: &background,
		// Delete exactly the object that was listed, not a namesake created since.
		Preconditions: &metav1.Preconditions{UID: ptr(live.GetUID())},
	}
	if a.opts.DryRun {
		opts.DryRun = []string{metav1.DryRunAll}
	}
	err := a.dynamic.Resource(t.mapping.Resource).Namespace(t.id.Namespace).Delete(ctx, t.id.Name, opts)
	if err != nil && !apierrors.IsNotFound(err) {
		return Change{ID: t.id, Action: Failed, Err: requestError(t.ref, fmt.Errorf("prune: %w", err))}
	}
	return Change{ID: t.id, Action: Deleted}
}

func nonNil(ts []*target) []*target {
	var out []*target
	for _, t := range ts {
		if t != nil {
			out = append(out, t)
		}
	}
	return out
}

func ptr[T any](v T) *T { return &v }

// Remove deletes the objects of ids that carry this sync's label, as Prune
// does, and waits until they are gone (or ctx ends): an object created anew
// under the same name, such as a Job, is then not mistaken for the old one.
func (a *Applier) Remove(ctx context.Context, ids object.ObjMetadataSet) error {
	if err := a.Prune(ctx, ids).Err(); err != nil {
		return err
	}
	if a.opts.DryRun {
		return nil
	}
	for _, id := range ids {
		m, err := a.mapper.RESTMapping(id.GroupKind)
		if err != nil {
			continue // its kind is no longer served: nothing left to wait for
		}
		client := a.dynamic.Resource(m.Resource).Namespace(id.Namespace)
		err = wait.PollUntilContextCancel(ctx, 200*time.Millisecond, true, func(ctx context.Context) (bool, error) {
			_, err := client.Get(ctx, id.Name, metav1.GetOptions{})
			if apierrors.IsNotFound(err) {
				return true, nil
			}
			return false, err
		})
		if err != nil {
			return requestError(idRef(id), fmt.Errorf("waiting for its deletion: %w", err))
		}
	}
	return nil
}

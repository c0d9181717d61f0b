package apply

import (
	"context"
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
)

var crdResource = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}

// establish runs between the definitions stage and the rest: it waits until
// the CRDs just applied are Established, then, if objects of their kinds are
// waiting, refreshes the RESTMapper until it knows those kinds.
func (a *Applier) establish(ctx context.Context, targets []*target, changes []Change) error {
	if a.opts.DryRun {
		return nil // nothing was created; dependants are reported as would-create
	}
	for i, t := range targets {
		if t.id.GroupKind != crdKind || changes[i].Action == Failed {
			continue
		}
		if err := a.waitEstablished(ctx, t.id.Name); err != nil {
			changes[i] = failed(t, requestError(t.ref, err))
		}
	}
	return a.mapDeferred(ctx, targets)
}

func (a *Applier) waitEstablished(ctx context.Context, name string) error {
	err := wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		crd, err := a.dynamic.Resource(crdResource).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		return hasCondition(crd, "Established"), nil
	})
	if err != nil {
		return fmt.Errorf("wait for the CustomResourceDefinition to become Established: %w", err)
	}
	return nil
}

// mapDeferred resolves the kinds that were unknown during prepare. Discovery
// can trail a new CRD by a moment, so it retries for a few seconds; kinds
// still unknown after that are reported by applyOne.
func (a *Applier) mapDeferred(ctx context.Context, targets []*target) error {
	pending := func() []*target {
		var out []*target
		for _, t := range targets {
			if t.mapping == nil {
				out = append(out, t)
			}
		}
		return out
	}
	if len(pending()) == 0 {
		return nil
	}
	// A timeout leaves mappings nil; applyOne reports those objects.
	_ = wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 10*time.Second, true, func(context.Context) (bool, error) {
		a.mapper.Reset()
		for _, t := range pending() {
			if m, err := a.mapper.RESTMapping(t.gvk.GroupKind(), t.gvk.Version); err == nil {
				t.mapping = m
			}
		}
		return len(pending()) == 0, nil
	})
	return ctx.Err()
}

func hasCondition(u *unstructured.Unstructured, typ string) bool {
	conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	for _, c := range conds {
		m, _ := c.(map[string]any)
		if m["type"] == typ && m["status"] == "True" {
			return true
		}
	}
	return false
}

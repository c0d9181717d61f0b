package apply

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/wait"
)

// resolveFailure handles the two apply failures gitsync can resolve itself:
// a conflict with imperative writers only (taken over with force), and an
// immutable-field change on an object opted in to recreation. Anything else
// becomes the object's error.
func (a *Applier) resolveFailure(ctx context.Context, t *target, forced bool, err error) (*unstructured.Unstructured, int, error) {
	switch {
	case apierrors.IsConflict(err) && !forced:
		return a.resolveConflict(ctx, t, err)
	case isImmutable(err):
		if a.opts.Force || t.force {
			return a.recreate(ctx, t)
		}
		return nil, 0, invalid(t.ref, "%s immutable; to delete and recreate the object, annotate it %s: enabled or run with --force",
			strings.Join(invalidFields(err), ", "), AnnotationForce)
	}
	return nil, 0, requestError(t.ref, err)
}

// resolveConflict retries with force when every conflicting manager wrote
// with an Update (hand edits, controllers); a conflict with another
// server-side applier is reported with its name and fields.
func (a *Applier) resolveConflict(ctx context.Context, t *target, conflict error) (*unstructured.Unstructured, int, error) {
	live, err := a.dynamic.Resource(t.mapping.Resource).Namespace(t.id.Namespace).Get(ctx, t.id.Name, metav1.GetOptions{})
	if err != nil {
		return nil, 0, requestError(t.ref, err)
	}
	appliers := otherAppliers(live, a.opts.FieldManager)
	var declarative []string
	for manager, fields := range conflictingManagers(conflict) {
		if slices.Contains(appliers, manager) {
			declarative = append(declarative, fmt.Sprintf("%q owns %s", manager, strings.Join(fields, ", ")))
		}
	}
	if len(declarative) == 0 {
		obj, code, err := a.serverSideApply(ctx, t, true)
		if err != nil {
			return nil, code, requestError(t.ref, err)
		}
		return obj, code, nil
	}
	slices.Sort(declarative)
	return nil, 0, invalid(t.ref, "conflict with another server-side apply manager: %s; change it there, or take ownership with --force or the annotation %s: enabled",
		strings.Join(declarative, "; "), AnnotationForce)
}

// otherAppliers names the managers other than self that own fields of the
// object (not its status) through server-side apply.
func otherAppliers(live *unstructured.Unstructured, self string) []string {
	var out []string
	for _, e := range live.GetManagedFields() {
		if e.Operation == metav1.ManagedFieldsOperationApply && e.Manager != self && e.Subresource == "" {
			out = append(out, e.Manager)
		}
	}
	return out
}

var conflictManager = regexp.MustCompile(`conflict with "([^"]+)"`)

// conflictingManagers maps each manager named in a 409 apply conflict to the
// fields it holds.
func conflictingManagers(err error) map[string][]string {
	out := map[string][]string{}
	var status apierrors.APIStatus
	if !errors.As(err, &status) || status.Status().Details == nil {
		return out
	}
	for _, c := range status.Status().Details.Causes {
		if c.Type != metav1.CauseTypeFieldManagerConflict {
			continue
		}
		if m := conflictManager.FindStringSubmatch(c.Message); m != nil {
			out[m[1]] = append(out[m[1]], c.Field)
		}
	}
	return out
}

func isImmutable(err error) bool {
	return apierrors.IsInvalid(err) && strings.Contains(err.Error(), "immutable")
}

// invalidFields lists the fields a 422 names as immutable, e.g. "field spec.selector is".
func invalidFields(err error) []string {
	var status apierrors.APIStatus
	var out []string
	if errors.As(err, &status) && status.Status().Details != nil {
		for _, c := range status.Status().Details.Causes {
			if strings.Contains(c.Message, "immutable") {
				out = append(out, "field "+c.Field+" is")
			}
		}
	}
	if len(out) == 0 {
		out = append(out, "a field is") // the server named none
	}
	return out
}

// recreate deletes the object, waits until it is gone and applies it again.
func (a *Applier) recreate(ctx context.Context, t *target) (*unstructured.Unstructured, int, error) {
	if a.opts.DryRun {
		return t.obj, 200, nil
	}
	ri := a.dynamic.Resource(t.mapping.Resource).Namespace(t.id.Namespace)
	background := metav1.DeletePropagationBackground
	if err := ri.Delete(ctx, t.id.Name, metav1.DeleteOptions{PropagationPolicy: &background}); err != nil && !apierrors.IsNotFound(err) {
		return nil, 0, requestError(t.ref, fmt.Errorf("delete to recreate: %w", err))
	}
	err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		_, err := ri.Get(ctx, t.id.Name, metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	})
	if err != nil {
		return nil, 0, requestError(t.ref, fmt.Errorf("wait for the old object to go before recreating it: %w", err))
	}
	obj, code, err := a.serverSideApply(ctx, t, true)
	if err != nil {
		return nil, code, requestError(t.ref, err)
	}
	return obj, 200, nil // it existed before: configured, not created
}

package health

import (
	"context"
	"errors"
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/dynamic"
	"sigs.k8s.io/cli-utils/pkg/kstatus/polling/event"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/cli-utils/pkg/kstatus/watcher"
	"sigs.k8s.io/cli-utils/pkg/object"
)

// ObjectStatus is the kstatus verdict on one object.
type ObjectStatus struct {
	ID      object.ObjMetadata
	Ref     string // "apiVersion Kind namespace/name"
	Status  status.Status
	Message string
}

// Checker waits for objects to become Current.
type Checker struct {
	dynamic  dynamic.Interface
	mapper   meta.RESTMapper
	selector labels.Selector
}

// New returns a Checker. Watches are limited to objects matching selector
// (the sync's label), so they never stream unrelated objects.
func New(dc dynamic.Interface, mapper meta.RESTMapper, selector labels.Selector) *Checker {
	return &Checker{dynamic: dc, mapper: mapper, selector: selector}
}

// Wait returns once every object is Current, or every one that is not has
// Failed, or timeout passes. objs are the objects as the apply last saw them;
// those already Current cost nothing, the others are watched. The error names
// each object that is not Current, with kstatus's message.
func (c *Checker) Wait(ctx context.Context, objs []*unstructured.Unstructured, timeout time.Duration) ([]ObjectStatus, error) {
	statuses := make(map[object.ObjMetadata]*ObjectStatus, len(objs))
	var pending object.ObjMetadataSet
	for _, o := range objs {
		s := compute(o)
		statuses[s.ID] = &s
		if s.Status != status.CurrentStatus {
			pending = append(pending, s.ID)
		}
	}
	if len(pending) > 0 {
		if err := c.watch(ctx, pending, statuses, timeout); err != nil {
			return list(objs, statuses), err
		}
	}
	out := list(objs, statuses)
	return out, notReady(out, timeout)
}

// watch updates statuses from watch events until every pending object is
// Current (or Failed) or the timeout passes.
func (c *Checker) watch(ctx context.Context, pending object.ObjMetadataSet, statuses map[object.ObjMetadata]*ObjectStatus, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	w := watcher.NewDefaultStatusWatcher(c.dynamic, c.mapper)
	w.StatusReader = objectStatusReader{}
	w.Filters = &watcher.Filters{Labels: c.selector}
	// One watch per kind and namespace: cluster-wide watches would need
	// rights a namespace-restricted gitsync does not have, and only objects
	// not yet Current are watched, so there are few.
	events := w.Watch(ctx, pending, watcher.Options{RESTScopeStrategy: watcher.RESTScopeNamespace})
	defer func() {
		cancel()
		for range events { // let the watcher stop
		}
	}()
	for e := range events {
		switch e.Type {
		case event.ErrorEvent:
			if ctx.Err() != nil {
				return nil // the timeout; reported by the caller
			}
			return fmt.Errorf("health: watch: %w", e.Error)
		case event.ResourceUpdateEvent:
			s := statuses[e.Resource.Identifier]
			s.Status, s.Message = e.Resource.Status, e.Resource.Message
			if settled(pending, statuses) {
				return nil
			}
		}
	}
	return ctx.Err() // the parent context ended, or the timeout
}

// settled is true when no pending object can still become Current on its own.
func settled(pending object.ObjMetadataSet, statuses map[object.ObjMetadata]*ObjectStatus) bool {
	for _, id := range pending {
		if s := statuses[id].Status; s != status.CurrentStatus && s != status.FailedStatus {
			return false
		}
	}
	return true
}

func compute(o *unstructured.Unstructured) ObjectStatus {
	s := ObjectStatus{ID: object.UnstructuredToObjMetadata(o), Ref: ref(o)}
	res, err := status.Compute(o)
	if err != nil {
		s.Status, s.Message = status.UnknownStatus, err.Error()
		return s
	}
	s.Status, s.Message = res.Status, res.Message
	return s
}

func list(objs []*unstructured.Unstructured, statuses map[object.ObjMetadata]*ObjectStatus) []ObjectStatus {
	out := make([]ObjectStatus, 0, len(objs))
	for _, o := range objs {
		out = append(out, *statuses[object.UnstructuredToObjMetadata(o)])
	}
	return out
}

func notReady(all []ObjectStatus, timeout time.Duration) error {
	var errs []error
	for _, s := range all {
		if s.Status != status.CurrentStatus {
			errs = append(errs, fmt.Errorf("%s: %s: %s", s.Ref, s.Status, s.Message))
		}
	}
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("health: %d of %d objects not ready (waited up to %s):\n%w", len(errs), len(all), timeout, errors.Join(errs...))
}

func ref(o *unstructured.Unstructured) string {
	name := o.GetName()
	if ns := o.GetNamespace(); ns != "" {
		name = ns + "/" + name
	}
	return o.GetAPIVersion() + " " + o.GetKind() + " " + name
}

package health

import (
	"context"
	"errors"
	"fmt"
	"slices"
	gosync "sync"
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
// those already Current cost nothing, the others are watched, and so are the
// objects their wait-for annotations name (AnnotationWaitFor). The error names
// each object that is not ready, with kstatus's message.
func (c *Checker) Wait(ctx context.Context, objs []*unstructured.Unstructured, timeout time.Duration) ([]ObjectStatus, error) {
	awaited, err := waitFor(c.mapper, objs)
	if err != nil {
		return nil, err
	}
	statuses := make(map[object.ObjMetadata]*ObjectStatus, len(objs)+len(awaited))
	ids := make([]object.ObjMetadata, len(objs))
	var pending, others object.ObjMetadataSet
	for i, o := range objs {
		s := compute(o)
		ids[i], statuses[s.ID] = s.ID, &s
		if s.Status != status.CurrentStatus {
			pending = append(pending, s.ID)
		}
	}
	for _, id := range awaited {
		if statuses[id] == nil {
			statuses[id] = &ObjectStatus{ID: id, Ref: idRef(id), Status: status.NotFoundStatus, Message: "not seen yet"}
			others = append(others, id)
		}
	}
	if len(pending)+len(others) > 0 {
		if err := c.watch(ctx, pending, others, statuses, timeout); err != nil {
			return list(ids, others, statuses), err
		}
	}
	out := list(ids, others, statuses)
	return out, notReady(out, timeout)
}

// watch updates statuses from watch events until every pending object is
// Current (or Failed) or the timeout passes. pending are applied objects,
// others those only awaited.
func (c *Checker) watch(parent context.Context, pending, others object.ObjMetadataSet, statuses map[object.ObjMetadata]*ObjectStatus, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(parent, timeout)
	defer cancel()
	var streams []<-chan event.Event
	if len(pending) > 0 {
		// Applied objects carry the sync's label: watching only those never
		// streams unrelated objects.
		streams = append(streams, c.watcher(objectStatusReader{}, &watcher.Filters{Labels: c.selector}).Watch(ctx, pending, watchOptions))
	}
	if len(others) > 0 {
		streams = append(streams, c.watcher(objectStatusReader{awaited: true}, nil).Watch(ctx, others, watchOptions))
	}
	events := merge(ctx, streams)
	defer func() {
		cancel()
		for range events { // let the watchers stop
		}
	}()
	all := append(slices.Clone(pending), others...)
	for e := range events {
		switch e.Type {
		case event.ErrorEvent:
			if ctx.Err() != nil {
				return nil // the timeout; reported by the caller
			}
			return fmt.Errorf("watch: %w", e.Error)
		case event.ResourceUpdateEvent:
			s := statuses[e.Resource.Identifier]
			s.Status, s.Message = e.Resource.Status, e.Resource.Message
			if settled(all, statuses) {
				return nil
			}
		}
	}
	return parent.Err() // nil after the timeout, which the caller reports
}

// One watch per kind and namespace: cluster-wide watches would need rights a
// namespace-restricted gitsync does not have, and only objects not yet
// Current are watched, so there are few.
var watchOptions = watcher.Options{RESTScopeStrategy: watcher.RESTScopeNamespace}

func (c *Checker) watcher(reader objectStatusReader, filters *watcher.Filters) *watcher.DefaultStatusWatcher {
	w := watcher.NewDefaultStatusWatcher(c.dynamic, c.mapper)
	w.StatusReader = reader
	w.Filters = filters
	return w
}

// merge forwards the events of every stream into one channel, closed when all
// streams are; once ctx ends, events are drained and dropped.
func merge(ctx context.Context, streams []<-chan event.Event) <-chan event.Event {
	out := make(chan event.Event)
	var wg gosync.WaitGroup
	for _, stream := range streams {
		wg.Go(func() {
			for e := range stream {
				select {
				case out <- e:
				case <-ctx.Done():
				}
			}
		})
	}
	go func() {
		wg.Wait()
		close(out)
	}()
	return out
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

// Compute is kstatus' verdict on an object as it is.
func Compute(o *unstructured.Unstructured) ObjectStatus { return compute(o) }

// Unchanged is the status of o, a version of an object a sync found Current
// before (apply.Known), without asking kstatus again: o may hold only its
// metadata.
func Unchanged(o *unstructured.Unstructured) ObjectStatus {
	return ObjectStatus{ID: object.UnstructuredToObjMetadata(o), Ref: ref(o), Status: status.CurrentStatus,
		Message: "Resource is current: unchanged since the last sync found it so"}
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

// list returns the statuses of the applied objects ids, in order, then of
// the others.
func list(ids, others []object.ObjMetadata, statuses map[object.ObjMetadata]*ObjectStatus) []ObjectStatus {
	out := make([]ObjectStatus, 0, len(ids)+len(others))
	for _, id := range slices.Concat(ids, others) {
		out = append(out, *statuses[id])
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
	return fmt.Errorf("%d of %d objects not ready (waited up to %s):\n%w", len(errs), len(all), timeout, errors.Join(errs...))
}

func ref(o *unstructured.Unstructured) string {
	name := o.GetName()
	if ns := o.GetNamespace(); ns != "" {
		name = ns + "/" + name
	}
	return o.GetAPIVersion() + " " + o.GetKind() + " " + name
}

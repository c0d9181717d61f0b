package health

import (
	"context"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/cli-utils/pkg/kstatus/polling/engine"
	"sigs.k8s.io/cli-utils/pkg/kstatus/polling/event"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/cli-utils/pkg/object"
)

// objectStatusReader computes status from the watched object alone. The
// default reader also lists each Deployment's ReplicaSets and Pods on every
// event to enrich messages: a LIST per event that gitsync does not need,
// since kstatus decides from the object's own status.
//
// For awaited objects (see AnnotationWaitFor) it also reads Ready and
// Available conditions.
type objectStatusReader struct{ awaited bool }

var _ engine.StatusReader = objectStatusReader{}

func (objectStatusReader) Supports(schema.GroupKind) bool { return true }

func (objectStatusReader) ReadStatus(_ context.Context, _ engine.ClusterReader, id object.ObjMetadata) (*event.ResourceStatus, error) {
	return &event.ResourceStatus{Identifier: id, Status: status.UnknownStatus, Message: "status is computed from watch events only"}, nil
}

func (r objectStatusReader) ReadStatusForObject(_ context.Context, _ engine.ClusterReader, u *unstructured.Unstructured) (*event.ResourceStatus, error) {
	s := compute(u)
	if r.awaited {
		s = computeAwaited(u)
	}
	return &event.ResourceStatus{Identifier: s.ID, Status: s.Status, Resource: u, Message: s.Message}, nil
}

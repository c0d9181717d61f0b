package apply

import (
	"errors"
	"slices"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/cli-utils/pkg/object"
)

// Action is what happened to one object.
type Action string

const (
	Created    Action = "created"
	Configured Action = "configured"
	Unchanged  Action = "unchanged"
	Deleted    Action = "deleted"
	Skipped    Action = "skipped"
	Failed     Action = "failed"
)

func (a Action) String() string { return string(a) }

// Actions returns every Action in report order, in a new slice the caller
// may change.
func Actions() []Action {
	return []Action{Created, Configured, Unchanged, Deleted, Skipped, Failed}
}

// Change is the outcome for one object.
type Change struct {
	ID     object.ObjMetadata
	Action Action
	// Err says why the object Failed; Reason why it was Skipped.
	Err    error
	Reason string
	// TakenFrom is the LabelSync value of the sync that owned the object
	// before this apply took it over (with force); empty otherwise.
	TakenFrom string
	// Live is the object as the server last returned it (after the apply, or
	// as listed when Unchanged); nil for deletions and failures.
	Live *unstructured.Unstructured
	// Known says the object was Unchanged because it is the version a Known
	// holds (Plan.Know): up to date and Current. Live may then hold only its
	// apiVersion, kind, name, namespace, uid and resourceVersion.
	Known bool

	version Version // of an Unchanged object; see Version
}

// Version returns the version of the live object a change found up to date
// (Unchanged) or made so (Created, Configured), the digest it is up to date
// with, and the sum of the rendered object (PlanKnown): what a Known holds.
// It is zero for other changes, and in a dry run for those it would write.
func (c Change) Version() Version { return c.version }

// ChangeSet is the outcome for a set of objects, in the order they were given.
type ChangeSet struct {
	Changes []Change
}

// Count returns how many objects ended with action a.
func (cs *ChangeSet) Count(a Action) int {
	n := 0
	for _, c := range cs.Changes {
		if c.Action == a {
			n++
		}
	}
	return n
}

// Counts returns the number of objects per action, leaving out zeros.
func (cs *ChangeSet) Counts() map[Action]int {
	out := map[Action]int{}
	for _, c := range cs.Changes {
		out[c.Action]++
	}
	return out
}

// Err joins the errors of every failed object, nil if none failed.
func (cs *ChangeSet) Err() error {
	var errs []error
	for _, c := range cs.Changes {
		if c.Action == Failed {
			errs = append(errs, c.Err)
		}
	}
	return errors.Join(errs...)
}

// IDs returns the ids of the changes whose action is one of actions.
func (cs *ChangeSet) IDs(actions ...Action) object.ObjMetadataSet {
	var ids object.ObjMetadataSet
	for _, c := range cs.Changes {
		if slices.Contains(actions, c.Action) {
			ids = append(ids, c.ID)
		}
	}
	return ids
}

// Append adds the changes of other.
func (cs *ChangeSet) Append(other *ChangeSet) {
	cs.Changes = append(cs.Changes, other.Changes...)
}

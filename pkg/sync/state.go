package sync

import (
	"fmt"
	"strings"
)

// State is where a sync stands, in one word. gitsync status and the status
// page both show what stateOf makes of the recorded status, so they never
// disagree.
type State string

const (
	// StatePending: the sync has recorded no outcome yet.
	StatePending State = "Pending"
	// StateApplying: the running instance is applying a revision. Only the
	// instance knows it; the recorded status tells the outcome before.
	StateApplying  State = "Applying"
	StateReady     State = "Ready"
	StateWaiting   State = "Waiting"
	StateFailed    State = "Failed"
	StateStalled   State = "Stalled"
	StateSuspended State = "Suspended"
)

// States returns every State, in the order a list of syncs shows them.
func States() []State {
	return []State{StateFailed, StateStalled, StateWaiting, StateApplying, StateSuspended, StatePending, StateReady}
}

// stateOf returns where a recorded status stands, and why, in one line (the
// full error stays in Error).
func stateOf(st Status) (State, string) {
	switch {
	case st.Suspended:
		return StateSuspended, "suspended: gitsync resume lets it apply again"
	case st.Waiting != "":
		return StateWaiting, st.Waiting
	case st.Stalled && st.RetryIn != nil:
		return StateStalled, fmt.Sprintf("stalled until a new revision, gitsync sync --now or %s: %s", st.RetryIn.Duration, oneLine(st.Error))
	case st.Stalled:
		return StateStalled, "stalled until a new revision or gitsync sync --now: " + oneLine(st.Error)
	case st.Error != "":
		return StateFailed, oneLine(st.Error) // "retrying in 30s: …" when it retries
	case st.Ready:
		return StateReady, ""
	}
	return StatePending, "it has not synced yet"
}

// withState fills State and Reason from the rest.
func (st Status) withState() Status {
	st.State, st.Reason = stateOf(st)
	return st
}

// oneLine is the first line of a message of several, saying how many more
// there are.
func oneLine(msg string) string {
	if i := strings.IndexByte(msg, '\n'); i >= 0 {
		return fmt.Sprintf("%s (and %d more lines)", msg[:i], strings.Count(msg[i:], "\n"))
	}
	return msg
}

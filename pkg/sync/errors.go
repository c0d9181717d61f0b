package sync

import "fmt"

// Phase is a step of the pipeline.
type Phase string

const (
	PhaseInventory Phase = "inventory"
	PhaseFetch     Phase = "fetch"
	PhaseRender    Phase = "render"
	PhaseApply     Phase = "apply"
	PhasePrune     Phase = "prune"
	PhaseHealth    Phase = "health"
	// PhaseHooks runs a chart's hooks around the apply.
	PhaseHooks Phase = "hooks"
)

// Error is a failed sync: the phase that failed and why.
type Error struct {
	Phase Phase
	Err   error
}

func (e *Error) Error() string { return fmt.Sprintf("%s: %v", e.Phase, e.Err) }
func (e *Error) Unwrap() error { return e.Err }

// Terminal reports whether retrying the same revision cannot help (bad YAML,
// a missing file, an object the API rejects as invalid, a refused host key):
// a Loop stalls on the revision until a new one arrives, Trigger is called,
// or ten intervals pass.
func (e *Error) Terminal() bool { return IsTerminal(e.Err) }

// IsTerminal reports whether err is marked terminal by the package that
// produced it (a Terminal() bool method). A joined error is terminal only if
// every error in it is: one transient failure is worth a retry.
func IsTerminal(err error) bool {
	switch e := err.(type) {
	case nil:
		return false
	case interface{ Terminal() bool }:
		return e.Terminal()
	case interface{ Unwrap() []error }:
		errs := e.Unwrap()
		for _, err := range errs {
			if !IsTerminal(err) {
				return false
			}
		}
		return len(errs) > 0
	case interface{ Unwrap() error }:
		return IsTerminal(e.Unwrap())
	}
	return false
}

// terminalError marks a failure found by this package as terminal.
type terminalError struct{ error }

func (terminalError) Terminal() bool  { return true }
func (e terminalError) Unwrap() error { return e.error }

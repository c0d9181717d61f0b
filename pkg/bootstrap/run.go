package bootstrap

import (
	"context"
	"fmt"
)

// EventKind is what happened to one step on one node.
type EventKind string

const (
	AlreadyDone EventKind = "done"      // the check found the work done; nothing ran
	WouldRun    EventKind = "would run" // dry run: the check found it not done
	Applying    EventKind = "applying"
	// Checking starts a step that finds out as it goes whether it has work, and may wait
	// (the handover's steps against the cluster); done or applied follows.
	Checking EventKind = "checking"
	Applied  EventKind = "applied" // applied, and the check now finds it done
	Failed   EventKind = "failed"
	Warning  EventKind = "warning" // something the node should fix, which does not stop the run
)

func (k EventKind) String() string { return string(k) }

// Event reports progress, per node and step.
type Event struct {
	Node, Step string
	Kind       EventKind
	// Reason is why the step was (not) done, as its check said.
	Reason string
	// Plan is what the step runs, for WouldRun.
	Plan []string
	Err  error
}

// Options steer a run.
type Options struct {
	// DryRun runs only the checks, which change nothing.
	DryRun bool
	// Report hears every event; it is called from one goroutine per node.
	Report func(Event)
}

func (o Options) report(e Event) {
	if o.Report != nil {
		o.Report(e)
	}
}

// StepError is a step that failed on a node, or on the whole cluster when Node is empty: its check or apply returned Err (an
// *ssh.ExitError names the command, its exit status and its stderr's tail), or the check
// still found the work undone after it was applied.
type StepError struct {
	Node, Step string
	Err        error
}

func (e *StepError) Error() string {
	if e.Node == "" { // a step of the whole cluster
		return fmt.Sprintf("step %s: %v", e.Step, e.Err)
	}
	return fmt.Sprintf("node %s: step %s: %v", e.Node, e.Step, e.Err)
}
func (e *StepError) Unwrap() error { return e.Err }

// RunSteps takes h through steps in order: check, and unless done, apply and check again. It
// stops at the first failure; running it again resumes there, since the steps before are
// found done. In a dry run every step is checked and none applied.
func RunSteps(ctx context.Context, h *Host, steps []Step, opts Options) error {
	for _, s := range steps {
		if err := runStep(ctx, h, s, opts); err != nil {
			opts.report(Event{Node: h.Node.Name, Step: s.Name, Kind: Failed, Err: err})
			return &StepError{Node: h.Node.Name, Step: s.Name, Err: err}
		}
	}
	return nil
}

func runStep(ctx context.Context, h *Host, s Step, opts Options) error {
	ev := Event{Node: h.Node.Name, Step: s.Name}
	st, err := s.Check(ctx, h)
	switch {
	case err != nil:
		return fmt.Errorf("check: %w", err)
	case st.Done:
		ev.Kind, ev.Reason = AlreadyDone, st.Reason
		opts.report(ev)
		return nil
	case opts.DryRun:
		ev.Kind, ev.Reason, ev.Plan = WouldRun, st.Reason, s.Plan(h)
		opts.report(ev)
		return nil
	}
	ev.Kind, ev.Reason = Applying, st.Reason
	opts.report(ev)
	if err := s.Apply(ctx, h); err != nil {
		return err
	}
	if st, err = s.Check(ctx, h); err != nil {
		return fmt.Errorf("verify: %w", err)
	} else if !st.Done {
		return fmt.Errorf("verify: still not done after applying: %s", st.Reason)
	}
	ev.Kind, ev.Reason = Applied, ""
	opts.report(ev)
	return nil
}

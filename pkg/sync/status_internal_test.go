package sync

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/gitsync-io/gitsync/pkg/sync/apply"
)

func TestNextStatus(t *testing.T) {
	s := &Syncer{opts: Options{Name: "apps", Namespace: "ops", Path: "overlays/prod"}}
	applied := &Result{Source: "https://git.example/repo", Revision: "r1", Digest: "d1",
		Counts: map[apply.Action]int{apply.Created: 3}}
	first := s.nextStatus(nil, applied, 3, nil, nil)

	t.Run("records a successful sync", func(t *testing.T) {
		st := decode(t, first)
		if !st.Ready || st.LastAppliedRevision != "r1" || st.LastAttemptedRevision != "r1" || st.Counts[apply.Created] != 3 || st.Time.IsZero() {
			t.Errorf("status %+v", st)
		}
	})

	t.Run("keeps the same document when nothing changed, so nothing is written", func(t *testing.T) {
		noop := &Result{Source: "https://git.example/repo", Revision: "r1", Digest: "d1",
			Counts: map[apply.Action]int{apply.Unchanged: 3}}
		if got := s.nextStatus(first, noop, 3, nil, nil); string(got) != string(first) {
			t.Errorf("a no-op changed the status:\n%s\n%s", first, got)
		}
	})

	t.Run("keeps the last applied revision when a new one fails", func(t *testing.T) {
		bad := &Result{Source: "https://git.example/repo", Revision: "r2"}
		st := decode(t, s.nextStatus(first, bad, 3, &Error{Phase: PhaseRender, Err: terminalError{errors.New("app.yaml: invalid YAML")}}, nil))
		if st.Ready || !st.Stalled || st.LastAppliedRevision != "r1" || st.LastAttemptedRevision != "r2" || st.Error == "" {
			t.Errorf("status %+v", st)
		}
	})

	t.Run("names no retry for a one-shot sync", func(t *testing.T) {
		bad := &Result{Source: "https://git.example/repo", Revision: "r2"}
		st := decode(t, s.nextStatus(first, bad, 3, &Error{Phase: PhaseApply, Err: errors.New(`namespaces "apps" not found`)}, nil))
		if st.Ready || st.Stalled || st.Error != `apply: namespaces "apps" not found` || st.RetryIn != nil {
			t.Errorf("status %+v", st)
		}
	})

	looped := &Syncer{opts: s.opts}
	NewLoop(looped, time.Minute)

	t.Run("says when gitsync run retries a failure a retry may fix", func(t *testing.T) {
		bad := &Result{Source: "https://git.example/repo", Revision: "r2", RetryIn: 30 * time.Second}
		st := decode(t, looped.nextStatus(first, bad, 3, &Error{Phase: PhaseApply, Err: errors.New(`namespaces "apps" not found`)}, nil))
		if st.Ready || st.Stalled || st.Error != `retrying in 30s: apply: namespaces "apps" not found` || st.RetryIn == nil || st.RetryIn.Duration != 30*time.Second {
			t.Errorf("status %+v", st)
		}
	})

	t.Run("says how long a stall lasts in gitsync run", func(t *testing.T) {
		bad := &Result{Source: "https://git.example/repo", Revision: "r2"}
		st := decode(t, looped.nextStatus(first, bad, 3, &Error{Phase: PhaseApply, Err: terminalError{errors.New("ConfigMap bad: Invalid value")}}, nil))
		if st.Ready || !st.Stalled || st.Error != "apply: ConfigMap bad: Invalid value" || st.RetryIn == nil || st.RetryIn.Duration != 10*time.Minute {
			t.Errorf("status %+v", st)
		}
	})

	t.Run("keeps source and attempted revision when the fetch fails", func(t *testing.T) {
		st := decode(t, s.nextStatus(first, &Result{}, 3, &Error{Phase: PhaseFetch, Err: errors.New("unreachable")}, nil))
		if st.Source != "https://git.example/repo" || st.LastAttemptedRevision != "r1" || st.Stalled {
			t.Errorf("status %+v", st)
		}
	})
}

func decode(t *testing.T, data []byte) Status {
	t.Helper()
	var st Status
	if err := json.Unmarshal(data, &st); err != nil {
		t.Fatal(err)
	}
	return st
}

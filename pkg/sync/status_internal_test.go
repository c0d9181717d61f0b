package sync

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/gitsync-io/gitsync/pkg/sync/apply"
)

func TestNextStatus(t *testing.T) {
	s := &Syncer{opts: Options{Name: "apps", Namespace: "ops", Path: "overlays/prod"}}
	applied := &Result{Source: "https://git.example/repo", Revision: "r1", Digest: "d1",
		Counts: map[apply.Action]int{apply.Created: 3}}
	first := s.nextStatus(nil, applied, 3, nil)

	t.Run("records a successful sync", func(t *testing.T) {
		st := decode(t, first)
		if !st.Ready || st.LastAppliedRevision != "r1" || st.LastAttemptedRevision != "r1" || st.Counts[apply.Created] != 3 || st.Time.IsZero() {
			t.Errorf("status %+v", st)
		}
	})

	t.Run("keeps the same document when nothing changed, so nothing is written", func(t *testing.T) {
		noop := &Result{Source: "https://git.example/repo", Revision: "r1", Digest: "d1",
			Counts: map[apply.Action]int{apply.Unchanged: 3}}
		if got := s.nextStatus(first, noop, 3, nil); string(got) != string(first) {
			t.Errorf("a no-op changed the status:\n%s\n%s", first, got)
		}
	})

	t.Run("keeps the last applied revision when a new one fails", func(t *testing.T) {
		bad := &Result{Source: "https://git.example/repo", Revision: "r2"}
		st := decode(t, s.nextStatus(first, bad, 3, &Error{Phase: PhaseRender, Err: terminalError{errors.New("app.yaml: invalid YAML")}}))
		if st.Ready || !st.Stalled || st.LastAppliedRevision != "r1" || st.LastAttemptedRevision != "r2" || st.Error == "" {
			t.Errorf("status %+v", st)
		}
	})

	t.Run("keeps source and attempted revision when the fetch fails", func(t *testing.T) {
		st := decode(t, s.nextStatus(first, &Result{}, 3, &Error{Phase: PhaseFetch, Err: errors.New("unreachable")}))
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

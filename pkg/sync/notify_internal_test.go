package sync

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/gitsync-io/gitsync/pkg/notify"
	"github.com/gitsync-io/gitsync/pkg/sync/apply"
)

func TestOutcome(t *testing.T) {
	s := &Syncer{opts: Options{Name: "app", Namespace: "ops", Notifier: &notify.Notifier{}}}
	stalled := &Error{Phase: PhaseRender, Err: terminalError{errors.New("app/b.yaml: invalid YAML")}}
	fetchFailed := &Error{Phase: PhaseFetch, Err: fmt.Errorf("fetch: %w", context.Canceled)}
	for _, tc := range []struct {
		name     string
		old      Status
		r        *Result
		err      error
		stopping bool
		want     []string // kind@revision of the events sent
	}{
		{name: "a revision applied with changes", r: &Result{Revision: "r1", Counts: map[apply.Action]int{apply.Created: 2}},
			want: []string{"ready@r1", "applied@r1"}},
		{name: "the same revision again, already told", old: Status{Notified: []string{"ready@r1", "applied@r1"}},
			r: &Result{Revision: "r1", Counts: map[apply.Action]int{apply.Unchanged: 2}}},
		{name: "a bad revision stalls", r: &Result{Revision: "r2"}, err: stalled, want: []string{"stalled@r2"}},
		{name: "a fix recovers", old: Status{Error: "app/b.yaml: invalid YAML"},
			r:    &Result{Revision: "r3", Counts: map[apply.Action]int{apply.Configured: 1, apply.Deleted: 1}},
			want: []string{"ready@r3", "applied@r3", "recovered@r3", "pruned@r3"}},
		{name: "a failed fetch is told at the revision the sync is at", old: Status{LastAttemptedRevision: "r2"},
			r: &Result{}, err: &Error{Phase: PhaseFetch, Err: errors.New("connection refused")}, want: []string{"failed@r2"}},
		{name: "a sync cut short by a stopping process tells nothing", old: Status{LastAttemptedRevision: "r2", Notified: []string{"stalled@r2"}},
			r: &Result{}, err: fetchFailed, stopping: true},
		{name: "a sync that ended well as the process stops is told", r: &Result{Revision: "r4", Counts: map[apply.Action]int{apply.Created: 1}},
			stopping: true, want: []string{"ready@r4", "applied@r4"}},
		{name: "a suspended sync tells nothing", r: &Result{Revision: "r5", Suspended: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			events, sent := s.outcome(tc.old, tc.r, tc.err, tc.stopping)
			var got []string
			for _, e := range events {
				got = append(got, notifyKey(e.Kind, e.Revision))
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("events (-want +got):\n%s", diff)
			}
			if want := append(tc.old.Notified, got...); !cmp.Equal(want, sent, cmpopts.EquateEmpty()) {
				t.Errorf("record of what was sent %v, want %v", sent, want)
			}
		})
	}
}

package sync_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	gsync "github.com/gitsync-io/gitsync/pkg/sync"
)

type marked struct{ terminal bool }

func (m marked) Error() string  { return fmt.Sprintf("terminal=%v", m.terminal) }
func (m marked) Terminal() bool { return m.terminal }

func TestIsTerminal(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"an unmarked error is not terminal", errors.New("boom"), false},
		{"a marked error is terminal", marked{true}, true},
		{"a wrapped terminal error is terminal", fmt.Errorf("render: %w", marked{true}), true},
		{"a phase error takes its cause's verdict", &gsync.Error{Phase: gsync.PhaseApply, Err: marked{true}}, true},
		{"joined errors are terminal when all are", errors.Join(marked{true}, marked{true}), true},
		{"joined errors are not terminal when one may pass on a retry", errors.Join(marked{true}, marked{false}), false},
		{"a cancelled context is not terminal", context.Canceled, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := gsync.IsTerminal(tc.err); got != tc.want {
				t.Errorf("IsTerminal(%v) = %v, want %v", tc.err, got, tc.want)
			}
		})
	}
}

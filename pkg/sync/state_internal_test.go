package sync

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestStateSaysWhereASyncStandsAndWhy(t *testing.T) {
	for _, tc := range []struct {
		name   string
		st     Status
		state  State
		reason string
	}{
		{"no outcome yet", Status{}, StatePending, "it has not synced yet"},
		{"a ready sync needs no reason", Status{Ready: true}, StateReady, ""},
		{"a failure a retry may fix says when it is retried", Status{
			Error: `retrying in 30s: apply: namespaces "apps" not found`, RetryIn: &metav1.Duration{Duration: 30 * time.Second},
		}, StateFailed, `retrying in 30s: apply: namespaces "apps" not found`},
		{"an error of several lines is its first, with a count", Status{Error: "apply: 2 objects failed:\na\nb"},
			StateFailed, "apply: 2 objects failed: (and 2 more lines)"},
		{"a stall says what tries it again", Status{
			Stalled: true, Error: "apply: v1 ConfigMap apps/web: Invalid value", RetryIn: &metav1.Duration{Duration: 10 * time.Minute},
		}, StateStalled, "stalled until a new revision, gitsync sync --now or 10m0s: apply: v1 ConfigMap apps/web: Invalid value"},
		{"a stall of a one-shot sync waits for a new revision", Status{Stalled: true, Error: "render: app.yaml: invalid YAML"},
			StateStalled, "stalled until a new revision or gitsync sync --now: render: app.yaml: invalid YAML"},
		{"waiting names the dependency", Status{Waiting: "dependency db is not ready: it has not synced yet", Error: "old"},
			StateWaiting, "dependency db is not ready: it has not synced yet"},
		{"suspended wins over everything", Status{Suspended: true, Waiting: "x", Error: "y"},
			StateSuspended, "suspended: gitsync resume lets it apply again"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			state, reason := stateOf(tc.st)
			if state != tc.state || reason != tc.reason {
				t.Errorf("stateOf() = %s, %q; want %s, %q", state, reason, tc.state, tc.reason)
			}
		})
	}
}

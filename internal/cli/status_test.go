package cli

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	gsync "github.com/gitsync-io/gitsync/pkg/sync"
)

func TestStatusMessageSaysWhenGitsyncTriesAgain(t *testing.T) {
	for _, tc := range []struct {
		name string
		st   gsync.Status
		want string
	}{
		{"a ready sync has no message", gsync.Status{Ready: true}, ""},
		{"a failure a retry may fix says when it is retried", gsync.Status{
			Error: `retrying in 30s: apply: namespaces "apps" not found`, RetryIn: &metav1.Duration{Duration: 30 * time.Second},
		}, `retrying in 30s: apply: namespaces "apps" not found`},
		{"a stall says what tries it again", gsync.Status{
			Stalled: true, Error: "apply: v1 ConfigMap apps/web: Invalid value", RetryIn: &metav1.Duration{Duration: 10 * time.Minute},
		}, "stalled until a new revision, gitsync sync --now or 10m0s: apply: v1 ConfigMap apps/web: Invalid value"},
		{"a stall of a one-shot sync waits for a new revision", gsync.Status{Stalled: true, Error: "render: app.yaml: invalid YAML"},
			"stalled until a new revision or gitsync sync --now: render: app.yaml: invalid YAML"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := message(tc.st); got != tc.want {
				t.Errorf("message() = %q, want %q", got, tc.want)
			}
		})
	}
}

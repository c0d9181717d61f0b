package sync

import (
	"context"
	"math/rand/v2"
	"time"
)

// Loop runs a Syncer every interval and whenever Trigger is called. Transient
// failures are retried with exponential backoff; a terminal failure waits for
// a new revision (the Syncer does not retry the revision that stalled it).
type Loop struct {
	syncer   *Syncer
	interval time.Duration
	trigger  chan struct{}
	// OnResult, if set, sees every outcome.
	OnResult func(*Result, error)
	// Gate, if set, is asked before each sync: a non-empty answer is why the
	// sync must wait (a dependency is not Ready). The wait is recorded in the
	// status and lasts until Trigger or the next interval.
	Gate func() string
	// MaxBackoff caps the wait after repeated transient failures.
	MaxBackoff time.Duration
}

// NewLoop returns a loop syncing every interval (with ±10% jitter).
func NewLoop(s *Syncer, interval time.Duration) *Loop {
	return &Loop{syncer: s, interval: interval, trigger: make(chan struct{}, 1), MaxBackoff: 5 * time.Minute}
}

// Trigger asks for a sync now. It never blocks: triggers that arrive while
// one is pending merge into it, and the sync that runs fetches the newest
// revision.
func (l *Loop) Trigger() {
	select {
	case l.trigger <- struct{}{}:
	default:
	}
}

// Start syncs until ctx ends, then returns nil. A sync in progress when ctx
// ends is cancelled; what it applied is already in the inventory.
func (l *Loop) Start(ctx context.Context) error {
	failures := 0
	for {
		wait := jitter(l.interval)
		if reason := l.gate(); reason != "" {
			if err := l.syncer.Wait(ctx, reason); err != nil && ctx.Err() == nil {
				wait = min(backoff(1), wait)
			}
		} else {
			r, err := l.syncer.Once(ctx)
			if ctx.Err() != nil {
				return nil
			}
			if l.OnResult != nil {
				l.OnResult(r, err)
			}
			if err != nil && !IsTerminal(err) {
				failures++
				wait = min(backoff(failures), l.MaxBackoff)
			} else {
				failures = 0
			}
		}
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return nil
		case <-l.trigger:
			timer.Stop()
		case <-timer.C:
		}
	}
}

// backoff is 1s, 2s, 4s, … for the nth consecutive failure, with jitter.
func backoff(n int) time.Duration {
	d := time.Second << min(n-1, 20)
	return jitter(d)
}

func jitter(d time.Duration) time.Duration {
	return d + time.Duration((rand.Float64()-0.5)*0.2*float64(d))
}

func (l *Loop) gate() string {
	if l.Gate == nil {
		return ""
	}
	return l.Gate()
}

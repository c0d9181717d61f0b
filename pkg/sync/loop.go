package sync

import (
	"context"
	"math/rand/v2"
	"sync/atomic"
	"time"
)

// Loop runs a Syncer every interval and whenever Trigger is called. A failure
// that may pass without a new commit (a missing namespace or permission, a
// server error) is retried after 1s, 2s, 4s, … up to the interval (and 5
// minutes); a terminal one (an object the API server rejects as invalid)
// stalls its revision until a new revision, a Trigger, or ten intervals.
type Loop struct {
	syncer   *Syncer
	interval time.Duration
	trigger  chan struct{}
	// explicit: the pending trigger came from Trigger, not from wake.
	explicit atomic.Bool
	// next is when the loop steps next, in Unix nanoseconds; 0 while it
	// steps.
	next atomic.Int64
	// OnResult, if set, sees every outcome.
	OnResult func(*Result, error)
	// Gate, if set, is asked before each sync: a non-empty answer is why the
	// sync must wait (a dependency is not Ready). The wait is recorded in the
	// status and lasts until Trigger or the next interval.
	Gate func() string
}

// maxBackoff caps the wait after repeated failures when the interval is longer.
const maxBackoff = 5 * time.Minute

// NewLoop returns a loop syncing every interval (with up to ±10% jitter). It
// sets s to plan its retries for that interval.
func NewLoop(s *Syncer, interval time.Duration) *Loop {
	s.mu.Lock()
	s.retry = retryPolicy{interval: interval, backoff: min(interval, maxBackoff), stall: 10 * interval}
	s.mu.Unlock()
	return &Loop{syncer: s, interval: interval, trigger: make(chan struct{}, 1)}
}

// Trigger asks for a sync now, one that tries again even a revision whose
// terminal error stalled the sync (gitsync sync --now, a webhook push: the
// cause may have been fixed outside git). It never blocks: triggers that
// arrive while one is pending merge into it, and the sync that runs fetches
// the newest revision.
func (l *Loop) Trigger() {
	l.explicit.Store(true)
	l.wake()
}

// wake asks for a sync now that leaves a stall in place (a dependency became
// Ready: that cannot fix an invalid object).
func (l *Loop) wake() {
	select {
	case l.trigger <- struct{}{}:
	default:
	}
}

// Start syncs until ctx ends, then returns nil. A sync in progress when ctx
// ends is cancelled; what it applied is already in the inventory.
func (l *Loop) Start(ctx context.Context) error {
	for {
		wait := l.step(ctx)
		if ctx.Err() != nil {
			return nil
		}
		l.next.Store(time.Now().Add(wait).UnixNano())
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return nil
		case <-l.trigger:
			timer.Stop()
		case <-timer.C:
		}
		l.next.Store(0)
	}
}

// nextAt is when the loop syncs next; zero while it syncs.
func (l *Loop) nextAt() time.Time {
	if n := l.next.Load(); n != 0 {
		return time.Unix(0, n)
	}
	return time.Time{}
}

// step syncs once, or records why the sync waits, and returns how long to
// wait before the next step.
func (l *Loop) step(ctx context.Context) time.Duration {
	wait := jitter(l.interval)
	if reason := l.gate(); reason != "" {
		if err := l.syncer.Wait(ctx, reason); err != nil {
			wait = min(time.Second, wait)
		}
		return wait
	}
	if l.explicit.Swap(false) {
		l.syncer.unstall()
	}
	r, err := l.syncer.Once(ctx)
	if ctx.Err() != nil {
		return 0
	}
	if l.OnResult != nil {
		l.OnResult(r, err)
	}
	if r.RetryIn > 0 {
		wait = shorten(r.RetryIn)
	}
	return wait
}

// jitter spreads d by ±10%, so syncs of one interval do not run in step.
func jitter(d time.Duration) time.Duration {
	return d + time.Duration((rand.Float64()-0.5)*0.2*float64(d))
}

// shorten takes up to 10% off d: a retry spreads out without waiting longer
// than the status says.
func shorten(d time.Duration) time.Duration {
	return d - time.Duration(rand.Float64()*0.1*float64(d))
}

func (l *Loop) gate() string {
	if l.Gate == nil {
		return ""
	}
	return l.Gate()
}

package sync

import (
	"time"

	"k8s.io/apimachinery/pkg/api/meta"

	"github.com/gitsync-io/gitsync/pkg/sync/apply"
)

// retryPolicy is when a Syncer's failed sync runs again. The zero policy
// (a one-shot sync) plans no retry, and a stall lasts until a new revision.
type retryPolicy struct {
	// interval is how often the sync runs anyway.
	interval time.Duration
	// backoff caps the waits after consecutive failures a retry may fix.
	backoff time.Duration
	// stall is how long a terminal error keeps its revision from running.
	stall time.Duration
}

// delay is the wait after the nth consecutive failure a retry may fix:
// 1s, 2s, 4s, … up to p.backoff; 0 when p plans no retry.
func (p retryPolicy) delay(n int) time.Duration {
	if p.backoff <= 0 || n < 1 {
		return 0
	}
	return min(time.Second<<min(n-1, 20), p.backoff)
}

// stall is a revision that failed with a terminal error, and what that sync
// found, reported again each time the revision is not tried.
type stall struct {
	revision string
	err      error
	since    time.Time
	digest   string
	objects  int
	applied  *apply.ChangeSet
}

// stalledOn returns the stall that keeps revision from running, or nil when
// it runs: no stall, a stall of another revision, or one that has lasted as
// long as the policy allows.
func (s *Syncer) stalledOn(revision string) *stall {
	st := s.stalled
	if st == nil || st.revision != revision {
		return nil
	}
	if s.retry.stall > 0 && time.Since(st.since) >= s.retry.stall {
		s.forgetStall()
		return nil
	}
	return st
}

// unstall makes the next sync try its revision even if a terminal error
// stalled it: something outside git may have fixed the cause.
func (s *Syncer) unstall() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.forgetStall()
}

// forgetStall drops the stall, and with it the kinds the cluster served: the
// fix may have been a CustomResourceDefinition installed by someone else.
func (s *Syncer) forgetStall() {
	if s.stalled == nil {
		return
	}
	s.stalled = nil
	if m, ok := s.applier.Mapper().(meta.ResettableRESTMapper); ok {
		m.Reset()
	}
}

// stalls reports whether err stalls the revision r fetched: it is terminal.
// A terminal error before any revision (credentials, a host key) has nothing
// to stall on; it is tried again every interval.
func stalls(r *Result, err error) bool {
	return err != nil && IsTerminal(err) && r.Revision != ""
}

// remember keeps what the next sync needs of this one's outcome. A terminal
// error stalls its revision, from its first failure for as long as it stays
// stalled; any other failure plans a retry (r.RetryIn) after a backoff, or
// the interval if it came before a revision; a success forgets both.
func (s *Syncer) remember(r *Result, err error) {
	switch {
	case err == nil:
		s.stalled, s.failures = nil, 0
	case stalls(r, err):
		s.failures = 0
		if s.stalled == nil || s.stalled.revision != r.Revision {
			s.stalled = &stall{revision: r.Revision, err: err, since: time.Now(), digest: r.Digest, objects: r.Objects, applied: r.Applied}
		}
	case IsTerminal(err):
		s.failures = 0
		r.RetryIn = s.retry.interval
	default:
		s.failures++
		r.RetryIn = s.retry.delay(s.failures)
	}
}

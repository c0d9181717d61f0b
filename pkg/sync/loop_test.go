package sync

import (
	"errors"
	gosync "sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gitsync-io/gitsync/test/testenv"
)

// outcomes records a Loop's results in order.
type outcomes struct {
	mu   gosync.Mutex
	errs []error
}

func (o *outcomes) add(_ *Result, err error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.errs = append(o.errs, err)
}

func (o *outcomes) err(i int) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.errs[i]
}

func (o *outcomes) count() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.errs)
}

func newLoop(t *testing.T, f *fixture, sent *applies, interval time.Duration) (*Loop, *outcomes) {
	t.Helper()
	s, err := New(sent.client(testenv.Config(t)), f.options("app", "app"))
	if err != nil {
		t.Fatal(err)
	}
	l := NewLoop(s, interval)
	seen := &outcomes{}
	l.OnResult = seen.add
	return l, seen
}

func TestLoopCoalescesTriggers(t *testing.T) {
	f := newFixture(t)
	f.repo.Commit(t, "app", map[string]string{"app/app.yaml": configMap(f.home, "app", "key")})
	l, seen := newLoop(t, f, &applies{}, time.Hour)
	first := true
	l.OnResult = func(r *Result, err error) {
		if first { // the loop is busy with the sync that just ended
			first = false
			for range 10 {
				l.Trigger()
			}
		}
		seen.add(r, err)
	}
	run(t, l.Start)

	eventually(t, 30*time.Second, "a second sync", func() bool { return seen.count() >= 2 })
	time.Sleep(500 * time.Millisecond) // room for a third sync, which must not come
	if n := seen.count(); n != 2 {
		t.Errorf("ten triggers during a sync ran %d syncs after it, want 1", n-1)
	}
}

// TestLoopStall follows a revision whose object the API server rejects as
// invalid, with a short interval so that ten intervals pass quickly.
func TestLoopStall(t *testing.T) {
	const interval = 300 * time.Millisecond
	f := newFixture(t)
	f.repo.Commit(t, "invalid", map[string]string{"app/bad.yaml": configMap(f.home, "bad", "no spaces allowed")})
	var sent applies
	l, seen := newLoop(t, f, &sent, interval)
	run(t, l.Start)
	tries := func() []time.Time { return sent.of(f.home, "bad") }
	// triesBefore counts the attempts before ten intervals passed since the first.
	triesBefore := func() int {
		n := 0
		for _, at := range tries() {
			if at.Before(tries()[0].Add(10 * interval)) {
				n++
			}
		}
		return n
	}
	eventually(t, 30*time.Second, "a first sync", func() bool { return seen.count() >= 1 })
	if err := seen.err(0); !IsTerminal(err) {
		t.Fatalf("the invalid object failed with %v, want a terminal error", err)
	}
	first := tries()[0]

	t.Run("does not try the revision again on the interval", func(t *testing.T) {
		runs := seen.count()
		eventually(t, 5*time.Second, "three more syncs", func() bool { return seen.count() >= runs+3 })
		if n := triesBefore(); n != 1 {
			t.Errorf("the invalid object was sent %d times within ten intervals, want once", n)
		}
	})
	t.Run("does not try it again when a dependency becomes Ready", func(t *testing.T) {
		runs := seen.count()
		l.wake()
		eventually(t, 5*time.Second, "a woken sync", func() bool { return seen.count() > runs })
		if n := triesBefore(); n != 1 {
			t.Errorf("the invalid object was sent %d times within ten intervals, with a wake, want once", n)
		}
	})
	t.Run("tries it again after ten intervals", func(t *testing.T) {
		eventually(t, 20*time.Second, "a second attempt", func() bool { return len(tries()) >= 2 })
		if gap := tries()[1].Sub(first); gap < 10*interval || gap > 10*interval+2*time.Second {
			t.Errorf("tried again after %s, want after ten intervals (%s)", gap, 10*interval)
		}
	})
	t.Run("tries it again at once on Trigger (gitsync sync --now)", func(t *testing.T) {
		triggered := time.Now()
		l.Trigger()
		eventually(t, 5*time.Second, "a third attempt", func() bool { return len(tries()) >= 3 })
		if took := tries()[2].Sub(triggered); took > 2*time.Second {
			t.Errorf("tried again %s after Trigger, want at once", took)
		}
	})
}

func TestRetryPolicy(t *testing.T) {
	for _, tc := range []struct {
		name     string
		interval time.Duration
		want     []time.Duration
	}{
		{"backs off 1s, 2s, 4s, … up to the interval", 5 * time.Second,
			[]time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 5 * time.Second, 5 * time.Second}},
		{"retries every interval when the interval is shorter than a second", 300 * time.Millisecond,
			[]time.Duration{300 * time.Millisecond, 300 * time.Millisecond}},
		{"backs off up to five minutes when the interval is longer", time.Hour,
			[]time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second, 32 * time.Second,
				64 * time.Second, 128 * time.Second, 256 * time.Second, 5 * time.Minute, 5 * time.Minute}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := &Syncer{}
			NewLoop(s, tc.interval)
			var got []time.Duration
			for range tc.want {
				r := &Result{Revision: "r1"}
				s.remember(r, errors.New("namespaces \"apps\" not found"))
				got = append(got, r.RetryIn)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("waits after consecutive failures (-want +got):\n%s", diff)
			}
			if s.retry.stall != 10*tc.interval {
				t.Errorf("a stall lasts %s, want ten intervals (%s)", s.retry.stall, 10*tc.interval)
			}
		})
	}
}

func TestRemember(t *testing.T) {
	transient := errors.New("etcdserver: leader changed")
	invalid := &Error{Phase: PhaseApply, Err: terminalError{errors.New("ConfigMap bad: Invalid value")}}
	for _, tc := range []struct {
		name    string
		errs    []error // consecutive outcomes of revision r1
		retry   time.Duration
		stalled bool
	}{
		{"a success plans no retry", []error{nil}, 0, false},
		{"a success resets the backoff", []error{transient, transient, transient, nil, transient}, time.Second, false},
		{"a terminal error stalls the revision and plans no retry", []error{transient, invalid}, 0, true},
		{"a failure a retry may fix after a stall backs off from the start", []error{invalid, transient}, time.Second, true},
		{"a success ends a stall", []error{invalid, nil}, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := &Syncer{}
			NewLoop(s, time.Minute)
			var r *Result
			for _, err := range tc.errs {
				r = &Result{Revision: "r1"}
				s.remember(r, err)
			}
			if r.RetryIn != tc.retry || (s.stalled != nil) != tc.stalled {
				t.Errorf("retry in %s, stalled %v; want %s, %v", r.RetryIn, s.stalled != nil, tc.retry, tc.stalled)
			}
		})
	}

	t.Run("a stall keeps its start while the same revision stays stalled", func(t *testing.T) {
		s := &Syncer{}
		NewLoop(s, time.Minute)
		s.remember(&Result{Revision: "r1"}, invalid)
		since := s.stalled.since
		s.remember(&Result{Revision: "r1"}, invalid)
		if !s.stalled.since.Equal(since) {
			t.Errorf("the stall restarted at %s, want it kept from %s", s.stalled.since, since)
		}
		s.remember(&Result{Revision: "r2"}, invalid)
		if s.stalled.revision != "r2" || s.stalled.since.Equal(since) {
			t.Errorf("stall %+v; want a new one for r2", s.stalled)
		}
	})
}

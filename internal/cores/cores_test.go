package cores

import (
	"errors"
	"sync/atomic"
	"testing"
)

func TestEachCallsEveryIndexOnce(t *testing.T) {
	const n = 1001
	var calls [n]atomic.Int32
	if err := Each(n, func(i int) error { calls[i].Add(1); return nil }); err != nil {
		t.Fatal(err)
	}
	for i := range calls {
		if c := calls[i].Load(); c != 1 {
			t.Fatalf("index %d called %d times, want once", i, c)
		}
	}
}

func TestEachReturnsAnError(t *testing.T) {
	bad := errors.New("bad")
	err := Each(100, func(i int) error {
		if i == 57 {
			return bad
		}
		return nil
	})
	if !errors.Is(err, bad) {
		t.Fatalf("Each returned %v, want %v", err, bad)
	}
}

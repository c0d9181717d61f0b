// Package cores spreads small, independent pieces of work over every core.
package cores

import (
	"runtime"

	"golang.org/x/sync/errgroup"
)

// Each calls f for each index below n, spread over one goroutine per core,
// and returns the first error; each goroutine stops at its first error. The
// work on each of 10,000 objects (decoding, stamping, linking a file) is too
// small to hand out one at a time.
func Each(n int, f func(i int) error) error {
	var g errgroup.Group
	workers := runtime.GOMAXPROCS(0)
	for w := range workers {
		g.Go(func() error {
			for i := w; i < n; i += workers {
				if err := f(i); err != nil {
					return err
				}
			}
			return nil
		})
	}
	return g.Wait()
}

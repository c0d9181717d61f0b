// Command gitsync keeps a Kubernetes cluster equal to a git repository.
package main

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"runtime/pprof"

	"github.com/gitsync-io/gitsync/internal/cli"
)

// profileDirEnv names a directory where each gitsync process writes its CPU
// profile and, at exit, what it allocated, as cpu-<pid>.pprof and
// allocs-<pid>.pprof: how the README's profiles of whole runs were taken
// (go tool pprof -top -cum <file>).
const profileDirEnv = "GITSYNC_CPU_PROFILE_DIR"

// gcPercent is the GOGC gitsync runs with when the environment sets none.
// A running gitsync holds a large heap that lives as long as it does (the
// informers' objects, the kept renders, every sync's metrics), and Go's
// default of 100 lets the heap grow to twice that before it collects: with
// 1000 syncs, BenchmarkManySyncs peaked at 158–163 MiB, and at 140 with 75,
// at the same sync times. Prometheus chose 75 for the same reason.
const gcPercent = 75

func main() {
	if _, set := os.LookupEnv("GOGC"); !set {
		debug.SetGCPercent(gcPercent)
	}
	if dir := os.Getenv(profileDirEnv); dir != "" {
		stop, err := profile(dir)
		if err != nil {
			fmt.Fprintf(os.Stderr, "gitsync: %s: %v\n", profileDirEnv, err)
			os.Exit(2)
		}
		code := cli.Main()
		stop()
		os.Exit(code)
	}
	os.Exit(cli.Main())
}

func profile(dir string) (stop func(), err error) {
	f, err := os.Create(filepath.Join(dir, fmt.Sprintf("cpu-%d.pprof", os.Getpid())))
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
		if a, err := os.Create(filepath.Join(dir, fmt.Sprintf("allocs-%d.pprof", os.Getpid()))); err == nil {
			pprof.Lookup("allocs").WriteTo(a, 0)
			a.Close()
		}
	}, nil
}

package testenv_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/gitsync-io/gitsync/test/testenv"
)

// BenchmarkControlPlaneStart measures start-up to "controllers working" (etcd,
// apiserver, controller manager, scheduler, kwok and a Ready node) and the
// memory of each component once up. "cold" first drops the binaries from the
// page cache (for those files only), as after a fresh build or reboot; "warm"
// starts with them cached, as every later start does. The shared plane of this
// test package idles alongside.
func BenchmarkControlPlaneStart(b *testing.B) {
	bin, err := testenv.BinDir()
	if err != nil {
		b.Fatal(err)
	}
	for _, mode := range []string{"cold", "warm"} {
		b.Run(mode, func(b *testing.B) {
			for b.Loop() {
				if mode == "cold" {
					b.StopTimer()
					evictPageCache(b, bin)
					b.StartTimer()
				}
				cp, err := testenv.Start(b.Context(), testenv.Options{Workloads: true})
				if err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				report(b, cp)
				cp.Stop()
				b.StartTimer()
			}
		})
	}
}

func report(b *testing.B, cp *testenv.ControlPlane) {
	for _, m := range cp.Milestones {
		b.ReportMetric(m.After.Seconds(), "s-"+strings.ReplaceAll(m.Name, " ", "-"))
	}
	var total int64
	for _, r := range cp.RSS() {
		total += r.Bytes
		b.ReportMetric(float64(r.Bytes>>20), "MiB-"+r.Name)
	}
	b.ReportMetric(float64(total>>20), "MiB-total")
}

// evictPageCache asks the kernel to drop the cached pages of each binary.
func evictPageCache(b *testing.B, dir string) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		b.Fatal(err)
	}
	for _, e := range entries {
		f, err := os.Open(filepath.Join(dir, e.Name()))
		if err != nil {
			b.Fatal(err)
		}
		if err := unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED); err != nil {
			b.Fatal(err)
		}
		f.Close()
	}
}

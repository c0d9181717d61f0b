package chart_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/gitsync-io/gitsync/pkg/sync/chart"
	"github.com/gitsync-io/gitsync/test/charts"
	"github.com/gitsync-io/gitsync/test/testenv"
)

// BenchmarkRenderChart renders the test chart of 200 ConfigMaps: gitsync
// cold (a new Renderer each time: load, render, sort), gitsync cached (the
// chart's files and values read and found unchanged), and the helm CLI of
// the same version (`helm template`, a process each time) beside them.
func BenchmarkRenderChart(b *testing.B) {
	root := b.TempDir()
	if err := os.CopyFS(filepath.Join(root, "chart"), os.DirFS(charts.Dir(b, charts.Big))); err != nil {
		b.Fatal(err)
	}
	spec := chart.Spec{Path: "chart", ReleaseName: "big"}
	b.Run("gitsync/cold", func(b *testing.B) {
		for b.Loop() {
			if _, err := chart.New(nil).Render(b.Context(), root, spec, caps); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("gitsync/cached", func(b *testing.B) {
		r := chart.New(nil)
		if _, err := r.Render(b.Context(), root, spec, caps); err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			if out, err := r.Render(b.Context(), root, spec, caps); err != nil || !out.Cached {
				b.Fatalf("cached %v, %v", out != nil && out.Cached, err)
			}
		}
	})
	b.Run("helm-template", func(b *testing.B) {
		bin, err := testenv.Binary("helm")
		if err != nil {
			b.Fatal(err)
		}
		home := b.TempDir()
		for b.Loop() {
			cmd := exec.CommandContext(b.Context(), bin, append([]string{"template", "big", filepath.Join(root, "chart")}, capsFlags()...)...)
			cmd.Env = []string{"HOME=" + home, "HELM_CONFIG_HOME=" + home, "HELM_CACHE_HOME=" + home, "HELM_DATA_HOME=" + home, "KUBECONFIG=" + home + "/none"}
			if out, err := cmd.CombinedOutput(); err != nil {
				b.Fatalf("%v: %s", err, out)
			}
		}
	})
}

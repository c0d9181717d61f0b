package render

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// largeOverlay writes an overlay of n resources (a third each ConfigMaps,
// Deployments and Services, one file each) in ten bases, with a namePrefix,
// common labels (labels with includeSelectors, which replaced commonLabels),
// a configMapGenerator and a patch of every Deployment: the
// shape of issue 15's large trees. It returns the repository root; the
// overlay is "overlay".
func largeOverlay(t testing.TB, n int) string {
	root := t.TempDir()
	files := map[string]string{}
	var bases strings.Builder
	for b := range 10 {
		var list strings.Builder
		for i := b * n / 10; i < (b+1)*n/10; i++ {
			name := fmt.Sprintf("%05d.yaml", i)
			files[fmt.Sprintf("base%d/%s", b, name)] = benchObject(i)
			list.WriteString("- " + name + "\n")
		}
		files[fmt.Sprintf("base%d/kustomization.yaml", b)] = "resources:\n" + list.String()
		fmt.Fprintf(&bases, "- ../base%d\n", b)
	}
	files["overlay/kustomization.yaml"] = "namePrefix: prod-\nlabels:\n- pairs: {team: payments}\n  includeSelectors: true\nresources:\n" + bases.String() +
		"configMapGenerator:\n- name: settings\n  literals: [mode=prod, replicas=3]\n" +
		"patches:\n- target: {kind: Deployment}\n  patch: |\n    - {op: replace, path: /spec/replicas, value: 3}\n"
	writeTree(t, root, files)
	return root
}

func TestLargeOverlayIsWhatKustomizeBuilds(t *testing.T) {
	const n = 400
	root := largeOverlay(t, n)
	res, err := New().Render(t.Context(), root, "overlay")
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Objects) != n+1 {
		t.Errorf("%d objects, want %d and the generated ConfigMap", len(res.Objects), n)
	}
	got, err := res.YAML()
	if err != nil {
		t.Fatal(err)
	}
	if want := kustomizeCLI(t, root+"/overlay"); string(got) != string(want) {
		t.Errorf("the render of %d resources differs from kustomize build (%d bytes against %d)", n, len(got), len(want))
	}
}

// BenchmarkRenderLarge renders an overlay of 4000 resources (largeOverlay):
// cold (a new Renderer), cached (the inputs checked again, nothing built), and
// kustomize build of the same directory with the pinned kustomize/api
// beside it. kustomize's krusty grows about quadratically with the number of
// resources; README, Performance, has where the time goes.
func BenchmarkRenderLarge(b *testing.B) {
	const n = 4000
	root := largeOverlay(b, n)
	b.Run("cold", func(b *testing.B) {
		for b.Loop() {
			if res, err := New().Render(b.Context(), root, "overlay"); err != nil || len(res.Objects) != n+1 {
				b.Fatalf("render: %v", err)
			}
		}
	})
	b.Run("cached", func(b *testing.B) {
		r := New()
		if _, err := r.Render(b.Context(), root, "overlay"); err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			if res, err := r.Render(b.Context(), root, "overlay"); err != nil || !res.Cached {
				b.Fatalf("cached render: %v", err)
			}
		}
	})
	b.Run("kustomize-build", func(b *testing.B) {
		for b.Loop() {
			start := time.Now()
			kustomizeCLI(b, root+"/overlay")
			b.ReportMetric(time.Since(start).Seconds(), "s")
		}
	})
}

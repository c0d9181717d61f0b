package render

import (
	"fmt"
	"strings"
	"testing"
)

// BenchmarkRender renders n objects (a third each ConfigMaps, Deployments and Services, one
// file per object) as a plain directory and as a kustomization listing the files: cold (a new
// Renderer every time) and cached (the inputs re-checked, nothing rebuilt).
func BenchmarkRender(b *testing.B) {
	for _, layout := range []string{"plain", "kustomization"} {
		for _, n := range []int{100, 1000} {
			root := benchRepository(b, n, layout == "kustomization")
			b.Run(fmt.Sprintf("%s/%d/cold", layout, n), func(b *testing.B) {
				for b.Loop() {
					benchRender(b, New(), root, n, false)
				}
			})
			b.Run(fmt.Sprintf("%s/%d/cached", layout, n), func(b *testing.B) {
				r := New()
				benchRender(b, r, root, n, false)
				for b.Loop() {
					benchRender(b, r, root, n, true)
				}
			})
		}
	}
}

func benchRender(b *testing.B, r *Renderer, root string, n int, cached bool) {
	res, err := r.Render(b.Context(), root, "app")
	if err != nil {
		b.Fatal(err)
	}
	if len(res.Objects) != n || res.Cached != cached {
		b.Fatalf("%d objects, cached = %v; want %d, %v", len(res.Objects), res.Cached, n, cached)
	}
}

func benchRepository(b *testing.B, n int, kustomization bool) string {
	root := b.TempDir()
	files := map[string]string{}
	var list strings.Builder
	for i := range n {
		name := fmt.Sprintf("%04d.yaml", i)
		files["app/"+name] = benchObject(i)
		list.WriteString("- " + name + "\n")
	}
	if kustomization {
		files["app/kustomization.yaml"] = "resources:\n" + list.String()
	}
	writeTree(b, root, files)
	return root
}

func benchObject(i int) string {
	switch i % 3 {
	case 0:
		return fmt.Sprintf("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app-%d\n  namespace: bench\ndata:\n  key: value-%d\n", i, i)
	case 1:
		return fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata:
  name: app-%[1]d
  namespace: bench
spec:
  replicas: 2
  selector:
    matchLabels: {app: app-%[1]d}
  template:
    metadata:
      labels: {app: app-%[1]d}
    spec:
      containers:
      - name: app
        image: nginx:1.27
        ports:
        - containerPort: 80
`, i)
	}
	return fmt.Sprintf("apiVersion: v1\nkind: Service\nmetadata:\n  name: app-%[1]d\n  namespace: bench\nspec:\n  selector: {app: app-%[1]d}\n  ports:\n  - port: 80\n", i)
}

// BenchmarkRenderChange renders a new snapshot of a plain directory of n
// objects in which one file changed since the last render, as a long-running
// sync does at each push: a Shared Renderer that keeps its renders on disk,
// given the snapshot's git blobs.
func BenchmarkRenderChange(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		b.Run(fmt.Sprintf("plain/%d", n), func(b *testing.B) {
			files := map[string]string{}
			for i := range n {
				files[fmt.Sprintf("app/%05d.yaml", i)] = benchObject(i)
			}
			r := New(Options{CacheDir: b.TempDir(), Shared: true, WriteBehind: true})
			snapshot := func(change int) (string, map[string]string) {
				files["app/00000.yaml"] = strings.Replace(benchObject(0), "value-0", fmt.Sprintf("change-%d", change), 1)
				root := b.TempDir()
				writeTree(b, root, files)
				return root, blobsOf(files)
			}
			render := func(root string, blobs map[string]string) {
				res, err := r.RenderSnapshot(b.Context(), root, blobs, "app")
				if err != nil || len(res.Objects) != n {
					b.Fatalf("render: %d objects, %v; want %d", len(res.Objects), err, n)
				}
				res.Kept() // a sync waits for that by the end of its run
			}
			render(snapshot(0))
			roots := [2]string{}
			blobs := [2]map[string]string{}
			for i := range roots {
				roots[i], blobs[i] = snapshot(i + 1)
			}
			i := 0
			for b.Loop() {
				render(roots[i%2], blobs[i%2])
				i++
			}
		})
	}
}

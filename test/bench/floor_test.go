package bench

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/yaml"

	"github.com/gitsync-io/gitsync/test/testenv"
)

// floorRunner is what no engine can beat by much: a bare 32-way parallel
// server-side apply of exactly the objects that changed (it is told which),
// one LIST per kind for a no-op, 32-way parallel deletes for a prune, and a
// LIST poll until the Deployments are available. It has no render, no
// inventory and no drift detection; it runs in the benchmark's process.
type floorRunner struct {
	dc    dynamic.Interface
	proxy *testenv.Proxy
	w     workload
	last  map[string]string // path → manifest of the previous step
}

var floorResources = map[string]schema.GroupVersionResource{
	"Namespace":  {Version: "v1", Resource: "namespaces"},
	"ConfigMap":  {Version: "v1", Resource: "configmaps"},
	"Service":    {Version: "v1", Resource: "services"},
	"Deployment": {Group: "apps", Version: "v1", Resource: "deployments"},
}

func newFloorRunner(b *testing.B, proxy *testenv.Proxy, w workload) *floorRunner {
	b.Helper()
	cfg, err := clientcmd.BuildConfigFromFlags("", proxy.Kubeconfig)
	if err != nil {
		b.Fatal(err)
	}
	cfg.QPS, cfg.Burst = -1, 0 // no client-side rate limit at all
	dc, err := dynamic.NewForConfig(cfg)
	if err != nil {
		b.Fatal(err)
	}
	return &floorRunner{dc: dc, proxy: proxy, w: w, last: map[string]string{}}
}

func (f *floorRunner) run(b *testing.B, s step) row {
	files := s.files(f.w)
	var apply, del []string
	for path, content := range files {
		if f.last[path] != content {
			apply = append(apply, content)
		}
	}
	for path, content := range f.last {
		if _, ok := files[path]; !ok && !strings.Contains(content, "kind: Namespace") {
			del = append(del, content)
		}
	}
	f.last = files
	before := f.proxy.Requests()
	start := time.Now()
	ctx := b.Context()
	if len(apply) == 0 && len(del) == 0 {
		f.check(b, ctx)
	}
	f.parallel(b, ctx, namespacesFirst(apply), f.apply)
	applied := time.Since(start)
	f.parallel(b, ctx, [][]string{del}, f.delete)
	pruned := time.Since(start) - applied
	f.waitAvailable(b, ctx)
	wall := time.Since(start)
	reqs := map[string]int{}
	for m, c := range f.proxy.Requests() {
		if d := c - before[m]; d > 0 {
			reqs[m] = d
		}
	}
	return row{
		step: s.name, tool: "floor", wall: wall, requests: reqs,
		phases:  map[string]float64{"apply": applied.Seconds(), "prune": pruned.Seconds(), "health": (wall - applied - pruned).Seconds()},
		summary: fmt.Sprintf("%d applied, %d deleted", len(apply), len(del)),
	}
}

// check is the no-op: one LIST per kind, as a drift check would do.
func (f *floorRunner) check(b *testing.B, ctx context.Context) {
	g, ctx := errgroup.WithContext(ctx)
	for _, gvr := range floorResources {
		g.Go(func() error {
			_, err := f.dc.Resource(gvr).List(ctx, metav1.ListOptions{LabelSelector: "bench=" + f.w.label})
			return err
		})
	}
	if err := g.Wait(); err != nil {
		b.Fatal(err)
	}
}

// parallel runs op on every manifest, 32 at a time.
func (f *floorRunner) parallel(b *testing.B, ctx context.Context, manifests [][]string, op func(context.Context, *unstructured.Unstructured) error) {
	for _, wave := range manifests {
		g, ctx := errgroup.WithContext(ctx)
		g.SetLimit(32)
		for _, m := range wave {
			g.Go(func() error {
				u := &unstructured.Unstructured{}
				if err := yaml.Unmarshal([]byte(m), &u.Object); err != nil {
					return err
				}
				return op(ctx, u)
			})
		}
		if err := g.Wait(); err != nil {
			b.Fatal(err)
		}
	}
}

func (f *floorRunner) apply(ctx context.Context, u *unstructured.Unstructured) error {
	data, err := u.MarshalJSON()
	if err != nil {
		return err
	}
	force := true
	_, err = f.dc.Resource(floorResources[u.GetKind()]).Namespace(u.GetNamespace()).
		Patch(ctx, u.GetName(), types.ApplyPatchType, data, metav1.PatchOptions{FieldManager: "floor", Force: &force})
	return err
}

func (f *floorRunner) delete(ctx context.Context, u *unstructured.Unstructured) error {
	err := f.dc.Resource(floorResources[u.GetKind()]).Namespace(u.GetNamespace()).Delete(ctx, u.GetName(), metav1.DeleteOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

// waitAvailable polls one LIST of the Deployments until all are available.
func (f *floorRunner) waitAvailable(b *testing.B, ctx context.Context) {
	err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 10*time.Minute, true, func(ctx context.Context) (bool, error) {
		list, err := f.dc.Resource(floorResources["Deployment"]).List(ctx, metav1.ListOptions{LabelSelector: "bench=" + f.w.label})
		if err != nil {
			return false, err
		}
		for _, d := range list.Items {
			want, _, _ := unstructured.NestedInt64(d.Object, "spec", "replicas")
			got, _, _ := unstructured.NestedInt64(d.Object, "status", "availableReplicas")
			gen, _, _ := unstructured.NestedInt64(d.Object, "status", "observedGeneration")
			if got != want || gen != d.GetGeneration() {
				return false, nil
			}
		}
		return true, nil
	})
	if err != nil {
		b.Fatal(err)
	}
}

// namespacesFirst splits manifests into Namespaces, then everything else.
func namespacesFirst(manifests []string) [][]string {
	byFirst := map[bool][]string{}
	for _, m := range manifests {
		ns := strings.Contains(m, "kind: Namespace\n")
		byFirst[ns] = append(byFirst[ns], m)
	}
	return [][]string{byFirst[true], byFirst[false]}
}

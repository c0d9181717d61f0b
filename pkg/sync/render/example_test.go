package render_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/gitsync-io/gitsync/pkg/sync/render"
)

func ExampleRenderer_Render() {
	r := render.New() // one per process: it holds the cache
	res, err := r.Render(context.Background(), "testdata/repo", "overlays/prod")
	if err != nil {
		var terminal interface{ Terminal() bool }
		if errors.As(err, &terminal) && terminal.Terminal() {
			fmt.Println("fix the repository:", err) // retrying the same revision will not help
		}
		return
	}
	for _, obj := range res.Objects {
		fmt.Println(obj.GetAPIVersion(), obj.GetKind(), obj.GetNamespace()+"/"+obj.GetName())
	}
	again, _ := r.Render(context.Background(), "testdata/repo", "overlays/prod")
	fmt.Println("cached:", again.Cached, "same digest:", again.Digest == res.Digest)
	// Output:
	// v1 ConfigMap prod/nginx-config-9gdf588f6k
	// v1 Service prod/nginx-http
	// apps/v1 Deployment prod/nginx
	// policy/v1 PodDisruptionBudget prod/nginx
	// cached: true same digest: true
}

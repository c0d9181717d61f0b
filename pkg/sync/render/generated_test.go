package render

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// chartOutput is objects as a Helm chart renders them.
const chartOutput = `---
# Source: app/templates/configmap.yaml
apiVersion: v1
kind: ConfigMap
metadata:
  name: web
data:
  color: blue
---
# Source: app/templates/service.yaml
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  ports:
  - port: 80
`

func TestRenderWithGenerated(t *testing.T) {
	root := t.TempDir()
	writeTree(t, root, map[string]string{
		"post/kustomization.yaml": "resources: [extra.yaml]\nnamePrefix: prod-\npatches:\n- patch: |-\n    apiVersion: v1\n    kind: ConfigMap\n    metadata: {name: web}\n    data: {color: green}\n",
		"post/extra.yaml":         "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: extra}\n",
		"plain/extra.yaml":        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: extra}\n",
	})
	gen := &Generated{Name: "helm release web", Data: []byte(chartOutput)}
	for _, tc := range []struct {
		name, path string
		want       []string
	}{
		{"alone", "", []string{"v1 ConfigMap web", "v1 Service web"}},
		{"as the first resource of a kustomization, which patches them", "post", []string{"v1 ConfigMap prod-extra", "v1 ConfigMap prod-web", "v1 Service prod-web"}},
		{"before the objects of a plain directory", "plain", []string{"v1 ConfigMap web", "v1 Service web", "v1 ConfigMap extra"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := New().RenderWith(t.Context(), root, nil, tc.path, gen)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, describeAll(res.Objects)); diff != "" {
				t.Errorf("objects (-want +got):\n%s", diff)
			}
		})
	}
	t.Run("the kustomization's patch applies to them", func(t *testing.T) {
		res, err := New().RenderWith(t.Context(), root, nil, "post", gen)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range res.Objects {
			if o.GetName() == "prod-web" && o.GetKind() == "ConfigMap" && o.Object["data"].(map[string]any)["color"] != "green" {
				t.Errorf("the chart's ConfigMap was not patched: %v", o.Object["data"])
			}
		}
	})
	t.Run("a render is reused only with the same generated objects", func(t *testing.T) {
		dir := t.TempDir()
		r := New(Options{CacheDir: dir})
		first, err := r.RenderWith(t.Context(), root, nil, "plain", gen)
		if err != nil {
			t.Fatal(err)
		}
		plain, err := r.RenderWith(t.Context(), root, nil, "plain", nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(plain.Objects) != 1 {
			t.Fatalf("the same path without them: %v; want the directory's one object", describeAll(plain.Objects))
		}
		again, err := r.RenderWith(t.Context(), root, nil, "plain", gen)
		if err != nil || !again.Cached || again.Digest != first.Digest || len(again.Objects) != 3 {
			t.Errorf("the same again: cached %t, %d objects, digest %s (first %s), %v", again.Cached, len(again.Objects), again.Digest, first.Digest, err)
		}
		changed := &Generated{Name: gen.Name, Data: []byte(strings.Replace(chartOutput, "blue", "red", 1))}
		next, err := r.RenderWith(t.Context(), root, nil, "plain", changed)
		if err != nil || next.Cached || next.Digest == first.Digest {
			t.Errorf("after the chart changed: cached %t, digest %s, %v; want a new render", next.Cached, next.Digest, err)
		}
		fresh, err := New(Options{CacheDir: dir}).RenderWith(t.Context(), root, nil, "plain", changed)
		if err != nil || !fresh.Cached || fresh.Digest != next.Digest {
			t.Errorf("a new process: cached %t, %v; want the render kept on disk", fresh.Cached, err)
		}
	})
	t.Run("a bad document names the chart", func(t *testing.T) {
		bad := &Generated{Name: "helm release web", Data: []byte("apiVersion: v1\nkind: ConfigMap\n")}
		_, err := New().RenderWith(t.Context(), root, nil, "", bad)
		if err == nil || !strings.HasPrefix(err.Error(), "helm release web") {
			t.Errorf("error %v, want one naming the chart's release", err)
		}
	})
}

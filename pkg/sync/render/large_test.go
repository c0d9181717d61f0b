package render

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
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
// the released kustomize build of the same directory beside it. The released
// kustomize grows with the square of the number of resources, gitsync's
// patched copy about linearly (third_party/README.md).
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

// TestPatchedKustomizeIsKustomize holds the paths third_party/kustomize-api.patch
// changes to the released kustomize CLI: ids compared when resources are
// appended (files, bases, the final sort), the resources a name reference may
// point at (namespaces, RoleBinding subjects, cluster-scoped referrers) and
// the local-config intersection. Where kustomize builds, gitsync renders the
// same bytes; where it fails, gitsync fails on the same id.
func TestPatchedKustomizeIsKustomize(t *testing.T) {
	const (
		cm      = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: %s\n%sdata:\n  k: v\n"
		sa      = "apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: robot\n  namespace: %s\n"
		binding = `apiVersion: rbac.authorization.k8s.io/v1
kind: %s
metadata:
  name: read
%sroleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: view}
subjects:
- {kind: ServiceAccount, name: robot, namespace: team-a}
- {kind: ServiceAccount, name: robot, namespace: team-b}
`
		pod = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: %s
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      serviceAccountName: robot
      containers:
      - name: web
        image: nginx
        envFrom: [{configMapRef: {name: settings}}]
`
	)
	cases := []struct {
		name  string
		files map[string]string
		// dup is the id kustomize must refuse, empty when both must build;
		// refused is what the render's error says, when not kustomize's words.
		dup, refused string
	}{{
		name: "references across namespaces, from a RoleBinding and a ClusterRoleBinding",
		files: map[string]string{
			"app/kustomization.yaml": "namePrefix: p-\nresources: [sa-a.yaml, sa-b.yaml, rb.yaml, crb.yaml, cm-a.yaml, cm-b.yaml, web-a.yaml, web-b.yaml]\n",
			"app/sa-a.yaml":          fmt.Sprintf(sa, "team-a"),
			"app/sa-b.yaml":          fmt.Sprintf(sa, "team-b"),
			"app/rb.yaml":            fmt.Sprintf(binding, "RoleBinding", "  namespace: team-a\n"),
			"app/crb.yaml":           fmt.Sprintf(binding, "ClusterRoleBinding", ""),
			"app/cm-a.yaml":          fmt.Sprintf(cm, "settings", "  namespace: team-a\n"),
			"app/cm-b.yaml":          fmt.Sprintf(cm, "settings", "  namespace: team-b\n"),
			"app/web-a.yaml":         fmt.Sprintf(pod, "team-a"),
			"app/web-b.yaml":         fmt.Sprintf(pod, "team-b"),
		},
	}, {
		name: "bases renamed before they are appended, and a local config left out",
		files: map[string]string{
			"app/kustomization.yaml": "resources: [../one, ../two, local.yaml]\nnamespace: shop\n",
			"app/local.yaml":         "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: local\n  annotations: {config.kubernetes.io/local-config: \"true\"}\n",
			"one/kustomization.yaml": "namePrefix: one-\nresources: [cm.yaml]\n",
			"one/cm.yaml":            fmt.Sprintf(cm, "x", ""),
			"two/kustomization.yaml": "namePrefix: two-\nresources: [cm.yaml]\n",
			"two/cm.yaml":            fmt.Sprintf(cm, "x", ""),
		},
	}, {
		name: "components that add resources to an accumulation and rename what it holds",
		files: map[string]string{
			"app/kustomization.yaml":   "resources: [cm.yaml, ../base]\ncomponents: [../extra, ../rename]\n",
			"app/cm.yaml":              fmt.Sprintf(cm, "settings", ""),
			"base/kustomization.yaml":  "resources: [web.yaml]\n",
			"base/web.yaml":            fmt.Sprintf(pod, "default"),
			"extra/kustomization.yaml": "apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\nresources: [more.yaml]\n",
			"extra/more.yaml":          fmt.Sprintf(cm, "more", ""),
			"rename/kustomization.yaml": "apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\nnameSuffix: -v2\n" +
				"resources: [late.yaml]\n",
			"rename/late.yaml": fmt.Sprintf(cm, "late", ""),
		},
	}, {
		name: "a component that adds an id the component before it renamed away",
		files: map[string]string{
			"app/kustomization.yaml":    "resources: [cm.yaml]\ncomponents: [../rename, ../readd]\n",
			"app/cm.yaml":               fmt.Sprintf(cm, "settings", ""),
			"rename/kustomization.yaml": "apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\nnameSuffix: -old\n",
			"readd/kustomization.yaml":  "apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\nresources: [cm.yaml]\n",
			"readd/cm.yaml":             fmt.Sprintf(cm, "settings", ""),
		},
	}, {
		name: "a component whose resource repeats an id the accumulation holds",
		files: map[string]string{
			"app/kustomization.yaml":   "resources: [cm.yaml]\ncomponents: [../extra]\n",
			"app/cm.yaml":              fmt.Sprintf(cm, "settings", ""),
			"extra/kustomization.yaml": "apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\nresources: [cm.yaml]\n",
			"extra/cm.yaml":            fmt.Sprintf(cm, "settings", ""),
		},
		dup: "ConfigMap.v1.[noGrp]/settings.[noNs]",
	}, {
		name: "the same id in two files",
		files: map[string]string{
			"app/kustomization.yaml": "resources: [a.yaml, b.yaml]\n",
			"app/a.yaml":             fmt.Sprintf(cm, "x", ""),
			"app/b.yaml":             fmt.Sprintf(cm, "x", "  namespace: default\n"),
		},
		dup: "ConfigMap.v1.[noGrp]/x.default",
	}, {
		name: "the same id twice in one file",
		files: map[string]string{
			"app/kustomization.yaml": "resources: [a.yaml]\n",
			"app/a.yaml":             fmt.Sprintf(cm, "x", "  namespace: n\n") + "---\n" + fmt.Sprintf(cm, "x", "  namespace: n\n"),
		},
		dup:     "ConfigMap.v1.[noGrp]/x.n",
		refused: "app/a.yaml: v1 ConfigMap n/x: duplicate object", // gitsync reads files itself
	}, {
		name: "a base renamed onto a file's id",
		files: map[string]string{
			"app/kustomization.yaml": "resources: [one-x.yaml, ../one]\n",
			"app/one-x.yaml":         fmt.Sprintf(cm, "one-x", ""),
			"one/kustomization.yaml": "namePrefix: one-\nresources: [cm.yaml]\n",
			"one/cm.yaml":            fmt.Sprintf(cm, "x", ""),
		},
		dup: "ConfigMap.v1.[noGrp]/one-x.[noNs]",
	}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			writeTree(t, root, tc.files)
			res, err := New().Render(t.Context(), root, "app")
			want, cliErr := kustomizeCLIBuild(t, filepath.Join(root, "app"))
			if tc.dup == "" {
				if err != nil || cliErr != nil {
					t.Fatalf("render: %v; kustomize build: %v", err, cliErr)
				}
				if diff := cmp.Diff(string(want), string(yamlOf(t, res))); diff != "" {
					t.Errorf("YAML (-kustomize +render):\n%s", diff)
				}
				return
			}
			refusal := "may not add resource with an already registered id: " + tc.dup
			if cliErr == nil || !strings.Contains(cliErr.Error(), refusal) {
				t.Errorf("kustomize build: %v, want %q", cliErr, refusal)
			}
			if tc.refused != "" {
				refusal = tc.refused
			}
			if err == nil || !strings.Contains(err.Error(), refusal) {
				t.Errorf("render: %v, want %q", err, refusal)
			}
		})
	}
}

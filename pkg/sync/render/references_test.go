package render

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const configMap = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app\n"

func TestKustomizationReferencesStayInTheRepository(t *testing.T) {
	cases := []badRepo{
		{
			name:   "refuses a base that leaves the repository with ../",
			files:  map[string]string{"app/kustomization.yaml": "resources: [../../outside]\n"},
			path:   "app",
			want:   Error{Problem: OutsideRepository, File: "app/kustomization.yaml"},
			detail: `resources entry "../../outside" resolves to "../outside", outside the repository`,
		},
		{
			name:   "refuses an absolute path",
			files:  map[string]string{"app/kustomization.yaml": "resources: [/etc/passwd]\n"},
			path:   "app",
			want:   Error{Problem: OutsideRepository, File: "app/kustomization.yaml"},
			detail: `resources entry "/etc/passwd" is an absolute path`,
		},
		{
			name:   "refuses a resource that is a symlink to /etc/passwd",
			files:  map[string]string{"app/kustomization.yaml": "resources: [passwd.yaml]\n"},
			links:  map[string]string{"app/passwd.yaml": "/etc/passwd"},
			path:   "app",
			want:   Error{Problem: OutsideRepository, File: "app/kustomization.yaml"},
			detail: `"app/passwd.yaml" is a symlink to "/etc/passwd", outside the repository`,
		},
		{
			name:   "refuses a base that is a symlink to a directory outside",
			files:  map[string]string{"app/kustomization.yaml": "resources: [base]\n"},
			links:  map[string]string{"app/base": "OUTSIDE"},
			path:   "app",
			want:   Error{Problem: OutsideRepository, File: "app/kustomization.yaml"},
			detail: `"app/base" is a symlink to`,
		},
		{
			name:   "refuses a relative symlink that climbs out of the repository",
			files:  map[string]string{"app/kustomization.yaml": "resources: [up/secret.yaml]\n"},
			links:  map[string]string{"app/up": "../../outside"},
			path:   "app",
			want:   Error{Problem: OutsideRepository, File: "app/kustomization.yaml"},
			detail: `"app/up" is a symlink to "../../outside"`,
		},
		{
			name:   "refuses a patch file that is a symlink outside",
			files:  map[string]string{"app/kustomization.yaml": "resources: [cm.yaml]\npatches:\n- path: patch.yaml\n", "app/cm.yaml": configMap},
			links:  map[string]string{"app/patch.yaml": "OUTSIDE/secret.yaml"},
			path:   "app",
			want:   Error{Problem: OutsideRepository, File: "app/kustomization.yaml"},
			detail: `"app/patch.yaml" is a symlink to`,
		},
		{
			name:   "refuses a kustomization file that is a symlink outside",
			files:  map[string]string{"app/cm.yaml": configMap},
			links:  map[string]string{"app/kustomization.yaml": "OUTSIDE/kustomization.yaml"},
			path:   "app",
			want:   Error{Problem: OutsideRepository, File: "app"},
			detail: `"app/kustomization.yaml" is a symlink to`,
		},
		{
			name: "refuses a base whose kustomization file is a symlink outside, naming the overlay",
			files: map[string]string{"app/kustomization.yaml": "resources: [../base]\n",
				"base/cm.yaml": configMap},
			links:  map[string]string{"base/kustomization.yaml": "OUTSIDE/kustomization.yaml"},
			path:   "app",
			want:   Error{Problem: OutsideRepository, File: "app/kustomization.yaml"},
			detail: `"base/kustomization.yaml" is a symlink to`,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, tc.test)
	}
}

func TestKustomizationReferencesMustExist(t *testing.T) {
	cases := []badRepo{
		{
			name:   "reports a missing resource file",
			files:  map[string]string{"app/kustomization.yaml": "resources:\n- cm.yaml\n- missing.yaml\n", "app/cm.yaml": configMap},
			path:   "app",
			want:   Error{Problem: MissingFile, File: "app/kustomization.yaml"},
			detail: `resources entry "missing.yaml": "app/missing.yaml" does not exist`,
		},
		{
			name:   "reports a missing patch file",
			files:  map[string]string{"app/kustomization.yaml": "resources: [cm.yaml]\npatches:\n- path: nope.yaml\n", "app/cm.yaml": configMap},
			path:   "app",
			want:   Error{Problem: MissingFile, File: "app/kustomization.yaml"},
			detail: `patches entry "nope.yaml": "app/nope.yaml" does not exist`,
		},
		{
			name: "reports a missing generator file in a base, naming the base's kustomization",
			files: map[string]string{"app/kustomization.yaml": "resources: [../base]\n",
				"base/kustomization.yaml": "configMapGenerator:\n- name: conf\n  files: [nginx.conf=conf/nginx.conf]\n"},
			path:   "app",
			want:   Error{Problem: MissingFile, File: "base/kustomization.yaml"},
			detail: `configMapGenerator entry "conf/nginx.conf": "base/conf/nginx.conf" does not exist`,
		},
		{
			name:   "reports an entry too long to be a file name as missing",
			files:  map[string]string{"app/kustomization.yaml": "resources: [" + strings.Repeat("x", 300) + "]\n"},
			path:   "app",
			want:   Error{Problem: MissingFile, File: "app/kustomization.yaml"},
			detail: "does not exist",
		},
		{
			name:   "reports a base directory without a kustomization",
			files:  map[string]string{"app/kustomization.yaml": "resources: [../lib]\n", "lib/cm.yaml": configMap},
			path:   "app",
			want:   Error{Problem: MissingFile, File: "app/kustomization.yaml"},
			detail: `resources entry "../lib": directory "lib" has no kustomization.yaml`,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, tc.test)
	}
}

func TestKustomizationMustBeValid(t *testing.T) {
	cases := []badRepo{
		{
			name:   "reports invalid YAML in a kustomization with its line",
			files:  map[string]string{"app/kustomization.yaml": "resources:\n- cm.yaml\nnamespace: [web\n"},
			path:   "app",
			want:   Error{Problem: InvalidYAML, File: "app/kustomization.yaml", Line: 3},
			detail: "did not find expected",
		},
		{
			name:   "reports an unknown kustomization field",
			files:  map[string]string{"app/kustomization.yaml": "resource: [cm.yaml]\n", "app/cm.yaml": configMap},
			path:   "app",
			want:   Error{Problem: InvalidKustomization, File: "app/kustomization.yaml"},
			detail: `unknown field "resource"`,
		},
		{
			name:   "refuses helm charts",
			files:  map[string]string{"app/kustomization.yaml": "helmCharts:\n- name: nginx\n  repo: https://charts.example.com\n"},
			path:   "app",
			want:   Error{Problem: Unsupported, File: "app/kustomization.yaml"},
			detail: "helmCharts",
		},
		{
			name: "refuses a helm chart generator configured in a file",
			files: map[string]string{"app/kustomization.yaml": "generators: [chart.yaml]\n",
				"app/chart.yaml": "apiVersion: builtin\nkind: HelmChartInflationGenerator\nmetadata:\n  name: nginx\nname: nginx\n"},
			path:   "app",
			want:   Error{Problem: Unsupported, File: "app/chart.yaml", Object: "builtin HelmChartInflationGenerator nginx"},
			detail: "helm",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, tc.test)
	}
}

func TestRemoteReferencesAreRefused(t *testing.T) {
	cases := []badRepo{
		{
			name:   "refuses a remote base on GitHub",
			files:  map[string]string{"app/kustomization.yaml": "resources:\n- https://github.com/acme/platform//base?ref=v1.0.0\n"},
			path:   "app",
			want:   Error{Problem: RemoteRefused, File: "app/kustomization.yaml"},
			detail: `resources entry "https://github.com/acme/platform//base?ref=v1.0.0" would be fetched from the network`,
		},
		{
			name:   "refuses the github.com shorthand",
			files:  map[string]string{"app/kustomization.yaml": "resources: [github.com/acme/platform/base]\n"},
			path:   "app",
			want:   Error{Problem: RemoteRefused, File: "app/kustomization.yaml"},
			detail: "github.com/acme/platform/base",
		},
		{
			name:   "refuses an scp-style git URL in components",
			files:  map[string]string{"app/kustomization.yaml": "components: [git@gitlab.example.com:acme/platform.git//monitoring]\n"},
			path:   "app",
			want:   Error{Problem: RemoteRefused, File: "app/kustomization.yaml"},
			detail: "components entry",
		},
		{
			name:   "refuses a file:// URL, which kustomize would clone with git",
			files:  map[string]string{"app/kustomization.yaml": "resources: [file:///srv/git/platform.git]\n"},
			path:   "app",
			want:   Error{Problem: RemoteRefused, File: "app/kustomization.yaml"},
			detail: "file:///srv/git/platform.git",
		},
		{
			name: "refuses a remote patch in a base",
			files: map[string]string{"app/kustomization.yaml": "resources: [../base]\n",
				"base/kustomization.yaml": "resources: [cm.yaml]\npatches:\n- path: https://example.com/patch.yaml\n", "base/cm.yaml": configMap},
			path:   "app",
			want:   Error{Problem: RemoteRefused, File: "base/kustomization.yaml"},
			detail: "patches entry",
		},
		{
			name:   "refuses a remote generator file",
			files:  map[string]string{"app/kustomization.yaml": "configMapGenerator:\n- name: conf\n  files:\n  - conf=https://example.com/nginx.conf\n"},
			path:   "app",
			want:   Error{Problem: RemoteRefused, File: "app/kustomization.yaml"},
			detail: "configMapGenerator entry",
		},
		{
			name: "refuses a remote path in a builtin transformer configuration file",
			files: map[string]string{"app/kustomization.yaml": "resources: [cm.yaml]\ntransformers: [patcher.yaml]\n", "app/cm.yaml": configMap,
				"app/patcher.yaml": "apiVersion: builtin\nkind: PatchTransformer\nmetadata:\n  name: patcher\npath: https://example.com/patch.yaml\ntarget:\n  kind: ConfigMap\n"},
			path:   "app",
			want:   Error{Problem: RemoteRefused, File: "app/patcher.yaml", Object: "builtin PatchTransformer patcher"},
			detail: `"https://example.com/patch.yaml"`,
		},
		{
			name: "refuses a remote path in an inline builtin transformer",
			files: map[string]string{"app/cm.yaml": configMap, "app/kustomization.yaml": "resources: [cm.yaml]\ntransformers:\n- |-\n" +
				"  apiVersion: builtin\n  kind: ReplacementTransformer\n  metadata:\n    name: replace\n  replacements:\n  - path: http://example.com/r.yaml\n"},
			path:   "app",
			want:   Error{Problem: RemoteRefused, File: "app/kustomization.yaml", Object: "builtin ReplacementTransformer replace"},
			detail: `"http://example.com/r.yaml"`,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, tc.test)
	}
}

func TestIsRemote(t *testing.T) {
	cases := []struct {
		ref  string
		want bool
	}{
		{"https://github.com/acme/platform//base?ref=v1", true},
		{"HTTP://example.com/deploy.yaml", true},
		{"git::https://example.com/acme/platform.git", true},
		{"ssh://git@example.com/acme/platform.git", true},
		{"git@github.com:acme/platform.git", true},
		{"github.com/acme/platform", true},
		{"GitHub.com:acme/platform", true},
		{"file:///srv/git/platform", true},
		{"../../base", false},
		{"deployment.yaml", false},
		{"example.com/acme/platform", false}, // kustomize reads this as a local path
		{"config/http.yaml", false},
	}
	for _, tc := range cases {
		t.Run("says "+tc.ref+" is remote: "+map[bool]string{true: "yes", false: "no"}[tc.want], func(t *testing.T) {
			if got := isRemote(tc.ref); got != tc.want {
				t.Errorf("isRemote(%q) = %v, want %v", tc.ref, got, tc.want)
			}
		})
	}
}

func TestKustomizationFileBehindASymlink(t *testing.T) {
	t.Run("is read and checked like any kustomization file", func(t *testing.T) {
		root := t.TempDir()
		writeTree(t, root, map[string]string{"app/cm.yaml": configMap, "app/main.yaml": "resources: [cm.yaml]\n"})
		if err := os.Symlink("main.yaml", filepath.Join(root, "app/kustomization.yaml")); err != nil {
			t.Fatal(err)
		}
		res, err := New().Render(t.Context(), root, "app")
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(string(kustomizeCLI(t, filepath.Join(root, "app"))), string(yamlOf(t, res))); diff != "" {
			t.Errorf("YAML (-kustomize +render):\n%s", diff)
		}
	})
	badRepo{
		name:   "is named by the name kustomize knows it by when an entry is refused",
		files:  map[string]string{"app/main.yaml": "resources: [https://example.com/cm.yaml]\n"},
		links:  map[string]string{"app/kustomization.yaml": "main.yaml"},
		path:   "app",
		want:   Error{Problem: RemoteRefused, File: "app/kustomization.yaml"},
		detail: "resources entry",
	}.run(t)
}

package chart_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gitsync-io/gitsync/pkg/download"
	"github.com/gitsync-io/gitsync/pkg/sync/chart"
	"github.com/gitsync-io/gitsync/test/charts"
	"github.com/gitsync-io/gitsync/test/testenv"
)

// caps are a cluster's capabilities as gitsync passes them from discovery.
var caps = chart.Capabilities{KubeVersion: "v1.37.2", APIVersions: []string{"charts.gitsync.io/v1", "charts.gitsync.io/v1/Widget", "monitoring.coreos.com/v1"}}

// repository copies the test charts into a new repository directory, with
// a values file, and returns its root.
func repository(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	for _, name := range []string{charts.App, charts.Big, charts.Methods} {
		if err := os.CopyFS(filepath.Join(root, "charts", name), os.DirFS(charts.Dir(t, name))); err != nil {
			t.Fatal(err)
		}
	}
	write(t, root, "values/prod.yaml", "replicas: 3\nmessage: from prod\nimage:\n  tag: \"1.31.0\"\n")
	return root
}

func write(t *testing.T, root, name, content string) {
	t.Helper()
	p := filepath.Join(root, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// helmTemplate runs the helm CLI of the same version (tools/build.sh helm).
func helmTemplate(t *testing.T, args ...string) []byte {
	t.Helper()
	bin, err := testenv.Binary("helm")
	if err != nil {
		t.Fatal(err)
	}
	home := t.TempDir()
	cmd := exec.CommandContext(t.Context(), bin, append([]string{"template"}, args...)...)
	cmd.Env = []string{"HOME=" + home, "HELM_CONFIG_HOME=" + home + "/config", "HELM_CACHE_HOME=" + home + "/cache",
		"HELM_DATA_HOME=" + home + "/data", "KUBECONFIG=" + home + "/no-kubeconfig", "PATH=" + os.Getenv("PATH")}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("helm template %v: %v\n%s", args, err, stderr.String())
	}
	return out
}

// capsFlags are caps as helm template's flags.
func capsFlags() []string {
	args := []string{"--kube-version", caps.KubeVersion}
	for _, v := range caps.APIVersions {
		args = append(args, "--api-versions", v)
	}
	return args
}

// TestRenderIsHelmTemplate renders charts of the repository in-process and
// with the helm CLI of the same version: the output is the same, byte for
// byte.
func TestRenderIsHelmTemplate(t *testing.T) {
	root := repository(t)
	for _, tc := range []struct {
		name string
		spec chart.Spec
		args []string
	}{
		{"defaults", chart.Spec{Path: "charts/app"}, []string{"app", filepath.Join(root, "charts/app")}},
		{"a release in a namespace, with CRDs, a values file and --set",
			chart.Spec{Path: "charts/app", ReleaseName: "web", Namespace: "shop", IncludeCRDs: true, ValuesFiles: []string{"values/prod.yaml"}, Set: []string{"service.port=8080", "lib.enabled=false"}},
			[]string{"web", filepath.Join(root, "charts/app"), "-n", "shop", "--include-crds", "-f", filepath.Join(root, "values/prod.yaml"), "--set", "service.port=8080", "--set", "lib.enabled=false"}},
		{"200 objects", chart.Spec{Path: "charts/big", ReleaseName: "big"}, []string{"big", filepath.Join(root, "charts/big")}},
		{"templates calling methods", chart.Spec{Path: "charts/methods", ReleaseName: "m"}, []string{"m", filepath.Join(root, "charts/methods")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := chart.New(nil).Render(t.Context(), root, tc.spec, caps)
			if err != nil {
				t.Fatal(err)
			}
			want := helmTemplate(t, append(tc.args, capsFlags()...)...)
			if diff := cmp.Diff(string(want), string(out.Text)); diff != "" {
				t.Errorf("gitsync's render differs from helm template (-helm +gitsync):\n%s", diff)
			}
		})
	}
}

// TestRenderFetchesCharts renders charts of an HTTP chart repository (with
// basic auth) and an OCI registry, by exact version and by range, as helm
// template renders them, and reads an exact version from disk afterwards.
func TestRenderFetchesCharts(t *testing.T) {
	repo := charts.StartRepo(t, charts.RepoOptions{Username: "charts", Password: "s3cret"})
	registry := charts.StartRegistry(t)
	for _, v := range []string{"1.0.0", "1.1.0", "2.0.0"} {
		repo.Add(t, charts.Dir(t, charts.App), v)
		registry.Push(t, "charts", charts.Dir(t, charts.App), v)
	}
	cache := t.TempDir()
	r := chart.New(&chart.Fetcher{CacheDir: cache})
	auth := chart.Auth{Username: "charts", Password: "s3cret"}
	for _, tc := range []struct {
		name        string
		spec        chart.Spec
		args        []string
		wantVersion string
	}{
		{"a range from a chart repository", chart.Spec{Repo: repo.URL, Name: "app", Version: ">=1.0.0 <2", Auth: auth, ReleaseName: "r"},
			[]string{"r", "app", "--repo", repo.URL, "--version", ">=1.0.0 <2", "--username", "charts", "--password", "s3cret"}, "1.1.0"},
		{"the newest from a registry", chart.Spec{Repo: registry.URL + "/charts", Name: "app", PlainHTTP: true, ReleaseName: "r"},
			[]string{"r", registry.URL + "/charts/app", "--plain-http"}, "2.0.0"},
		{"an exact version from a registry", chart.Spec{Repo: registry.URL + "/charts", Name: "app", Version: "1.0.0", PlainHTTP: true, ReleaseName: "r"},
			[]string{"r", registry.URL + "/charts/app", "--version", "1.0.0", "--plain-http"}, "1.0.0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := r.Render(t.Context(), t.TempDir(), tc.spec, caps)
			if err != nil {
				t.Fatal(err)
			}
			if out.Version != tc.wantVersion {
				t.Errorf("rendered version %s, want %s", out.Version, tc.wantVersion)
			}
			want := helmTemplate(t, append(tc.args, capsFlags()...)...)
			if diff := cmp.Diff(string(want), string(out.Text)); diff != "" {
				t.Errorf("gitsync's render differs from helm template (-helm +gitsync):\n%s", diff)
			}
		})
	}
	t.Run("an exact version is read from disk, with no request", func(t *testing.T) {
		before := len(registry.Requests())
		spec := chart.Spec{Repo: registry.URL + "/charts", Name: "app", Version: "1.0.0", PlainHTTP: true, ReleaseName: "other"}
		if _, err := chart.New(&chart.Fetcher{CacheDir: cache}).Render(t.Context(), t.TempDir(), spec, caps); err != nil {
			t.Fatal(err)
		}
		if got := registry.Requests()[before:]; len(got) != 0 {
			t.Errorf("requests %v, want none", got)
		}
	})
	t.Run("credentials never show in an error", func(t *testing.T) {
		spec := chart.Spec{Repo: repo.URL, Name: "app", Version: "9.9.9", Auth: auth}
		_, err := r.Render(t.Context(), t.TempDir(), spec, caps)
		var fe *chart.FetchError
		if !errors.As(err, &fe) || !strings.Contains(err.Error(), `no version matches "9.9.9" (it has 2.0.0, 1.1.0, 1.0.0)`) || strings.Contains(err.Error(), "s3cret") {
			t.Errorf("render of a version the repository lacks: %v; want a FetchError naming the versions it has", err)
		}
	})
}

// TestRenderRefusesBadInput: each mistake fails with one line naming the
// chart, the file and, for a template, the line.
func TestRenderRefusesBadInput(t *testing.T) {
	root := repository(t)
	write(t, root, "values/broken.yaml", "replicas: [\n")
	write(t, root, "charts/app/templates/required.yaml", "{{ if .Values.strict }}{{ required \"strict needs .Values.owner\" .Values.owner }}{{ end }}\n")
	write(t, root, "charts/nodeps/Chart.yaml", "apiVersion: v2\nname: nodeps\nversion: 0.1.0\ndependencies:\n- name: db\n  version: 1.0.0\n")
	for _, tc := range []struct {
		name string
		spec chart.Spec
		want string
	}{
		{"a values file that does not parse", chart.Spec{Path: "charts/app", ValuesFiles: []string{"values/broken.yaml"}},
			"chart charts/app: values/broken.yaml: values file does not parse: "},
		{"a values file that is not there", chart.Spec{Path: "charts/app", ValuesFiles: []string{"values/none.yaml"}},
			"chart charts/app: values/none.yaml: values file: no such file or directory"},
		{"a schema violation", chart.Spec{Path: "charts/app", Set: []string{"replicas=0"}},
			"chart app 1.0.0: values don't meet the specifications of the schema(s) in the following chart(s): app: - at '/replicas': minimum: got 0, want 1"},
		{"a template error", chart.Spec{Path: "charts/app", Set: []string{"strict=true"}},
			"chart app 1.0.0: execution error at (app/templates/required.yaml:1:26): strict needs .Values.owner"},
		{"a missing dependency", chart.Spec{Path: "charts/nodeps"},
			"chart nodeps 0.1.0: Chart.yaml lists dependencies missing from charts/: db; vendor them (helm dependency build) and commit them"},
		{"a chart directory that is not there", chart.Spec{Path: "charts/none"}, "chart charts/none: charts/none: no such directory in the repository"},
		{"a chart outside the repository", chart.Spec{Path: "../app"}, `chart ../app: chart "../app": must be a directory inside the repository`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := chart.New(nil).Render(t.Context(), root, tc.spec, caps)
			var re *chart.RenderError
			if !errors.As(err, &re) || !re.Terminal() || !strings.HasPrefix(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
				t.Errorf("error %v; want one terminal line starting %q", err, tc.want)
			}
		})
	}
}

// TestFetchThroughMirrors fetches charts named by their upstream URLs from
// the mirrors that serve them, as users behind filtered networks do.
func TestFetchThroughMirrors(t *testing.T) {
	repo := charts.StartRepo(t, charts.RepoOptions{})
	repo.Add(t, charts.Dir(t, charts.App), "1.0.0")
	registry := charts.StartRegistry(t)
	registry.Push(t, "mirror/charts", charts.Dir(t, charts.App), "1.0.0")
	r := chart.New(&chart.Fetcher{CacheDir: t.TempDir(), Mirrors: []download.Mirror{
		{From: "https://charts.upstream.invalid/", To: repo.URL + "/"},
		{From: "oci://registry.upstream.invalid/charts", To: registry.URL + "/mirror/charts"},
	}})
	for _, spec := range []chart.Spec{
		{Repo: "https://charts.upstream.invalid/", Name: "app", Version: "1.0.0"},
		{Repo: "oci://registry.upstream.invalid/charts", Name: "app", Version: "1.0.0", PlainHTTP: true},
	} {
		out, err := r.Render(t.Context(), t.TempDir(), spec, caps)
		if err != nil || out.Version != "1.0.0" {
			t.Errorf("%s: %v", spec, err)
		}
	}
	if got := repo.Requests(); !slices.Equal(got, []string{"/index.yaml", "/app-1.0.0.tgz"}) {
		t.Errorf("the chart repository's mirror served %v", got)
	}
}

// TestFetchAPinnedArchive fetches a chart archive by URL: with the right
// pin it renders, with a wrong one it is refused for good.
func TestFetchAPinnedArchive(t *testing.T) {
	repo := charts.StartRepo(t, charts.RepoOptions{})
	archive := repo.Add(t, charts.Dir(t, charts.App), "1.0.0")
	sum := sha256.Sum256(archive)
	r := chart.New(&chart.Fetcher{CacheDir: t.TempDir()})
	url := repo.URL + "/app-1.0.0.tgz"
	out, err := r.Render(t.Context(), t.TempDir(), chart.Spec{URL: url + "#sha256=" + hex.EncodeToString(sum[:])}, caps)
	if err != nil || out.Chart != "app" {
		t.Fatalf("a pinned archive: %v", err)
	}
	wrong := strings.Repeat("0", 64)
	_, err = r.Render(t.Context(), t.TempDir(), chart.Spec{URL: url + "#sha256=" + wrong}, caps)
	var mismatch *chart.MismatchError
	if !errors.As(err, &mismatch) || !mismatch.Terminal() || !strings.Contains(err.Error(), "want "+wrong) {
		t.Errorf("an archive that does not match its pin: %v; want a terminal MismatchError", err)
	}
}

package charts_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"sigs.k8s.io/yaml"

	"github.com/gitsync-io/gitsync/test/charts"
	"github.com/gitsync-io/gitsync/test/testenv"
)

// helmCLI runs the real helm CLI with configuration, cache and data of its own.
type helmCLI struct {
	bin string
	env []string
}

func newHelm(t *testing.T) *helmCLI {
	t.Helper()
	bin, err := testenv.Binary("helm")
	if err != nil {
		t.Fatalf("the helm CLI: %v", err)
	}
	home := t.TempDir()
	return &helmCLI{bin: bin, env: append(os.Environ(),
		"HELM_CONFIG_HOME="+filepath.Join(home, "config"),
		"HELM_CACHE_HOME="+filepath.Join(home, "cache"),
		"HELM_DATA_HOME="+filepath.Join(home, "data"),
		"KUBECONFIG="+filepath.Join(home, "no-kubeconfig"),
	)}
}

// run runs helm and returns its standard output, failing the test when it fails.
func (h *helmCLI) run(t *testing.T, extraEnv []string, args ...string) string {
	t.Helper()
	out, err := h.try(extraEnv, args...)
	if err != nil {
		t.Fatalf("helm %s: %v", strings.Join(args, " "), err)
	}
	return out
}

// try runs helm and returns its standard output, or an error holding its standard error.
func (h *helmCLI) try(extraEnv []string, args ...string) (string, error) {
	cmd := exec.Command(h.bin, args...)
	cmd.Env = append(slices.Clone(h.env), extraEnv...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return string(out), &helmError{err: err, stderr: stderr.String()}
	}
	return string(out), nil
}

type helmError struct {
	err    error
	stderr string
}

func (e *helmError) Error() string { return e.err.Error() + ": " + strings.TrimSpace(e.stderr) }

// objects parses helm template's output into its objects by "Kind/name".
func objects(t *testing.T, out string) map[string]map[string]any {
	t.Helper()
	objs := map[string]map[string]any{}
	for _, doc := range strings.Split(out, "\n---\n") {
		var obj map[string]any
		if err := yaml.Unmarshal([]byte(doc), &obj); err != nil {
			t.Fatalf("helm template printed invalid YAML: %v\n%s", err, doc)
		}
		if obj == nil {
			continue
		}
		meta, _ := obj["metadata"].(map[string]any)
		objs[obj["kind"].(string)+"/"+meta["name"].(string)] = obj
	}
	return objs
}

func data(t *testing.T, objs map[string]map[string]any, key string) map[string]any {
	t.Helper()
	obj, ok := objs[key]
	if !ok {
		t.Fatalf("helm rendered no %s; it rendered %v", key, keys(objs))
	}
	d, _ := obj["data"].(map[string]any)
	return d
}

func keys(objs map[string]map[string]any) []string {
	var out []string
	for k := range objs {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// renderedVersion is the chart version helm template rendered the app chart at.
func renderedVersion(t *testing.T, out string) string {
	t.Helper()
	v, _ := data(t, objects(t, out), "ConfigMap/x-config")["chartVersion"].(string)
	return v
}

func TestPackageIsWhatHelmPackageWrites(t *testing.T) {
	h := newHelm(t)
	for _, tc := range []struct{ chart, version string }{
		{charts.App, "1.0.0"},
		{charts.App, "1.2.3-rc.1+build.4"},
		{charts.Big, "0.3.0"},
	} {
		t.Run(tc.chart+"@"+tc.version, func(t *testing.T) {
			dir, dest := charts.Dir(t, tc.chart), t.TempDir()
			epoch := []string{"SOURCE_DATE_EPOCH=" + strconv.FormatInt(charts.SourceDateEpoch, 10)}
			h.run(t, epoch, "package", dir, "--version", tc.version, "--destination", dest)
			want, err := os.ReadFile(filepath.Join(dest, tc.chart+"-"+tc.version+".tgz"))
			if err != nil {
				t.Fatal(err)
			}
			if got := charts.Package(t, dir, tc.version); !bytes.Equal(got, want) {
				t.Errorf("Package = %d bytes (sha256 %s), helm package wrote %d bytes (sha256 %s)", len(got), sum(got), len(want), sum(want))
			}
		})
	}
}

func sum(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func TestAppChartRenders(t *testing.T) {
	h := newHelm(t)
	dir := charts.Dir(t, charts.App)
	archive := filepath.Join(t.TempDir(), "app-1.0.0.tgz")
	if err := os.WriteFile(archive, charts.Package(t, dir, "1.0.0"), 0o644); err != nil {
		t.Fatal(err)
	}

	for _, src := range []string{dir, archive} {
		t.Run("renders every object from "+filepath.Base(src), func(t *testing.T) {
			out := h.run(t, nil, "template", "x", src, "--namespace", "ns", "--include-crds", "--kube-version", "1.31.4", "--set", "resources.limits.cpu=100m")
			objs := objects(t, out)
			want := []string{
				"ConfigMap/x-config", "ConfigMap/x-lib", "ConfigMap/x-post-install",
				"CustomResourceDefinition/widgets.charts.gitsync.io", "Deployment/x",
				"Job/x-pre-install", "Pod/x-test", "Service/x", "Widget/x-widget",
			}
			if diff := cmp.Diff(want, keys(objs)); diff != "" {
				t.Errorf("objects (-want +got):\n%s", diff)
			}
			wantData := map[string]any{
				"message": "hello", "release": "x", "namespace": "ns", "chartVersion": "1.0.0",
				"kubeVersion": "v1.31.4", "hasAppsV1": "true",
			}
			if diff := cmp.Diff(wantData, data(t, objs, "ConfigMap/x-config")); diff != "" {
				t.Errorf("ConfigMap x-config (-want +got):\n%s", diff)
			}
			if !strings.Contains(out, "image: docker.io/library/nginx:1.30.1") || !strings.Contains(out, "cpu: 100m") {
				t.Errorf("the Deployment lacks the image or the resources from values:\n%s", out)
			}
			if !strings.Contains(out, `helm.sh/hook: pre-install,pre-upgrade`) || !strings.Contains(out, `helm.sh/hook-weight: "-5"`) {
				t.Errorf("the pre-install Job lacks its hook annotations:\n%s", out)
			}
		})
	}
	t.Run("leaves the subchart out when lib.enabled is false", func(t *testing.T) {
		objs := objects(t, h.run(t, nil, "template", "x", dir, "--set", "lib.enabled=false"))
		if _, ok := objs["ConfigMap/x-lib"]; ok {
			t.Errorf("rendered the subchart's ConfigMap with lib.enabled=false")
		}
	})
	t.Run("has its schema refuse bad values", func(t *testing.T) {
		for _, set := range []string{"replicas=0", "image.tag=1"} {
			if _, err := h.try(nil, "template", "x", dir, "--set", set); err == nil || !strings.Contains(err.Error(), "schema") {
				t.Errorf("helm template --set %s: err = %v, want a schema violation", set, err)
			}
		}
	})
}

func TestBigChartRendersCountConfigMaps(t *testing.T) {
	h := newHelm(t)
	dir := charts.Dir(t, charts.Big)
	for _, tc := range []struct {
		args []string
		want int
	}{{nil, 200}, {[]string{"--set", "count=7"}, 7}} {
		if got := len(objects(t, h.run(t, nil, append([]string{"template", "x", dir}, tc.args...)...))); got != tc.want {
			t.Errorf("helm template %v rendered %d objects, want %d", tc.args, got, tc.want)
		}
	}
}

func TestRegistryServesChartsHelmPulls(t *testing.T) {
	h := newHelm(t)
	reg := charts.StartRegistry(t)
	dir := charts.Dir(t, charts.App)
	digests := map[string]string{}
	for _, v := range []string{"1.0.0", "1.1.0", "2.0.0"} {
		digests[v] = reg.Push(t, "charts", dir, v)
	}
	ref := reg.URL + "/charts/app"

	t.Run("helm pull gets the archive Package makes", func(t *testing.T) {
		dest := t.TempDir()
		h.run(t, nil, "pull", ref, "--version", "1.0.0", "--plain-http", "--destination", dest)
		got, err := os.ReadFile(filepath.Join(dest, "app-1.0.0.tgz"))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, charts.Package(t, dir, "1.0.0")) {
			t.Errorf("helm pull got an archive other than Package's (sha256 %s)", sum(got))
		}
	})
	t.Run("helm template picks the newest version in a range", func(t *testing.T) {
		out := h.run(t, nil, "template", "x", ref, "--version", ">=1.0.0 <2", "--plain-http")
		if got := renderedVersion(t, out); got != "1.1.0" {
			t.Errorf("rendered version %q, want 1.1.0", got)
		}
		if !slices.Contains(reg.Requests(), "/v2/charts/app/tags/list") {
			t.Errorf("helm did not list the tags; requests: %v", reg.Requests())
		}
	})
	t.Run("a version with build metadata is tagged with _ and pulled with +", func(t *testing.T) {
		reg.Push(t, "builds", dir, "1.2.0+build.1")
		dest := t.TempDir()
		h.run(t, nil, "pull", reg.URL+"/builds/app", "--version", "1.2.0+build.1", "--plain-http", "--destination", dest)
		got, err := os.ReadFile(filepath.Join(dest, "app-1.2.0+build.1.tgz"))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, charts.Package(t, dir, "1.2.0+build.1")) {
			t.Errorf("helm pull got an archive other than Package's")
		}
	})
	t.Run("the manifest is laid out as helm push lays it out", func(t *testing.T) {
		checkManifest(t, reg.Host+"/charts/app:1.1.0", digests["1.1.0"], charts.Package(t, dir, "1.1.0"))
	})
	t.Run("the manifest is the one helm push writes", func(t *testing.T) {
		archive := filepath.Join(t.TempDir(), "app-1.1.0.tgz")
		if err := os.WriteFile(archive, charts.Package(t, dir, "1.1.0"), 0o644); err != nil {
			t.Fatal(err)
		}
		epoch := time.Unix(charts.SourceDateEpoch, 0) // helm push dates the manifest with the archive's mtime
		if err := os.Chtimes(archive, epoch, epoch); err != nil {
			t.Fatal(err)
		}
		h.run(t, nil, "push", archive, reg.URL+"/helm", "--plain-http")
		ours, theirs := manifest(t, reg.Host+"/charts/app:1.1.0"), manifest(t, reg.Host+"/helm/app:1.1.0")
		if diff := cmp.Diff(theirs, ours); diff != "" {
			t.Errorf("manifest (-helm push +Push):\n%s", diff)
		}
	})
}

func manifest(t *testing.T, ref string) *v1.Manifest {
	t.Helper()
	r, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	img, err := remote.Image(r, remote.WithContext(t.Context()))
	if err != nil {
		t.Fatalf("get %s: %v", ref, err)
	}
	m, err := img.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	m.MediaType = "" // helm push leaves it out of the manifest; the registry's Content-Type carries it
	return m
}

func checkManifest(t *testing.T, ref, digest string, archive []byte) {
	t.Helper()
	r, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	desc, err := remote.Get(r, remote.WithContext(t.Context()))
	if err != nil {
		t.Fatalf("get %s: %v", ref, err)
	}
	img, err := desc.Image()
	if err != nil {
		t.Fatal(err)
	}
	m, err := img.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	if desc.Digest.String() != digest || m.MediaType != types.OCIManifestSchema1 || m.Config.MediaType != charts.ConfigMediaType {
		t.Errorf("manifest %s of type %s with config %s, want %s of type %s with config %s",
			desc.Digest, m.MediaType, m.Config.MediaType, digest, types.OCIManifestSchema1, charts.ConfigMediaType)
	}
	if len(m.Layers) != 1 || m.Layers[0].MediaType != charts.ChartLayerMediaType || m.Layers[0].Digest.Hex != sum(archive) {
		t.Errorf("layers = %+v, want one %s of sha256 %s", m.Layers, charts.ChartLayerMediaType, sum(archive))
	}
	wantAnn := map[string]string{
		"org.opencontainers.image.title":       "app",
		"org.opencontainers.image.version":     "1.1.0",
		"org.opencontainers.image.description": "A test chart of gitsync's that exercises what Helm charts do.",
		"org.opencontainers.image.created":     "2024-01-01T00:00:00Z",
	}
	if diff := cmp.Diff(wantAnn, m.Annotations); diff != "" {
		t.Errorf("annotations (-want +got):\n%s", diff)
	}
	raw, err := img.RawConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	var config map[string]any
	if err := json.Unmarshal(raw, &config); err != nil || config["name"] != "app" || config["version"] != "1.1.0" || config["apiVersion"] != "v2" {
		t.Errorf("config = %s (%v), want Chart.yaml of app 1.1.0 as JSON", raw, err)
	}
}

func TestRepoServesChartsHelmInstalls(t *testing.T) {
	h := newHelm(t)
	repo := charts.StartRepo(t, charts.RepoOptions{Username: "alice", Password: "s3cret"})
	dir := charts.Dir(t, charts.App)
	archives := map[string][]byte{}
	for _, v := range []string{"1.0.0", "1.1.0", "1.0.1"} {
		archives[v] = repo.Add(t, dir, v)
	}
	auth := []string{"--repo", repo.URL, "--username", "alice", "--password", "s3cret"}

	t.Run("refuses a request without credentials", func(t *testing.T) {
		resp, err := http.Get(repo.URL + "/index.yaml")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("status = %d, want %d", resp.StatusCode, http.StatusUnauthorized)
		}
		if _, err := h.try(nil, "template", "x", "app", "--repo", repo.URL); err == nil {
			t.Errorf("helm template without credentials succeeded")
		}
	})
	t.Run("lists versions newest first with their digests", func(t *testing.T) {
		var index struct {
			APIVersion string `json:"apiVersion"`
			Entries    map[string][]struct {
				Version, Digest string
				URLs            []string `json:"urls"`
			} `json:"entries"`
		}
		if err := yaml.Unmarshal(repo.Index(t), &index); err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, e := range index.Entries["app"] {
			got = append(got, e.Version)
			if e.Digest != sum(archives[e.Version]) || !slices.Equal(e.URLs, []string{"app-" + e.Version + ".tgz"}) {
				t.Errorf("entry %s: digest %s, urls %v; want %s, [app-%s.tgz]", e.Version, e.Digest, e.URLs, sum(archives[e.Version]), e.Version)
			}
		}
		if index.APIVersion != "v1" || !slices.Equal(got, []string{"1.1.0", "1.0.1", "1.0.0"}) {
			t.Errorf("apiVersion %q, versions %v; want v1, [1.1.0 1.0.1 1.0.0]", index.APIVersion, got)
		}
	})
	t.Run("serves the index helm repo index writes", func(t *testing.T) {
		local := t.TempDir()
		for v, archive := range archives {
			if err := os.WriteFile(filepath.Join(local, "app-"+v+".tgz"), archive, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		h.run(t, nil, "repo", "index", local)
		want, err := os.ReadFile(filepath.Join(local, "index.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(undated(t, want), undated(t, repo.Index(t))); diff != "" {
			t.Errorf("index.yaml (-helm repo index +Repo):\n%s", diff)
		}
	})
	t.Run("helm template picks the newest version in a range", func(t *testing.T) {
		out := h.run(t, nil, append([]string{"template", "x", "app", "--version", "~1.0"}, auth...)...)
		if got := renderedVersion(t, out); got != "1.0.1" {
			t.Errorf("rendered version %q, want 1.0.1", got)
		}
	})
	t.Run("helm sees a version added later", func(t *testing.T) {
		repo.Add(t, dir, "1.0.2")
		out := h.run(t, nil, append([]string{"template", "x", "app", "--version", "~1.0"}, auth...)...)
		if got := renderedVersion(t, out); got != "1.0.2" {
			t.Errorf("rendered version %q, want 1.0.2", got)
		}
		if reqs := repo.Requests(); !slices.Contains(reqs, "/index.yaml") || !slices.Contains(reqs, "/app-1.0.2.tgz") {
			t.Errorf("requests = %v, want /index.yaml and /app-1.0.2.tgz among them", reqs)
		}
	})
	t.Run("helm pull gets the archive Add published", func(t *testing.T) {
		dest := t.TempDir()
		h.run(t, nil, append([]string{"pull", "app", "--version", "1.1.0", "--destination", dest}, auth...)...)
		got, err := os.ReadFile(filepath.Join(dest, "app-1.1.0.tgz"))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, archives["1.1.0"]) {
			t.Errorf("helm pull got an archive other than Add's")
		}
	})
}

// undated is an index.yaml without the times it was generated and its charts were added.
func undated(t *testing.T, index []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := yaml.Unmarshal(index, &m); err != nil {
		t.Fatalf("index.yaml: %v", err)
	}
	delete(m, "generated")
	for _, versions := range m["entries"].(map[string]any) {
		for _, v := range versions.([]any) {
			delete(v.(map[string]any), "created")
		}
	}
	return m
}

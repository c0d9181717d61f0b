package charts

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/Masterminds/semver/v3"
	chart "helm.sh/helm/v4/pkg/chart/v2"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	chartutil "helm.sh/helm/v4/pkg/chart/v2/util"

	"github.com/gitsync-io/gitsync/test/testenv"
)

// The charts under testdata/, by name, for Dir.
const (
	// App renders a ConfigMap (showing .Capabilities' Kubernetes version and
	// whether apps/v1 is served), a Deployment (image.repository, image.tag,
	// replicas and resources from values, checked by values.schema.json), a
	// Service and a Widget, whose CRD is in crds/; it has hooks (a pre-install
	// Job, a post-install ConfigMap, a test Pod), NOTES.txt and the vendored
	// subchart lib (one ConfigMap, condition lib.enabled, on by default).
	// Everything is named after the release and lives in its namespace.
	App = "app"
	// Big renders .Values.count ConfigMaps (200 by default), for benchmarks.
	Big = "big"
	// Methods renders a ConfigMap of what the methods of .Capabilities,
	// .Files, .Values, semver and time values return, and the files under
	// files/ as a ConfigMap and a Secret.
	Methods = "methods"
)

// SourceDateEpoch is the time Package stamps on every file of an archive, as
// `helm package` does when $SOURCE_DATE_EPOCH is set: archives of the same
// chart and version are byte-identical on every machine and every run.
const SourceDateEpoch int64 = 1704067200 // 2024-01-01T00:00:00Z

// Dir is the source directory of one of the charts under testdata/ (App, Big, Methods).
func Dir(t testing.TB, name string) string {
	t.Helper()
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatalf("charts: %v", err)
	}
	dir := filepath.Join(root, "test", "charts", "testdata", name)
	if _, err := os.Stat(filepath.Join(dir, "Chart.yaml")); err != nil {
		t.Fatalf("charts: no chart %q: %v", name, err)
	}
	return dir
}

// Package returns the chart directory dir packaged at version as
// `SOURCE_DATE_EPOCH=<SourceDateEpoch> helm package --version VERSION DIR`
// writes it: the same .tgz, byte for byte.
func Package(t testing.TB, dir, version string) []byte {
	t.Helper()
	data, err := pack(dir, version)
	if err != nil {
		t.Fatalf("charts: package %s at %s: %v", dir, version, err)
	}
	return data
}

// pack does what helm's action.Package does for `helm package --version`.
func pack(dir, version string) ([]byte, error) {
	ch, err := loader.LoadDir(dir)
	if err != nil {
		return nil, err
	}
	if _, err := semver.StrictNewVersion(version); err != nil {
		return nil, fmt.Errorf("version %q is not strict SemVer 2: %w", version, err)
	}
	ch.Metadata.Version = version
	ch.StampModTimes(time.Unix(SourceDateEpoch, 0))
	if err := checkDependencies(ch); err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp("", "charts-package-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	path, err := chartutil.Save(ch, tmp)
	if err != nil {
		return nil, err
	}
	return os.ReadFile(path)
}

// checkDependencies fails, as helm package does, when Chart.yaml lists a
// dependency that charts/ does not hold.
func checkDependencies(ch *chart.Chart) error {
	for _, dep := range ch.Metadata.Dependencies {
		if !slices.ContainsFunc(ch.Dependencies(), func(c *chart.Chart) bool { return c.Name() == dep.Name }) {
			return fmt.Errorf("dependency %s is in Chart.yaml but not in charts/", dep.Name)
		}
	}
	return nil
}

// archiveName is the file name helm gives a chart archive.
func archiveName(meta *chart.Metadata) string {
	return meta.Name + "-" + meta.Version + ".tgz"
}

package manifests

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/gitsync-io/gitsync/pkg/sync/render"
	"github.com/gitsync-io/gitsync/test/gitsyncbin"
	"github.com/gitsync-io/gitsync/test/testenv"
)

// Two simulated nodes, so the anti-affinity has somewhere to spread to.
func TestMain(m *testing.M) { testenv.Main(m, testenv.Options{Workloads: true, Nodes: 2}) }

const (
	base       = "manifests/gitsync"
	namespaced = "manifests/gitsync/namespaced"
	tenants    = "manifests/gitsync/tenants"
	image      = "ghcr.io/gitsync-io/gitsync:latest"
	system     = "gitsync-system"
)

// repoRoot is the repository's root directory.
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// renderPath renders path under root in-process, as gitsync does.
func renderPath(t *testing.T, root, path string) []*unstructured.Unstructured {
	t.Helper()
	res, err := render.New().Render(t.Context(), root, path)
	if err != nil {
		t.Fatalf("render %s: %v", path, err)
	}
	return res.Objects
}

// find returns the rendered object of kind and name, failing if there is none.
func find(t *testing.T, objs []*unstructured.Unstructured, kind, namespace, name string) *unstructured.Unstructured {
	t.Helper()
	for _, o := range objs {
		if o.GetKind() == kind && o.GetNamespace() == namespace && o.GetName() == name {
			return o
		}
	}
	t.Fatalf("no %s %s/%s in the rendered objects", kind, namespace, name)
	return nil
}

// typed converts a rendered object into its Go type.
func typed[T any](t *testing.T, u *unstructured.Unstructured) *T {
	t.Helper()
	var out T
	if err := runtime.DefaultUnstructuredConverter.FromUnstructuredWithValidation(u.Object, &out, true); err != nil {
		t.Fatalf("%s %s: %v", u.GetKind(), u.GetName(), err)
	}
	return &out
}

// binary builds gitsync once per run (see gitsyncbin).
func binary() (string, error) { return gitsyncbin.Build("test-manifests") }

// gitsync runs the binary with args and a clean environment, failing the test
// unless it exits 0.
func gitsync(t *testing.T, args ...string) string {
	t.Helper()
	out, err := tryGitsync(t, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// tryGitsync is gitsync, returning the failure instead of failing the test.
func tryGitsync(t *testing.T, args ...string) (string, error) {
	t.Helper()
	bin, err := binary()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(t.Context(), bin, args...)
	cmd.Env = []string{"HOME=" + t.TempDir(), "PATH=" + os.Getenv("PATH")}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("gitsync %v: %v\nstdout:\n%s\nstderr:\n%s", args, err, stdout.String(), stderr.String())
	}
	return stdout.String(), nil
}

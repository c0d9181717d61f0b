package cli_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gitsync-io/gitsync/internal/cli"
)

// run executes one command line in-process.
func run(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = cli.Run(t.Context(), cli.Streams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut}, args)
	return code, out.String(), errOut.String()
}

// The Kubernetes client version comes from the binary's build information,
// which test binaries lack; test/e2e checks it on the built binary.
func TestVersionPrintsItsThreeFields(t *testing.T) {
	code, out, _ := run(t, "version", "-o", "json")
	var v map[string]string
	if code != 0 || json.Unmarshal([]byte(out), &v) != nil {
		t.Fatalf("version -o json: exit %d, %q", code, out)
	}
	for _, k := range []string{"version", "commit", "kubernetesClient"} {
		if v[k] == "" {
			t.Errorf("version -o json lacks %s: %v", k, v)
		}
	}
}

func TestBadInvocationsFailWithOneLineNamingTheFlag(t *testing.T) {
	t.Setenv("KUBECONFIG", filepath.Join(t.TempDir(), "none"))
	for _, tc := range []struct {
		name     string
		env      map[string]string
		args     []string
		wantCode int
		want     string
	}{
		{"sync without --repo", nil, []string{"sync"}, 1, "--repo is required"},
		{"diff without --repo exits 2, not 1 (which means differences)", nil, []string{"diff"}, 2, "--repo is required"},
		{"an unknown output format", nil, []string{"sync", "--repo", ".", "-o", "yaml"}, 1, `--output "yaml"`},
		{"a bad value in the environment", map[string]string{"GITSYNC_TIMEOUT": "soon"}, []string{"sync", "--repo", "."}, 1, "GITSYNC_TIMEOUT"},
		{"run with a config file that does not exist", nil, []string{"run", "--config", "no-such.yaml"}, 1, "no-such.yaml"},
		{"run with both --config and --repo", nil, []string{"run", "--config", "c.yaml", "--repo", "."}, 1, "--config and --repo"},
		{"render without --path", nil, []string{"render"}, 1, "--path is required"},
	} {
		t.Run("rejects "+tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			code, _, stderr := run(t, tc.args...)
			lines := strings.Split(strings.TrimSpace(stderr), "\n")
			if code != tc.wantCode || len(lines) != 1 || !strings.Contains(lines[0], tc.want) {
				t.Errorf("exit %d, stderr %q; want exit %d and one line containing %q", code, stderr, tc.wantCode, tc.want)
			}
		})
	}
}

func TestRunRejectsAnInvalidConfigFileBeforeConnecting(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "config.yaml", "apiVersion: gitsync.io/v1alpha1\nkind: Config\nsources: [{name: s, url: x}]\nsyncs: [{name: a, source: s, pathh: p}]\n")
	code, _, stderr := run(t, "run", "--config", filepath.Join(dir, "config.yaml"))
	if code != 1 || !strings.Contains(stderr, "config.yaml") || !strings.Contains(stderr, `unknown field "syncs[0].pathh"`) {
		t.Errorf("exit %d, stderr %q; want the file and the unknown field named", code, stderr)
	}
}

func TestRenderPrintsWhatKustomizeBuilds(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "base/cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  color: blue\n")
	write(t, dir, "base/kustomization.yaml", "resources:\n- cm.yaml\n")
	write(t, dir, "dev/kustomization.yaml", "resources:\n- ../base\nnamespace: dev\n")
	t.Chdir(dir) // not a git work tree: the working directory confines the render
	code, out, stderr := run(t, "render", "--path", "dev")
	want := "apiVersion: v1\ndata:\n  color: blue\nkind: ConfigMap\nmetadata:\n  name: settings\n  namespace: dev\n"
	if code != 0 || out != want {
		t.Errorf("render: exit %d, stderr %q\ngot:\n%s\nwant:\n%s", code, stderr, out, want)
	}
}

func TestEnvironmentSetsFlags(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: from-env\n")
	t.Setenv("GITSYNC_PATH", dir)
	code, out, stderr := run(t, "render")
	if code != 0 || !strings.Contains(out, "name: from-env") {
		t.Errorf("render with GITSYNC_PATH: exit %d, stdout %q, stderr %q", code, out, stderr)
	}
}

func write(t *testing.T, dir, name, content string) {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

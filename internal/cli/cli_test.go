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
		{"run with no worker", nil, []string{"run", "--repo", ".", "--concurrent-syncs", "0"}, 1, "--concurrent-syncs 0"},
		{"run with a shard beyond the count", nil, []string{"run", "--repo", ".", "--shard-count", "3", "--shard-index", "3"}, 1, "--shard-index 3: must be below --shard-count (3)"},
		{"run with a shard index but no count", nil, []string{"run", "--repo", ".", "--shard-index", "0"}, 1, "--shard-index 0"},
		{"run taking shards by Lease without --leader-elect", nil, []string{"run", "--repo", ".", "--shard-count", "3"}, 1, "add --leader-elect"},
		{"render without --path", nil, []string{"render"}, 1, "--path is required"},
		{"run with --config and --service-account", nil, []string{"run", "--config", "c.yaml", "--service-account", "team-a"}, 1, "--service-account is for --repo"},
		{"sync as a ServiceAccount that cannot exist", nil, []string{"sync", "--repo", ".", "--service-account", "team_a", "--kubeconfig", "no-such-kubeconfig"}, 1, `--service-account "team_a"`},
		{"run with a default ServiceAccount that cannot exist", nil, []string{"run", "--repo", ".", "--default-service-account", "-x"}, 1, `--default-service-account "-x"`},
		{"sync with a chart name but no chart", nil, []string{"sync", "--repo", ".", "--helm-name", "app"}, 1, "--helm-* flags without a chart"},
		{"sync with two charts", nil, []string{"sync", "--repo", ".", "--helm-chart", "c", "--helm-chart-url", "https://x/c.tgz"}, 1, "--helm-*: give one of chart"},
		{"run with --config and --helm-chart", nil, []string{"run", "--config", "c.yaml", "--helm-chart", "c"}, 1, "--helm-* is for --repo"},
		{"run with --config and --notifications", nil, []string{"run", "--config", "c.yaml", "--notifications", "n.yaml"}, 1, "--notifications is for --repo"},
		{"sync with a notifications file that does not exist", nil, []string{"sync", "--repo", ".", "--notifications", "no-such-notifications.yaml"}, 1, "no-such-notifications.yaml"},
		{"run with --semver and --ref", nil, []string{"run", "--repo", ".", "--ref", "main", "--semver", ">=1"}, 1, "--ref and --semver: give one"},
		{"sync with an unknown --verify-mode", nil, []string{"sync", "--repo", ".", "--verify-mode", "all", "--verify-keys", "k"}, 1, `--verify-mode "all"`},
		{"lint without --path", nil, []string{"lint"}, 1, "--path is required"},
		{"lint with an unknown output format", nil, []string{"lint", "--path", ".", "-o", "yaml"}, 1, `--output "yaml"`},
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

// The original notes' mistake: pods labelled app: nginx, a Service selecting name: nginx.
const (
	nginxDeployment = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: nginx
spec:
  selector:
    matchLabels: {app: nginx}
  template:
    metadata:
      labels: {app: nginx}
    spec:
      containers:
      - name: nginx
        image: nginx:1.27
        resources:
          requests: {cpu: 50m, memory: 32Mi}
`
	nginxService = `apiVersion: v1
kind: Service
metadata:
  name: nginx-http
spec:
  selector: {name: nginx}
  ports:
  - {port: 80}
`
	serviceFinding = "v1 Service nginx-http: spec.selector: selector {name: nginx} matches no pod template in the render " +
		"(pods here are labelled {app: nginx}); fix: change spec.selector to labels the pods carry, or add {name: nginx} to their pod template's labels"
	probeFinding = "apps/v1 Deployment nginx: spec.template.spec.containers[0].readinessProbe: container nginx has no readinessProbe or livenessProbe: " +
		"it counts as ready as soon as it starts, and a hung process is never restarted; " +
		"fix: add a readinessProbe (and a livenessProbe for hangs), such as an httpGet or tcpSocket on its port"
)

func TestLintExitsOneOnErrorsOnly(t *testing.T) {
	for _, tc := range []struct {
		name     string
		files    map[string]string
		wantCode int
		wantOut  string
	}{
		{
			name:     "exits 1 on a Service that selects none of the pods, listing errors before warnings",
			files:    map[string]string{"deployment.yaml": nginxDeployment, "service.yaml": nginxService},
			wantCode: 1,
			wantOut:  "error: " + serviceFinding + "\nwarning: " + probeFinding + "\n1 error, 1 warning in 2 objects\n",
		},
		{
			name:     "exits 0 with warnings only",
			files:    map[string]string{"deployment.yaml": nginxDeployment},
			wantCode: 0,
			wantOut:  "warning: " + probeFinding + "\n0 errors, 1 warning in 1 object\n",
		},
		{
			name:     "exits 0 on a render with nothing to report",
			files:    map[string]string{"cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n"},
			wantCode: 0,
			wantOut:  "0 errors, 0 warnings in 1 object\n",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			for name, content := range tc.files {
				write(t, dir, name, content)
			}
			code, out, stderr := run(t, "lint", "--path", dir)
			if code != tc.wantCode || out != tc.wantOut || stderr != "" {
				t.Errorf("exit %d, stderr %q\ngot:\n%s\nwant exit %d and:\n%s", code, stderr, out, tc.wantCode, tc.wantOut)
			}
		})
	}
}

func TestLintKeepsTheExitAndMessageOfAFailedRender(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "broken.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: [\n")
	code, out, stderr := run(t, "lint", "--path", dir)
	lines := strings.Split(strings.TrimSpace(stderr), "\n")
	if code != 1 || out != "" || len(lines) != 1 || !strings.HasPrefix(lines[0], "error: broken.yaml") {
		t.Errorf("exit %d, stdout %q, stderr %q; want exit 1, nothing on stdout and one error line naming broken.yaml", code, out, stderr)
	}
}

func TestLintPrintsJSON(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "deployment.yaml", nginxDeployment)
	write(t, dir, "service.yaml", nginxService)
	code, out, stderr := run(t, "lint", "--path", dir, "-o", "json")
	type finding struct{ Severity, Object, Field, Message, Fix string }
	var got struct {
		Findings []finding
		Errors   int
		Warnings int
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil || code != 1 {
		t.Fatalf("exit %d, stderr %q, stdout %q (%v); want exit 1 and JSON", code, stderr, out, err)
	}
	want := finding{Severity: "error", Object: "v1 Service nginx-http", Field: "spec.selector",
		Message: "selector {name: nginx} matches no pod template in the render (pods here are labelled {app: nginx})",
		Fix:     "change spec.selector to labels the pods carry, or add {name: nginx} to their pod template's labels"}
	if got.Errors != 1 || got.Warnings != 1 || len(got.Findings) != 2 || got.Findings[0] != want || got.Findings[1].Severity != "warning" {
		t.Errorf("got %+v; want 1 error, 1 warning, the error first: %+v", got, want)
	}
	for _, key := range []string{`"findings"`, `"errors"`, `"warnings"`, `"severity"`, `"object"`, `"field"`, `"message"`, `"fix"`} {
		if !strings.Contains(out, key) {
			t.Errorf("-o json lacks the key %s:\n%s", key, out)
		}
	}
}

func TestLintPrintsAnEmptyListAsJSON(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n")
	code, out, _ := run(t, "lint", "--path", dir, "-o", "json")
	if want := "{\n  \"findings\": [],\n  \"errors\": 0,\n  \"warnings\": 0\n}\n"; code != 0 || out != want {
		t.Errorf("exit %d, stdout %q; want exit 0 and %q", code, out, want)
	}
}

func TestRenderWarnsAboutLintFindingsOnStderrOnly(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "deployment.yaml", nginxDeployment)
	write(t, dir, "service.yaml", nginxService)
	code, out, stderr := run(t, "render", "--path", dir)
	wantErr := "warning: lint error: " + serviceFinding + "\nwarning: " + probeFinding + "\n"
	if code != 0 || stderr != wantErr {
		t.Errorf("exit %d, stderr:\n%s\nwant exit 0 and:\n%s", code, stderr, wantErr)
	}
	if !strings.HasPrefix(out, "apiVersion: apps/v1\nkind: Deployment\n") || !strings.Contains(out, "---\napiVersion: v1\nkind: Service\n") || strings.Contains(out, "warning") {
		t.Errorf("stdout is not the two objects alone:\n%s", out)
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

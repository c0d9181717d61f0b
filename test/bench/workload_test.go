package bench

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// workload is n objects spread over 10 namespaces: 60% ConfigMaps, 20%
// Deployments (1 replica each) and 20% Services, one file each, plus the
// Namespace objects. prefix keeps each tool's objects apart.
type workload struct {
	n      int
	prefix string
	label  string // bench=<label> on every object, for kubectl's prune
	// idle makes the Deployments scale to 0: no pods. BenchmarkHugeSync's
	// 2000 Deployments would otherwise make 2000 simulated pods, which the
	// test control plane's controllers on 2 cores take over 10 minutes to
	// bring up: their cost, not the sync's.
	idle bool
}

const namespaces = 10

func (w workload) namespace(i int) string {
	return fmt.Sprintf("%s-%d-%02d", w.prefix, w.n, i%namespaces)
}

// files returns path → manifest; keep(i) decides which objects are included.
func (w workload) files(keep func(i int) bool, changed int) map[string]string {
	out := map[string]string{}
	for i := range namespaces {
		out[fmt.Sprintf("objs/ns-%02d.yaml", i)] = fmt.Sprintf(
			"apiVersion: v1\nkind: Namespace\nmetadata:\n  name: %s\n  labels: {bench: %s}\n", w.namespace(i), w.label)
	}
	for i := range w.n {
		if !keep(i) {
			continue
		}
		value := "v1"
		if i == changed {
			value = "v2"
		}
		out[fmt.Sprintf("objs/obj-%04d.yaml", i)] = w.object(i, value)
	}
	return out
}

func (w workload) object(i int, value string) string {
	meta := fmt.Sprintf("metadata:\n  name: obj-%04d\n  namespace: %s\n  labels: {bench: %s, app: obj-%04d}\n", i, w.namespace(i), w.label, i)
	switch i % 5 {
	case 3:
		replicas := 1
		if w.idle {
			replicas = 0
		}
		return "apiVersion: apps/v1\nkind: Deployment\n" + meta + fmt.Sprintf(`spec:
  replicas: %d
  selector:
    matchLabels: {app: obj-%04d}
  template:
    metadata:
      labels: {app: obj-%04d}
    spec:
      containers:
      - name: app
        image: registry.example/app:1.0
        resources: {requests: {cpu: 10m, memory: 16Mi}}
`, replicas, i, i)
	case 4:
		return "apiVersion: v1\nkind: Service\n" + meta + fmt.Sprintf("spec:\n  selector: {app: obj-%04d}\n  ports:\n  - port: 80\n    targetPort: 8080\n", i-1)
	}
	return "apiVersion: v1\nkind: ConfigMap\n" + meta + fmt.Sprintf("data:\n  key: %q\n  other: some configuration text\n", value)
}

// write replaces dir's objs/ with files.
func write(t testing.TB, dir string, files map[string]string) {
	t.Helper()
	if err := os.RemoveAll(filepath.Join(dir, "objs")); err != nil {
		t.Fatal(err)
	}
	for path, content := range files {
		p := filepath.Join(dir, path)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func all(int) bool { return true }

func firstHalf(n int) func(int) bool { return func(i int) bool { return i < n/2 } }

func TestWorkloadIsTheAdvertisedMix(t *testing.T) {
	w := workload{n: 1000, prefix: "t", label: "t"}
	kinds := map[string]int{}
	for _, content := range w.files(all, -1) {
		var kind string
		for _, k := range []string{"Namespace", "ConfigMap", "Deployment", "Service"} {
			if contains(content, "kind: "+k+"\n") {
				kind = k
			}
		}
		kinds[kind]++
	}
	want := map[string]int{"Namespace": 10, "ConfigMap": 600, "Deployment": 200, "Service": 200}
	for k, n := range want {
		if kinds[k] != n {
			t.Errorf("%s: %d, want %d (all: %v)", k, kinds[k], n, kinds)
		}
	}
	if half := len(w.files(firstHalf(1000), -1)); half != 510 {
		t.Errorf("half the workload has %d files, want 500 objects + 10 namespaces", half)
	}
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }

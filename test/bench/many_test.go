package bench

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/gitsync-io/gitsync/test/gitserver"
	"github.com/gitsync-io/gitsync/test/internal/syncbuf"
	"github.com/gitsync-io/gitsync/test/testenv"
)

// BenchmarkManySyncs runs one `gitsync run --config` with 1000 syncs of 4
// objects each (a Namespace and 3 ConfigMaps, one kustomization per sync,
// all from one source) as a ServiceAccount through the counting proxy: from
// a cold cluster to all Ready, then a commit changing every path, pushed by
// webhook, to all Ready on it, then one no-op interval. Beside it, the
// floor engine applies the same 4000 objects in one 32-way pass: the API
// server's own share of the cold step. Flux publishes 4 min 13 s and
// 223 MiB for the same shape.
func BenchmarkManySyncs(b *testing.B) {
	for b.Loop() {
		m := runManySyncs(b, manyOptions{syncs: 1000, interval: time.Minute})
		floor := floorApply(b, m.proxy, m.manifests)
		m.print(floor)
		b.ReportMetric(m.cold.wall.Seconds(), "s-cold")
		b.ReportMetric(m.change.wall.Seconds(), "s-change")
		b.ReportMetric(float64(m.peakRSS>>20), "MiB-peak")
	}
}

// manyOptions shape a runManySyncs.
type manyOptions struct {
	syncs    int
	interval time.Duration
}

// manyRun is what runManySyncs measured.
type manyRun struct {
	manyOptions
	proxy        *testenv.Proxy
	manifests    []string // the cold step's objects
	cold, change manyStep
	noop         manyStep
	noopRuns     int      // syncs run in the no-op window
	noopUncached []string // log lines of no-op runs that rendered afresh
	peakRSS, rss int64
	rssParts     string // what rss is made of
	logs         *syncbuf.Buffer
}

// manyStep is one step: its wall time, requests by "verb resource" and git
// HTTP requests.
type manyStep struct {
	wall     time.Duration
	requests map[string]int
	git      int
}

func (s manyStep) total(verbs ...string) int {
	n := 0
	for key, c := range s.requests {
		verb, _, _ := strings.Cut(key, " ")
		if slices.Contains(verbs, verb) {
			n += c
		}
	}
	return n
}

func runManySyncs(t testing.TB, o manyOptions) *manyRun {
	t.Helper()
	run := runs.Add(1)
	f := newManyFixture(t, fmt.Sprintf("m%d", run), o.syncs, o.interval, nil)
	proxy := testenv.StartProxy(t, identity(t))
	m := &manyRun{manyOptions: o, proxy: proxy, logs: &syncbuf.Buffer{}}
	for _, content := range manyFiles(f.prefix, o.syncs, "v1") {
		if !strings.HasPrefix(content, "apiVersion: kustomize") {
			m.manifests = append(m.manifests, strings.Split(content, "---\n")...)
		}
	}
	repo, srv, admin, invNS := f.repo, f.srv, f.admin, f.invNS

	bin := buildGitsync(t)
	addr := freeAddr(t)
	cmd := exec.Command(bin, "run", "--config", f.config, "--kubeconfig", proxy.Kubeconfig,
		"--namespace", invNS, "--cache-dir", t.TempDir(), "--http-addr", addr, "--log-format", "json")
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir())
	cmd.Stdout, cmd.Stderr = m.logs, m.logs
	before := m.snapshot(srv)
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// SIGTERM, not a kill: gitsync then exits through main, which writes the
	// profiles GITSYNC_CPU_PROFILE_DIR asks for (the heap in use, by site).
	t.Cleanup(func() { _ = cmd.Process.Signal(syscall.SIGTERM); _ = cmd.Wait() })

	cold := repo.Head(t)
	m.waitAllReady(t, admin, invNS, cold, 10*time.Minute)
	m.cold = m.since(srv, before, start)

	repo.Commit(t, "change every path", manyFiles(f.prefix, o.syncs, "v2"))
	changed := repo.Head(t)
	before, start = m.snapshot(srv), time.Now()
	f.push(t, addr)
	m.waitAllReady(t, admin, invNS, changed, 10*time.Minute)
	m.change = m.since(srv, before, start)

	// Every sync runs at least once in 1.1 intervals (the jitter is ±10%).
	logged := m.logs.Len()
	before, start = m.snapshot(srv), time.Now()
	time.Sleep(o.interval + o.interval/10 + 2*time.Second)
	m.noop = m.since(srv, before, start)
	for line := range strings.SplitSeq(m.logs.String()[logged:], "\n") {
		if strings.Contains(line, `"msg":"synced"`) {
			m.noopRuns++
			if !strings.Contains(line, `"renderCached":true`) {
				m.noopUncached = append(m.noopUncached, line)
			}
		}
	}
	m.rss, m.peakRSS = procMemory(t, cmd.Process.Pid)
	m.rssParts = rssParts(t, cmd.Process.Pid)
	return m
}

// manyFixture is a repository of kustomizations served over HTTP, the
// namespace for the syncs' inventories, and a config file with one sync per
// path and a webhook secret.
type manyFixture struct {
	prefix, invNS, config string
	repo                  *gitserver.Repo
	srv                   *gitserver.HTTPServer
	admin                 kubernetes.Interface
	secret                []byte
}

// newManyFixture commits manyFiles(prefix, syncs, "v1"); extra, if set,
// adds to a sync's line in the config (", dependsOn: [...]").
func newManyFixture(t testing.TB, prefix string, syncs int, interval time.Duration, extra func(invNS, name string) string) *manyFixture {
	t.Helper()
	f := &manyFixture{prefix: prefix, invNS: prefix + "-gitsync", repo: gitserver.NewRepo(t), secret: []byte("bench-webhook-secret")}
	f.srv = gitserver.StartHTTP(t, f.repo.Root(), gitserver.Options{})
	f.repo.Commit(t, "cold", manyFiles(prefix, syncs, "v1"))
	admin, err := kubernetes.NewForConfig(testenv.Config(t))
	if err != nil {
		t.Fatal(err)
	}
	f.admin = admin
	if _, err := admin.CoreV1().Namespaces().Create(t.Context(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: f.invNS}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	var config strings.Builder
	fmt.Fprintf(&config, "apiVersion: gitsync.io/v1alpha1\nkind: Config\nsources:\n- {name: repo, url: %s, ref: main, interval: %s}\nsyncs:\n",
		f.srv.URL+"/"+f.repo.Name(), interval)
	for i := range syncs {
		name, more := fmt.Sprintf("s%04d", i), ""
		if extra != nil {
			more = extra(f.invNS, name)
		}
		fmt.Fprintf(&config, "- {name: %s, source: repo, path: apps/%s, timeout: 5m%s}\n", name, name, more)
	}
	fmt.Fprintf(&config, "webhook: {secretFile: %s}\n", filepath.Join(dir, "secret"))
	f.config = filepath.Join(dir, "config.yaml")
	for path, data := range map[string][]byte{filepath.Join(dir, "secret"): f.secret, f.config: []byte(config.String())} {
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

// push sends a signed GitHub push of the repository's head to the
// instance serving addr.
func (f *manyFixture) push(t testing.TB, addr string) {
	t.Helper()
	body := fmt.Appendf(nil, `{"ref":"refs/heads/main","after":%q,"repository":{"clone_url":%q}}`, f.repo.Head(t), f.srv.URL+"/"+f.repo.Name())
	postSigned(t, "http://"+addr+"/hooks/github", body, f.secret)
}

type snapshot struct {
	requests map[string]int
	git      int
}

func (m *manyRun) snapshot(srv *gitserver.HTTPServer) snapshot {
	return snapshot{requests: m.proxy.RequestsByResource(), git: srv.Requests()}
}

func (m *manyRun) since(srv *gitserver.HTTPServer, s snapshot, start time.Time) manyStep {
	step := manyStep{wall: time.Since(start), requests: map[string]int{}, git: srv.Requests() - s.git}
	for key, c := range m.proxy.RequestsByResource() {
		if d := c - s.requests[key]; d > 0 {
			step.requests[key] = d
		}
	}
	return step
}

// waitAllReady polls the inventories (directly, not through the proxy)
// until every sync is Ready on revision.
func (m *manyRun) waitAllReady(t testing.TB, admin kubernetes.Interface, namespace, revision string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		cms, err := admin.CoreV1().ConfigMaps(namespace).List(t.Context(), metav1.ListOptions{LabelSelector: "gitsync.io/inventory"})
		if err != nil {
			t.Fatal(err)
		}
		ready, notReady := 0, ""
		for _, cm := range cms.Items {
			var st struct {
				Ready    bool   `json:"ready"`
				Revision string `json:"lastAppliedRevision"`
				Error    string `json:"error"`
			}
			_ = json.Unmarshal([]byte(cm.Data["status"]), &st)
			if st.Ready && st.Revision == revision {
				ready++
			} else if notReady == "" || st.Error != "" {
				notReady = cm.Name + ": " + cm.Data["status"]
			}
		}
		if ready == m.syncs {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d syncs Ready on %s after %s; for example %s\nlogs (tail):\n%s", ready, m.syncs, revision[:12], timeout, notReady, tailOf(m.logs.String(), 4000))
		}
		time.Sleep(time.Second)
	}
}

func (m *manyRun) print(floor time.Duration) {
	fmt.Printf("\n`gitsync run` with %d syncs of 4 objects (a Namespace, 3 ConfigMaps; one kustomization each), one source, interval %s, as a ServiceAccount:\n\n", m.syncs, m.interval)
	fmt.Println("| step | wall | git requests | API reads (get/list/watch) | API writes | requests by resource |")
	fmt.Println("|---|---|---|---|---|---|")
	for _, s := range []struct {
		name string
		step manyStep
	}{{"cold → all Ready", m.cold}, {"commit to every path → all Ready", m.change}, {fmt.Sprintf("no-op interval (%d sync runs)", m.noopRuns), m.noop}} {
		fmt.Printf("| %s | %.1f s | %d | %d | %d | %s |\n", s.name, s.step.wall.Seconds(), s.step.git,
			s.step.total("get", "list", "watch"), s.step.total("create", "update", "patch", "delete"), byResource(s.step.requests))
	}
	fmt.Printf("\nfloor engine, the same %d objects in one 32-way pass (the API server's share of the cold step): %.1f s\n", len(m.manifests), floor.Seconds())
	fmt.Printf("gitsync RSS at the end %d MiB (%s), peak %d MiB\n", m.rss>>20, m.rssParts, m.peakRSS>>20)
}

func byResource(requests map[string]int) string {
	keys := slices.Sorted(maps.Keys(requests))
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s %d", strings.TrimSpace(k), requests[k]))
	}
	return strings.Join(parts, ", ")
}

// manyFiles is n kustomizations of a Namespace and 3 ConfigMaps each.
func manyFiles(prefix string, n int, value string) map[string]string {
	out := map[string]string{}
	for i := range n {
		ns := fmt.Sprintf("%s-s%04d", prefix, i)
		dir := fmt.Sprintf("apps/s%04d/", i)
		out[dir+"kustomization.yaml"] = "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources: [objects.yaml]\n"
		docs := []string{fmt.Sprintf("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: %s\n", ns)}
		for c := range 3 {
			docs = append(docs, fmt.Sprintf("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: config-%d\n  namespace: %s\ndata:\n  key: %q\n", c, ns, value))
		}
		out[dir+"objects.yaml"] = strings.Join(docs, "---\n")
	}
	return out
}

// floorApply applies manifests with the floor engine, Namespaces first.
func floorApply(b *testing.B, proxy *testenv.Proxy, manifests []string) time.Duration {
	f := newFloorRunner(b, proxy, workload{})
	floorManifests := make([]string, len(manifests))
	for i, m := range manifests { // the floor's own objects, beside gitsync's
		floorManifests[i] = strings.ReplaceAll(m, "-s", "-floor-s")
	}
	start := time.Now()
	f.parallel(b, b.Context(), namespacesFirst(floorManifests), f.apply)
	return time.Since(start)
}

func tailOf(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[len(s)-n:]
}

// TestManySyncs is BenchmarkManySyncs at 50 syncs, asserting what sharing
// promises: one fetch per source and trigger however many syncs read it,
// and a no-op interval that writes nothing, lists nothing per sync and
// renders nothing again.
func TestManySyncs(t *testing.T) {
	const syncs = 50
	m := runManySyncs(t, manyOptions{syncs: syncs, interval: 10 * time.Second})
	m.print(0)
	// A fetch of a new revision is two requests (refs, then the pack); a
	// check of an unchanged one is one. A step gets one fetch, plus at most
	// one check per half interval it lasts (a check is shared for that long).
	// The first check of all also asks the server which protocol it speaks.
	for name, s := range map[string]manyStep{"cold": m.cold, "change": m.change} {
		most := 3 + int(s.wall/(m.interval/2))
		if name == "cold" {
			most++
		}
		if s.git > most {
			t.Errorf("%s: %d git requests in %s for %d syncs of one source; want one fetch (2) and a check per half interval, %d at most", name, s.git, s.wall, syncs, most)
		}
	}
	if m.noopRuns < syncs {
		t.Errorf("no-op window: %d sync runs, want every one of the %d syncs to run", m.noopRuns, syncs)
	}
	if w := m.noop.total("create", "update", "patch", "delete"); w != 0 {
		t.Errorf("no-op interval: %d writes, want none: %s", w, byResource(m.noop.requests))
	}
	if r := m.noop.total("get", "list"); r > 3 {
		t.Errorf("no-op interval: %d reads for %d sync runs, want them served by watches: %s", r, m.noopRuns, byResource(m.noop.requests))
	}
	if m.noop.git > 3 {
		t.Errorf("no-op interval: %d git requests for %d syncs of one source, want one check per interval", m.noop.git, syncs)
	}
	if len(m.noopUncached) > 0 {
		t.Errorf("no-op interval: %d syncs rendered again, want the render cache used; first: %s", len(m.noopUncached), m.noopUncached[0])
	}
	if n := m.cold.requests["list namespaces"] + m.cold.requests["list configmaps"]; n > 20 {
		t.Errorf("cold: %d LISTs of namespaces and configmaps for %d syncs, want about one per kind: %s", n, syncs, byResource(m.cold.requests))
	}
}

package bench

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"

	"github.com/gitsync-io/gitsync/test/gitserver"
	"github.com/gitsync-io/gitsync/test/internal/syncbuf"
	"github.com/gitsync-io/gitsync/test/testenv"
)

// BenchmarkRunLoop measures `gitsync run` as it runs in a cluster: the time
// from a signed push webhook to the changed object being live, over
// one-object pushes, and the resident memory of the process holding the
// synced objects (steady state, after the pushes). At 10,000 objects the
// Deployments have no replicas, as in BenchmarkHugeSync, whose one change
// is the same commit made by `gitsync sync` in a new process.
func BenchmarkRunLoop(b *testing.B) {
	for _, size := range []struct{ n, pushes int }{{1000, 25}, {10000, 10}} {
		b.Run(fmt.Sprintf("objects=%d", size.n), func(b *testing.B) {
			for b.Loop() {
				p50, p95, rss, hwm := pushToApplied(b, size.n, size.pushes)
				fmt.Printf("\n`gitsync run` with %d objects, as a ServiceAccount: push → applied p50 %s, p95 %s over %d pushes; RSS %d MiB (peak %d MiB)\n",
					size.n, p50.Round(time.Millisecond), p95.Round(time.Millisecond), size.pushes, rss>>20, hwm>>20)
				b.ReportMetric(p50.Seconds(), "s-push-to-applied-p50")
				b.ReportMetric(p95.Seconds(), "s-push-to-applied-p95")
				b.ReportMetric(float64(rss>>20), "MiB-rss")
			}
		})
	}
}

func pushToApplied(b *testing.B, n, pushes int) (p50, p95 time.Duration, rss, hwm int64) {
	b.Helper()
	run := runs.Add(1)
	w := workload{n: n, prefix: fmt.Sprintf("w%d", run), label: fmt.Sprintf("w%d-%d", run, n), idle: n > 1000}
	secret := []byte("bench-webhook-secret")
	g := startRun(b, w, secret)
	repo, srv, addr, cmd, logs := g.repo, g.srv, g.addr, g.cmd, g.logs

	admin, err := dynamic.NewForConfig(testenv.Config(b))
	if err != nil {
		b.Fatal(err)
	}
	value := func() string {
		u, err := admin.Resource(floorResources["ConfigMap"]).Namespace(w.namespace(0)).Get(b.Context(), "obj-0000", metav1.GetOptions{})
		if err != nil {
			return ""
		}
		v, _, _ := unstructured.NestedString(u.Object, "data", "key")
		return v
	}
	waitFor := func(what, want string, timeout time.Duration) {
		deadline := time.Now().Add(timeout)
		for value() != want {
			if time.Now().After(deadline) {
				b.Fatalf("%s: not within %s; logs:\n%s", what, timeout, logs.String())
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	waitFor("the first sync", "v1", 10*time.Minute)
	for deadline := time.Now().Add(10 * time.Minute); !strings.Contains(logs.String(), "msg=synced"); time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) { // the first sync applied obj-0000 but has not finished
			b.Fatalf("the first sync did not finish; logs:\n%s", logs.String())
		}
	}

	var took []time.Duration
	for i := range pushes {
		v := fmt.Sprintf("push-%d", i)
		repo.Commit(b, v, map[string]string{"objs/obj-0000.yaml": strings.Replace(w.object(0, v), "key: \"v1\"", "key: "+strconv.Quote(v), 1)})
		body := fmt.Appendf(nil, `{"ref":"refs/heads/main","after":%q,"repository":{"clone_url":%q}}`, repo.Head(b), srv.URL+"/"+repo.Name())
		start := time.Now()
		postSigned(b, "http://"+addr+"/hooks/github", body, secret)
		waitFor("a pushed change", v, time.Minute)
		took = append(took, time.Since(start))
	}
	slices.Sort(took)
	rss, hwm = procMemory(b, cmd.Process.Pid)
	fmt.Printf("\nresident now: %s\n", rssParts(b, cmd.Process.Pid))
	time.Sleep(time.Second) // let the last sync log its line
	for _, line := range strings.Split(logs.String(), "\n") {
		if strings.Contains(line, "msg=synced") {
			fmt.Println(line)
		}
	}
	return took[len(took)/2], took[len(took)*95/100], rss, hwm
}

// running is a `gitsync run` of one sync of a workload, as a
// ServiceAccount, serving HTTP on addr.
type running struct {
	repo  *gitserver.Repo
	srv   *gitserver.HTTPServer
	proxy *testenv.Proxy
	bin   string
	addr  string
	cmd   *exec.Cmd
	logs  *syncbuf.Buffer // written by the process while the benchmark reads it
}

// startRun commits w to a new repository and starts `gitsync run` of it,
// interval 1h, with webhooks when secret is set.
func startRun(b *testing.B, w workload, secret []byte) *running {
	b.Helper()
	g := &running{repo: gitserver.NewRepo(b), logs: &syncbuf.Buffer{}}
	g.srv = gitserver.StartHTTP(b, g.repo.Root(), gitserver.Options{})
	g.repo.Commit(b, "workload", w.files(all, -1))
	g.proxy = testenv.StartProxy(b, identity(b))
	dir := b.TempDir()
	config := fmt.Sprintf("apiVersion: gitsync.io/v1alpha1\nkind: Config\nsources:\n- {name: repo, url: %s, ref: main, interval: 1h}\nsyncs:\n- {name: %s, source: repo, path: objs, timeout: 10m}\n",
		g.srv.URL+"/"+g.repo.Name(), w.label)
	if secret != nil {
		config += fmt.Sprintf("webhook: {secretFile: %s}\n", filepath.Join(dir, "secret"))
		if err := os.WriteFile(filepath.Join(dir, "secret"), secret, 0o600); err != nil {
			b.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "config.yaml"), []byte(config), 0o600); err != nil {
		b.Fatal(err)
	}
	g.bin, g.addr = buildGitsync(b), freeAddr(b)
	g.cmd = exec.Command(g.bin, "run", "--config", filepath.Join(dir, "config.yaml"), "--kubeconfig", g.proxy.Kubeconfig,
		"--namespace", "bench-identity", "--cache-dir", b.TempDir(), "--http-addr", g.addr)
	g.cmd.Env = append(os.Environ(), "HOME="+b.TempDir())
	g.cmd.Stdout, g.cmd.Stderr = g.logs, g.logs
	if err := g.cmd.Start(); err != nil {
		b.Fatal(err)
	}
	// SIGTERM, not a kill: gitsync then exits through main, which writes the
	// profiles GITSYNC_CPU_PROFILE_DIR asks for.
	b.Cleanup(func() { _ = g.cmd.Process.Signal(syscall.SIGTERM); _ = g.cmd.Wait() })
	return g
}

func postSigned(b testing.TB, url string, body, secret []byte) {
	b.Helper()
	mac := hmac.New(sha256.New, secret)
	mac.Write(body)
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		b.Fatal(err)
	}
	req.Header.Set("X-GitHub-Event", "push")
	req.Header.Set("X-Hub-Signature-256", "sha256="+hex.EncodeToString(mac.Sum(nil)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		b.Fatalf("webhook answered %d", resp.StatusCode)
	}
}

// procMemory reads the resident and peak resident memory of pid.
func procMemory(b testing.TB, pid int) (rss, hwm int64) {
	b.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatal(err)
	}
	for line := range strings.SplitSeq(string(data), "\n") {
		field, value, _ := strings.Cut(line, ":")
		kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(value), " kB"), 10, 64)
		switch field {
		case "VmRSS":
			rss = kb << 10
		case "VmHWM":
			hwm = kb << 10
		}
	}
	return rss, hwm
}

// rssParts says what the resident memory of pid is made of: anonymous
// (the heap, stacks) and file-backed (mostly the binary's own pages, shared
// and reclaimable), from /proc/PID/status.
func rssParts(b testing.TB, pid int) string {
	b.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatal(err)
	}
	parts := map[string]int64{}
	for line := range strings.SplitSeq(string(data), "\n") {
		field, value, _ := strings.Cut(line, ":")
		kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(value), " kB"), 10, 64)
		parts[field] = kb >> 10
	}
	return fmt.Sprintf("%d MiB anonymous, %d MiB file-backed", parts["RssAnon"], parts["RssFile"])
}

func freeAddr(b testing.TB) string {
	b.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

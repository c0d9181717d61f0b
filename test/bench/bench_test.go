package bench

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/gitsync-io/gitsync/test/testenv"
)

// BenchmarkSync runs the same four steps with gitsync, with kubectl (apply
// --server-side --prune --applyset, then kubectl wait) and with a bare
// parallel floor (floor_test.go) on the same objects, as a non-admin
// ServiceAccount, and prints one table per size: cold sync, no-op resync, one
// object changed, half the objects pruned. Run it with
// -benchtime 1x (make bench); each step is one run of each tool.
func BenchmarkSync(b *testing.B) {
	p := plane{admin: testenv.Config(b), identity: identity(b)}
	for _, n := range []int{100, 1000} {
		b.Run(fmt.Sprintf("objects=%d", n), func(b *testing.B) {
			for b.Loop() {
				rows := compare(b, p, n, true, false)
				printTable(n, rows)
				for _, r := range rows {
					if r.tool == "gitsync" {
						b.ReportMetric(r.wall.Seconds(), "s-"+strings.ReplaceAll(r.step, " ", "-"))
					}
				}
			}
		})
	}
}

var (
	identityOnce sync.Once
	identityCfg  *rest.Config
	runs         atomic.Int64
)

func identity(b testing.TB) *rest.Config {
	identityOnce.Do(func() { identityCfg = serviceAccount(b, testenv.Config(b)) })
	return identityCfg
}

// plane is a control plane the tools run against: its admin configuration,
// and the non-admin ServiceAccount the tools act as.
type plane struct{ admin, identity *rest.Config }

// freshPlane starts a control plane of its own (Deployments become
// Available on it), and returns it with the function that stops it; it is
// stopped at the end of the benchmark in any case.
func freshPlane(b *testing.B) (plane, func()) {
	b.Helper()
	cp, err := testenv.Start(b.Context(), testenv.Options{Workloads: true})
	if err != nil {
		b.Fatalf("start a control plane: %v", err)
	}
	b.Cleanup(cp.Stop)
	return plane{admin: cp.Config, identity: serviceAccount(b, cp.Config)}, cp.Stop
}

// runner is one tool, run on the benchmark's steps in order.
type runner interface {
	run(b *testing.B, s step) row
}

// row is one tool's run of one step.
type row struct {
	step, tool string
	wall       time.Duration
	phases     map[string]float64 // seconds
	requests   map[string]int
	rss        peakRSS // zero for the floor, which runs in the benchmark's process
	summary    string
}

type step struct {
	name  string
	files func(w workload) map[string]string
}

func steps(n int) []step {
	return []step{
		{"cold", func(w workload) map[string]string { return w.files(all, -1) }},
		{"no-op", func(w workload) map[string]string { return w.files(all, -1) }},
		{"one change", func(w workload) map[string]string { return w.files(all, 0) }},
		{"prune half", func(w workload) map[string]string { return w.files(firstHalf(n), 0) }},
	}
}

func compare(b *testing.B, p plane, n int, withKubectl, idle bool) []row {
	run := runs.Add(1)
	proxy := testenv.StartProxy(b, p.identity)
	g := newGitsyncRunner(b, proxy, workload{n: n, prefix: fmt.Sprintf("g%d", run), label: fmt.Sprintf("g%d-%d", run, n), idle: idle})
	f := newFloorRunner(b, proxy, workload{n: n, prefix: fmt.Sprintf("f%d", run), label: fmt.Sprintf("f%d-%d", run, n), idle: idle})
	var k *kubectlRunner
	if withKubectl {
		k = newKubectlRunner(b, p.admin, proxy, workload{n: n, prefix: fmt.Sprintf("k%d", run), label: fmt.Sprintf("k%d-%d", run, n), idle: idle})
	}
	var rows []row
	for _, s := range steps(n) {
		rows = append(rows, f.run(b, s))
		settle(b, p.admin)
		rows = append(rows, g.run(b, s))
		settle(b, p.admin)
		if k != nil {
			rows = append(rows, k.run(b, s))
			settle(b, p.admin)
		}
	}
	return rows
}

// compareApart runs the four steps with the floor, then with gitsync, each
// on a control plane of its own, started for it and stopped after its last
// step, and returns the rows in compare's order. Each tool's cold step then
// writes into an empty store. On one plane, as in compare, the second
// tool's cold step writes beside the first one's objects; at 10,000 objects
// that made either tool's cold step 1.2–1.6× slower than when it went first
// (the README has the runs). done is called after each tool's last step,
// while its plane still runs.
func compareApart(b *testing.B, n int, idle bool, done func(tool string, p plane)) []row {
	run := runs.Add(1)
	byStep := map[string][]row{}
	for _, tool := range []string{"floor", "gitsync"} {
		p, stop := freshPlane(b)
		proxy := testenv.StartProxy(b, p.identity)
		w := workload{n: n, prefix: fmt.Sprintf("%c%d", tool[0], run), label: fmt.Sprintf("%c%d-%d", tool[0], run, n), idle: idle}
		var r runner = newFloorRunner(b, proxy, w)
		if tool == "gitsync" {
			r = newGitsyncRunner(b, proxy, w)
		}
		settle(b, p.admin) // the controllers' own start-up work
		for _, s := range steps(n) {
			byStep[s.name] = append(byStep[s.name], r.run(b, s))
			settle(b, p.admin)
		}
		done(tool, p)
		stop()
	}
	var rows []row
	for _, s := range steps(n) {
		rows = append(rows, byStep[s.name]...)
	}
	return rows
}

// BenchmarkHugeSync is BenchmarkSync's four steps with 10,000 objects,
// gitsync beside the floor (kubectl's ApplySet prune takes minutes a step at
// this size; BenchmarkSync has it at 1000), each on a control plane of its
// own (compareApart), then the size of the sync's inventory record, which a
// ConfigMap must hold (1 MiB). The Deployments have no replicas (see
// workload.idle).
func BenchmarkHugeSync(b *testing.B) {
	const n = 10000
	for b.Loop() {
		var inventory string
		rows := compareApart(b, n, true, func(tool string, p plane) {
			if tool == "gitsync" {
				inventory = inventorySize(b, p.admin, fmt.Sprintf("g%d-%d", runs.Load(), n))
			}
		})
		printTable(n, rows)
		walls := map[string]map[string]time.Duration{}
		for _, r := range rows {
			if walls[r.step] == nil {
				walls[r.step] = map[string]time.Duration{}
			}
			walls[r.step][r.tool] = r.wall
		}
		fmt.Println()
		for _, s := range steps(n) {
			ratio := walls[s.name]["gitsync"].Seconds() / walls[s.name]["floor"].Seconds()
			fmt.Printf("%s: gitsync %.2f× the floor\n", s.name, ratio)
			b.ReportMetric(ratio, "x-floor-"+strings.ReplaceAll(s.name, " ", "-"))
		}
		// The floor is told which object changed, and checks nothing else. An
		// engine that undoes hand edits must also read what the floor reads
		// in its no-op: one LIST per kind.
		checked := walls["no-op"]["floor"] + walls["one change"]["floor"]
		ratio := walls["one change"]["gitsync"].Seconds() / checked.Seconds()
		fmt.Printf("one change: gitsync %.2f× the floor with a drift check (its no-op, then its one change: %.2f s)\n", ratio, checked.Seconds())
		b.ReportMetric(ratio, "x-checked-floor-one-change")
		fmt.Printf("inventory record of the last step: %s\n", inventory)
	}
}

// inventorySize reads the size of the inventory ConfigMap of the sync named
// name in bench-identity.
func inventorySize(b *testing.B, admin *rest.Config, name string) string {
	cs, err := kubernetes.NewForConfig(admin)
	if err != nil {
		b.Fatal(err)
	}
	cm, err := cs.CoreV1().ConfigMaps("bench-identity").Get(b.Context(), "gitsync-"+name, metav1.GetOptions{})
	if err != nil {
		b.Fatal(err)
	}
	if gz, ok := cm.BinaryData["inventory.gz"]; ok {
		return fmt.Sprintf("%d bytes gzipped", len(gz))
	}
	return fmt.Sprintf("%d bytes", len(cm.Data["inventory"]))
}

// measure runs cmd through the proxy and records wall time, requests by
// method and the peak RSS of the process.
func measure(b *testing.B, proxy *testenv.Proxy, cmd *exec.Cmd) (time.Duration, map[string]int, peakRSS, []byte) {
	b.Helper()
	before := proxy.Requests()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	peak := watchPeakRSS(cmd.Process.Pid)
	err := cmd.Wait()
	wall := time.Since(start)
	if err != nil {
		b.Fatalf("%s: %v\n%s\n%s", strings.Join(cmd.Args, " "), err, stdout.String(), stderr.String())
	}
	after := proxy.Requests()
	delta := map[string]int{}
	for m, c := range after {
		if d := c - before[m]; d > 0 {
			delta[m] = d
		}
	}
	return wall, delta, peak(), stdout.Bytes()
}

// peakRSS is a process's peak resident memory and, apart, the peak of its
// anonymous part, in MiB. The rest is the binary's own pages, which the
// kernel maps a folio at a time: touching one line of code can map 64 KiB
// or more of the file.
type peakRSS struct{ total, anon int64 }

func (p peakRSS) String() string {
	if p.total == 0 {
		return "–"
	}
	return fmt.Sprintf("%d MiB (anon %d)", p.total, p.anon)
}

// watchPeakRSS samples the peak resident memory (VmHWM) and the largest
// anonymous part (RssAnon) of pid every few milliseconds until it exits; the
// returned function gives the last sample. The rusage of a waited-for child
// is no measure: Go starts a child sharing the parent's memory until exec,
// and Linux keeps that high water mark in the child's ru_maxrss, so it
// reported the benchmark's own RSS (84 MiB for every step of every tool).
func watchPeakRSS(pid int) func() peakRSS {
	var total, anon atomic.Int64
	done := make(chan struct{})
	go func() {
		defer close(done)
		path := fmt.Sprintf("/proc/%d/status", pid)
		for {
			data, err := os.ReadFile(path)
			if err != nil {
				return // exited
			}
			for line := range strings.SplitSeq(string(data), "\n") {
				name, v, _ := strings.Cut(line, ":")
				kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
				switch name {
				case "VmHWM":
					total.Store(max(total.Load(), kb<<10))
				case "RssAnon":
					anon.Store(max(anon.Load(), kb<<10))
				}
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()
	return func() peakRSS {
		select {
		case <-done:
		case <-time.After(time.Second):
		}
		return peakRSS{total: total.Load() >> 20, anon: anon.Load() >> 20}
	}
}

// gitsyncRunner commits each step to a local repository, pushes it to a bare
// one as to a git server, and runs gitsync sync on that. The bare repository
// holds what a server would: the first push's objects in a pack, a small
// push's loose (git's transfer.unpackLimit). A working repository would hold
// every object loose, and git upload-pack would search deltas for all of
// them on every fetch, which no server does.
type gitsyncRunner struct {
	bin, work, repo, cache string
	proxy                  *testenv.Proxy
	w                      workload
}

func newGitsyncRunner(b *testing.B, proxy *testenv.Proxy, w workload) *gitsyncRunner {
	b.Helper()
	bin := buildGitsync(b)
	work, repo := b.TempDir(), b.TempDir()
	git(b, work, "init", "-q", "-b", "main")
	git(b, repo, "init", "-q", "--bare", "-b", "main")
	return &gitsyncRunner{bin: bin, work: work, repo: repo, cache: b.TempDir(), proxy: proxy, w: w}
}

func (g *gitsyncRunner) run(b *testing.B, s step) row {
	write(b, g.work, s.files(g.w))
	git(b, g.work, "add", "-A")
	if s.name != "no-op" { // a no-op resync sees the same revision
		git(b, g.work, "commit", "-q", "-m", s.name)
		git(b, g.work, "push", "-q", g.repo, "main")
	}
	cmd := exec.Command(g.bin, "sync", "--repo", g.repo, "--path", "objs", "--name", g.w.label,
		"--namespace", "bench-identity", "--kubeconfig", g.proxy.Kubeconfig, "--cache-dir", g.cache,
		"--timeout", "10m", "-o", "json")
	cmd.Env = append(os.Environ(), "HOME="+b.TempDir())
	wall, reqs, rss, out := measure(b, g.proxy, cmd)
	var res struct {
		Counts  map[string]int     `json:"counts"`
		Timings map[string]float64 `json:"timings"`
	}
	if err := json.Unmarshal(out, &res); err != nil {
		b.Fatalf("gitsync -o json: %v\n%s", err, out)
	}
	return row{step: s.name, tool: "gitsync", wall: wall, phases: res.Timings, requests: reqs, rss: rss, summary: countsString(res.Counts)}
}

// kubectlRunner applies each step's files with kubectl, pruning with an
// ApplySet, then waits for the Deployments like gitsync's health phase does.
type kubectlRunner struct {
	bin, dir string
	proxy    *testenv.Proxy
	w        workload
}

func newKubectlRunner(b *testing.B, admin *rest.Config, proxy *testenv.Proxy, w workload) *kubectlRunner {
	b.Helper()
	dir, err := testenv.BinDir()
	if err != nil {
		b.Fatal(err)
	}
	createApplySet(b, admin, w.label)
	return &kubectlRunner{bin: filepath.Join(dir, "kubectl"), dir: b.TempDir(), proxy: proxy, w: w}
}

func (k *kubectlRunner) run(b *testing.B, s step) row {
	write(b, k.dir, s.files(k.w))
	kc := "--kubeconfig=" + k.proxy.Kubeconfig
	// Legacy --prune refuses server-side apply; prune with an ApplySet
	// (alpha, behind KUBECTL_APPLYSET) on a cluster-scoped parent.
	apply := exec.Command(k.bin, kc, "apply", "--server-side", "--field-manager=kubectl-bench", "--force-conflicts",
		"--prune", "--applyset=applysets."+applySetGroup+"/"+k.w.label, "-R", "-f", filepath.Join(k.dir, "objs"))
	apply.Env = append(os.Environ(), "KUBECTL_APPLYSET=true")
	applyWall, reqs, rss, out := measure(b, k.proxy, apply)
	wait := exec.Command(k.bin, kc, "wait", "--for=condition=Available", "deployments", "-A", "-l", "bench="+k.w.label, "--timeout=10m")
	waitWall, waitReqs, waitRSS, _ := measure(b, k.proxy, wait)
	for m, c := range waitReqs {
		reqs[m] += c
	}
	return row{
		step: s.name, tool: "kubectl", wall: applyWall + waitWall,
		phases:   map[string]float64{"apply": applyWall.Seconds(), "health": waitWall.Seconds()},
		requests: reqs, rss: peakRSS{max(rss.total, waitRSS.total), max(rss.anon, waitRSS.anon)}, summary: kubectlSummary(out),
	}
}

func git(b *testing.B, dir string, args ...string) {
	b.Helper()
	cmd := exec.Command("git", append([]string{"-c", "user.name=bench", "-c", "user.email=bench@localhost"}, args...)...)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("git %v: %v\n%s", args, err, out)
	}
}

func countsString(c map[string]int) string {
	var parts []string
	for _, a := range []string{"created", "configured", "unchanged", "deleted", "failed"} {
		if c[a] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", c[a], a))
		}
	}
	return strings.Join(parts, ", ")
}

// kubectlSummary counts kubectl apply's "serverside-applied" and "pruned" lines.
func kubectlSummary(out []byte) string {
	applied := bytes.Count(out, []byte(" serverside-applied\n"))
	pruned := bytes.Count(out, []byte(" pruned\n"))
	return fmt.Sprintf("%d applied, %d pruned", applied, pruned)
}

func printTable(n int, rows []row) {
	var sb strings.Builder
	fmt.Fprintf(&sb, "\n%d objects (60%% ConfigMaps, 20%% Deployments, 20%% Services) in %d namespaces, as a ServiceAccount:\n\n", n, namespaces)
	sb.WriteString("| step | tool | wall | fetch | render | apply | prune | health | discovery | get | list | watch | patch | delete | create+update | peak RSS | result |\n")
	sb.WriteString("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n")
	for _, r := range rows {
		phase := func(p string) string {
			v, ok := r.phases[p]
			if !ok {
				return "–"
			}
			return fmt.Sprintf("%.2f", v)
		}
		q := r.requests
		fmt.Fprintf(&sb, "| %s | %s | %.2f s | %s | %s | %s | %s | %s | %d | %d | %d | %d | %d | %d | %d | %s | %s |\n",
			r.step, r.tool, r.wall.Seconds(), phase("fetch"), phase("render"), phase("apply"), phase("prune"), phase("health"),
			q["discovery"], q["get"], q["list"], q["watch"], q["patch"], q["delete"], q["create"]+q["update"], r.rss, r.summary)
	}
	fmt.Print(sb.String())
}

// buildGitsync builds the binary as `make build` does.
func buildGitsync(b testing.TB) string {
	b.Helper()
	bin := filepath.Join(b.TempDir(), "gitsync")
	build := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w", "-o", bin, "../../cmd/gitsync")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		b.Fatalf("build gitsync: %v\n%s", err, out)
	}
	return bin
}

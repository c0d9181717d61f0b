package bench

import (
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/gitsync-io/gitsync/test/browser"
)

// BenchmarkStatusPage measures the status page of `gitsync run` for one sync
// of 1000 objects (the bench mix): the sync's page as the server serves it
// and as Chromium loads it, beside the same sync's JSON from the page's API
// and from `gitsync status -o json`, which reads the cluster.
func BenchmarkStatusPage(b *testing.B) {
	const n, rounds = 1000, 15
	for b.Loop() {
		run := runs.Add(1)
		w := workload{n: n, prefix: fmt.Sprintf("u%d", run), label: fmt.Sprintf("u%d-%d", run, n)}
		g := startRun(b, w, nil)
		bin, addr, proxy, logs := g.bin, g.addr, g.proxy, g.logs
		base := "http://" + addr + "/ui/"
		page, api := base+"syncs/bench-identity/"+w.label, base+"api/syncs/bench-identity/"+w.label
		deadline := time.Now().Add(10 * time.Minute)
		for !strings.Contains(get(b, api), `"state": "Ready"`) {
			if time.Now().After(deadline) {
				b.Fatalf("the sync is not Ready within 10 minutes; logs:\n%s", logs.String())
			}
			time.Sleep(100 * time.Millisecond)
		}
		html := get(b, page)
		listed := strings.Count(html, "<tr data-status=")
		if listed < n {
			b.Fatalf("the sync page lists %d objects, want %d and their namespaces", listed, n)
		}
		served := timeEach(rounds, func() { get(b, page) })
		asJSON := timeEach(rounds, func() { get(b, api) })
		status := timeEach(5, func() {
			out, err := exec.Command(bin, "status", "--name", w.label, "--kubeconfig", proxy.Kubeconfig, "--namespace", "bench-identity", "-o", "json").CombinedOutput()
			if err != nil {
				b.Fatalf("gitsync status: %v\n%s", err, out)
			}
		})
		ctx := browser.New(b)
		var loaded []time.Duration
		var transferred float64
		for range 5 {
			if err := chromedp.Do(ctx, chromedp.Navigate(page), chromedp.WaitVisible("table.objects")); err != nil {
				b.Fatal(err)
			}
			nav, err := chromedp.Run(ctx, chromedp.Evaluate[[]float64](`(e => [e.loadEventEnd, e.transferSize])(performance.getEntriesByType('navigation')[0])`))
			if err != nil {
				b.Fatal(err)
			}
			loaded = append(loaded, time.Duration(nav[0]*float64(time.Millisecond)))
			transferred = nav[1]
		}
		fmt.Printf("\nStatus page of one sync of %d objects (the bench mix and its namespaces), median:\n\n| what | time | size |\n|---|---:|---:|\n", listed)
		fmt.Printf("| the sync's page, served | %s | %d KiB |\n", median(served).Round(100*time.Microsecond), len(html)>>10)
		fmt.Printf("| the sync's page in Chromium, navigation to load event | %s | %.0f KiB gzipped |\n", median(loaded).Round(time.Millisecond), transferred/1024)
		fmt.Printf("| its JSON, /ui/api/syncs/NS/NAME | %s | %d KiB |\n", median(asJSON).Round(100*time.Microsecond), len(get(b, api))>>10)
		fmt.Printf("| `gitsync status --name NAME -o json` (a process; reads the cluster) | %s | |\n", median(status).Round(time.Millisecond))
		b.ReportMetric(median(served).Seconds()*1000, "ms-page-served")
		b.ReportMetric(median(loaded).Seconds()*1000, "ms-page-loaded")
		b.ReportMetric(median(asJSON).Seconds()*1000, "ms-json")
		b.ReportMetric(median(status).Seconds()*1000, "ms-status-cli")
	}
}

// timeEach runs f n times and returns how long each took.
func timeEach(n int, f func()) []time.Duration {
	out := make([]time.Duration, 0, n)
	for range n {
		start := time.Now()
		f()
		out = append(out, time.Since(start))
	}
	return out
}

func median(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}

func get(b testing.TB, url string) string {
	b.Helper()
	resp, err := http.Get(url)
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return string(body)
}

package e2e

import (
	"cmp"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gitsync-io/gitsync/test/browser"
)

// Values planted where the status page must never show them: the git
// password and the webhook secret (in writeConfig), the page's token, and a
// Secret's data in git.
const (
	uiToken     = "ui-t0ken-n0t-for-pages"
	secretValue = "pl4nted-secret-value"
	newSecret   = "pl4nted-new-secret-value"
)

// uiApp is the repository of TestStatusPage: ready/ applies (a Secret among
// its objects), broken/ names a namespace that does not exist (a failure
// gitsync retries, as someone may create it), and dependent/ waits for
// broken.
func uiApp() map[string]string {
	return map[string]string{
		"ready/a.yaml":          configMap("a", "one"),
		"ready/b.yaml":          configMap("b", "two"),
		"ready/web.yaml":        deployment,
		"ready/secret.yaml":     "apiVersion: v1\nkind: Secret\nmetadata:\n  name: creds\nstringData:\n  password: " + secretValue + "\n",
		"broken/c.yaml":         strings.Replace(configMap("c", "three"), "  name: c\n", "  name: c\n  namespace: no-such-namespace\n", 1),
		"dependent/d.yaml":      configMap("d", "four"),
		"dependent/worker.yaml": strings.ReplaceAll(deployment, "web", "worker"),
	}
}

// TestStatusPage drives the status page of a real gitsync run in headless
// Chromium: the overview's states, live updates after a fixing commit, the
// sync page's objects and filters, the actions and who may use them, the
// accessibility check, the page weight, and that no planted secret reaches
// any page or stream.
func TestStatusPage(t *testing.T) {
	f := newFixture(t)
	f.repo.Commit(t, "three syncs", uiApp())
	tokenFile := filepath.Join(t.TempDir(), "ui-token")
	if err := os.WriteFile(tokenFile, []byte(uiToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	config := f.writeConfig("2s", fmt.Sprintf(`- {name: ready, source: repo, path: ready, namespace: %[1]s, timeout: 60s}
- {name: broken, source: repo, path: broken, namespace: %[1]s, timeout: 60s}
- {name: dependent, source: repo, path: dependent, namespace: %[1]s, dependsOn: [broken], timeout: 60s}`, f.ns))
	p, base := f.runConfig(config, "--ui-token-file", tokenFile)
	page := base + "/ui/"
	p.eventually("the three syncs settle", 60*time.Second, func() bool {
		return slices.Equal(states(t, base), []string{"broken=Failed", "dependent=Waiting", "ready=Ready"})
	})

	// gitsync status says the same, from what the cluster records.
	p.eventually("gitsync status shows the page's states and reasons", 20*time.Second, func() bool {
		return slices.Equal(cliStates(t, f), pageStates(t, base))
	})

	ctx := browser.New(t)
	screenshots := cmp.Or(os.Getenv("GITSYNC_SCREENSHOTS"), t.TempDir())

	// The overview: three rows, their states, the reasons.
	browse(t, ctx, chromedp.Navigate(page), chromedp.WaitVisible("table.syncs"))
	rows := rowStates(t, ctx)
	if want := []string{"broken=failed", "dependent=waiting", "ready=ready"}; !slices.Equal(rows, want) {
		t.Errorf("overview rows %v, want %v", rows, want)
	}
	if reason := evalJS[string](t, ctx, `document.querySelector('tr[data-sync="broken"] .reason').textContent`); !strings.Contains(reason, "no-such-namespace") {
		t.Errorf("broken's reason %q does not name the namespace", reason)
	}
	if reason := evalJS[string](t, ctx, `document.querySelector('tr[data-sync="dependent"] .reason').textContent`); !strings.Contains(reason, "broken") {
		t.Errorf("dependent's reason %q does not name what it waits for", reason)
	}
	checkAccessible(t, ctx, "the overview")
	// From the keyboard: the first Tab reaches the skip link, and Tab and
	// Enter open a sync's page.
	browse(t, ctx, chromedp.KeyEvent(kb.Tab))
	if focused := evalJS[string](t, ctx, `document.activeElement.textContent`); focused != "Skip to the content" {
		t.Errorf("the first Tab focuses %q, want the skip link", focused)
	}
	for range 10 {
		if evalJS[string](t, ctx, `document.activeElement.textContent`) == "broken" {
			break
		}
		browse(t, ctx, chromedp.KeyEvent(kb.Tab))
	}
	browse(t, ctx, chromedp.KeyEvent(kb.Enter), chromedp.WaitVisible("table.objects"))
	if path := evalJS[string](t, ctx, `location.pathname`); path != "/ui/syncs/"+f.ns+"/broken" {
		t.Errorf("Tab to broken and Enter opened %s", path)
	}
	browse(t, ctx, chromedp.Navigate(page), chromedp.WaitVisible("table.syncs"))
	checkWeight(t, ctx, base, "the overview")
	screenshot(t, ctx, filepath.Join(screenshots, "overview.png"))

	// A commit fixes broken: without a reload, broken turns Ready, and
	// dependent goes through Applying to Ready.
	evalJS[bool](t, ctx, `window.stayed = true;
window.seen = [];
new MutationObserver(function () {
  var row = document.querySelector('tr[data-sync="dependent"]');
  var state = row && row.className;
  if (state && window.seen[window.seen.length - 1] !== state) window.seen.push(state);
}).observe(document.body, {subtree: true, childList: true, attributes: true});
true`)
	f.repo.Commit(t, "fix the namespace", map[string]string{"broken/c.yaml": configMap("c", "three")})
	waitFor(t, ctx, 60*time.Second, `(function () {
  var b = document.querySelector('tr[data-sync="broken"]'), d = document.querySelector('tr[data-sync="dependent"]');
  return b.className === 'ready' && d.className === 'ready';
})()`)
	seen := evalJS[[]string](t, ctx, `window.seen`)
	if !evalJS[bool](t, ctx, `window.stayed === true`) {
		t.Error("the page reloaded to show the change")
	}
	if i := slices.Index(seen, "applying"); i < 0 || !slices.Contains(seen[i:], "ready") {
		t.Errorf("dependent's row went through %v, want applying then ready", seen)
	}

	// The sync page lists the objects with their statuses, and filters them.
	// Opening it asks the API server nothing: ten loads of a page of four
	// objects make fewer reads than one load would make asking per object.
	before := f.api.Requests()
	for range 10 {
		fetchPage(t, page+"syncs/"+f.ns+"/ready", "GET", nil)
	}
	if after := f.api.Requests(); after["get"]+after["list"]-before["get"]-before["list"] >= 10 {
		t.Errorf("ten loads of the sync page made API reads: %v before, %v after", before, after)
	}
	browse(t, ctx, chromedp.Navigate(page+"syncs/"+f.ns+"/ready"), chromedp.WaitVisible("table.objects"))
	objects := visibleObjects(t, ctx)
	for _, want := range []string{"ConfigMap " + f.ns + "/a Current", "ConfigMap " + f.ns + "/b Current", "Secret " + f.ns + "/creds Current", "Deployment.apps " + f.ns + "/web"} {
		if !slices.ContainsFunc(objects, func(o string) bool { return strings.HasPrefix(o, want) }) {
			t.Errorf("the sync page does not list %q: %v", want, objects)
		}
	}
	browse(t, ctx, chromedp.SendKeys("#q", "creds"))
	if got := visibleObjects(t, ctx); len(got) != 1 || !strings.HasPrefix(got[0], "Secret "+f.ns+"/creds") {
		t.Errorf("filtered by text %q: %v", "creds", got)
	}
	evalJS[bool](t, ctx, `document.getElementById('q').value = '';
document.getElementById('status').value = 'Current';
document.getElementById('status').dispatchEvent(new Event('change'))`)
	for _, o := range visibleObjects(t, ctx) {
		if !strings.HasSuffix(strings.Fields(o)[2], "Current") {
			t.Errorf("filtered by status Current, still shows %q", o)
		}
	}
	evalJS[bool](t, ctx, `document.getElementById('status').value = '';
document.getElementById('status').dispatchEvent(new Event('change'))`)
	checkAccessible(t, ctx, "the sync page")
	checkWeight(t, ctx, base, "the sync page")
	screenshot(t, ctx, filepath.Join(screenshots, "sync.png"))

	// Actions: refused without the token, even from the page itself.
	var seenText []string // pages, to check for planted secrets at the end
	code := evalJS[int](t, ctx, `fetch(location.pathname + '/suspend', {method: 'POST'}).then(r => r.status)`, chromedp.EvalAwaitPromise)
	if code != http.StatusUnauthorized {
		t.Errorf("suspend without the token answered %d, want 401", code)
	}
	// Logged in, they work.
	browse(t, ctx, chromedp.Navigate(page+"login?next=/ui/syncs/"+f.ns+"/ready"), chromedp.SendKeys("#token", uiToken),
		chromedp.Submit("#token"), chromedp.WaitVisible(`button[data-action="suspend"]`))
	browse(t, ctx, chromedp.Click(`button[data-action="suspend"]`), chromedp.WaitVisible(`button[data-action="resume"]`))
	p.eventually("ready is suspended", 20*time.Second, func() bool { return slices.Contains(states(t, base), "ready=Suspended") })
	// While it is, a commit changes the Secret and a ConfigMap: the pending
	// changes show both, the Secret's value masked.
	f.repo.Commit(t, "new values", map[string]string{"ready/a.yaml": configMap("a", "uno"),
		"ready/secret.yaml": strings.Replace(uiApp()["ready/secret.yaml"], secretValue, newSecret, 1)})
	browse(t, ctx, chromedp.Navigate(page+"syncs/"+f.ns+"/ready/diff"), chromedp.WaitVisible("h1"))
	pending := evalJS[[]string](t, ctx, `Array.from(document.querySelectorAll('ul.diffs summary')).map(s => s.textContent)`)
	if want := []string{"configured ConfigMap " + f.ns + "/a", "configured Secret " + f.ns + "/creds"}; !slices.Equal(pending, want) {
		t.Errorf("pending changes %v, want %v", pending, want)
	}
	checkAccessible(t, ctx, "the pending changes")
	seenText = append(seenText, evalJS[string](t, ctx, `document.documentElement.outerHTML`))
	browse(t, ctx, chromedp.Navigate(page+"syncs/"+f.ns+"/ready"), chromedp.WaitVisible(`button[data-action="resume"]`))
	browse(t, ctx, chromedp.Click(`button[data-action="resume"]`), chromedp.WaitVisible(`button[data-action="suspend"]`))
	p.eventually("ready is resumed", 20*time.Second, func() bool { return slices.Contains(states(t, base), "ready=Ready") })
	// An update leaves the parts that did not change alone: the button
	// under the pointer, or with the keyboard's focus, stays where it is.
	evalJS[bool](t, ctx, `window.actions = document.getElementById('actions');
window.updates = 0;
document.addEventListener('gitsync:updated', function () { window.updates++; });
document.querySelector('button[data-action="sync"]').focus();
true`)
	if code, body := fetchPage(t, page+"syncs/"+f.ns+"/ready/sync", "POST", map[string]string{"Authorization": "Bearer " + uiToken}); code != http.StatusOK {
		t.Fatalf("sync now with the token answered %d: %s", code, body)
	}
	waitFor(t, ctx, 30*time.Second, `window.updates > 0`)
	if !evalJS[bool](t, ctx, `document.getElementById('actions') === window.actions`) {
		t.Error("an update replaced the actions, which had not changed")
	}
	if got := evalJS[string](t, ctx, `document.activeElement.textContent`); got != "Sync now" {
		t.Errorf("after an update the focus is on %q, want the Sync now button", got)
	}
	requested := f.requestedAt("ready")
	browse(t, ctx, chromedp.Click(`button[data-action="sync"]`))
	p.eventually("sync now asks for a sync (gitsync.io/requested-at)", 10*time.Second, func() bool { return f.requestedAt("ready") != requested })
	// A page of another origin, open in the same logged-in browser, cannot
	// make it act.
	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintf(w, `<!doctype html><title>elsewhere</title><form id="f" method="post" action="%ssyncs/%s/ready/suspend"></form>`, page, f.ns)
	}))
	defer evil.Close()
	browse(t, ctx, chromedp.Navigate(evil.URL))
	evalJS[bool](t, ctx, `document.getElementById('f').submit(); true`)
	browse(t, ctx, chromedp.Sleep(2*time.Second))
	if refused := evalJS[string](t, ctx, `document.body.innerText`); !strings.Contains(refused, "refused") && !strings.Contains(refused, "unauthorized") {
		t.Errorf("the cross-origin form was answered with %q", refused)
	}
	if slices.Contains(states(t, base), "ready=Suspended") {
		t.Error("a form on another origin suspended the sync")
	}
	code, _ = fetchPage(t, page+"syncs/"+f.ns+"/ready/suspend", "POST", map[string]string{"Authorization": "Bearer " + uiToken, "Origin": "http://evil.example", "Sec-Fetch-Site": "cross-site"})
	if code != http.StatusForbidden {
		t.Errorf("a cross-origin POST with the token answered %d, want 403", code)
	}

	// Nothing planted reaches a page, the API or the stream.
	for _, path := range []string{"", "syncs/" + f.ns + "/ready", "syncs/" + f.ns + "/broken", "syncs/" + f.ns + "/dependent", "api/syncs",
		"api/syncs/" + f.ns + "/ready", "login", "static/app.js"} {
		_, body := fetchPage(t, page+path, "GET", map[string]string{"Authorization": "Bearer " + uiToken})
		seenText = append(seenText, body)
	}
	browse(t, ctx, chromedp.Navigate(page+"syncs/"+f.ns+"/ready"), chromedp.WaitVisible("table.objects"))
	dom := evalJS[string](t, ctx, `document.documentElement.outerHTML`)
	seenText = append(seenText, dom, stream(t, page+"events", 3*time.Second))
	for _, secret := range []string{gitPassword, webhookSecret, uiToken, secretValue, base64.StdEncoding.EncodeToString([]byte(secretValue)),
		newSecret, base64.StdEncoding.EncodeToString([]byte(newSecret))} {
		for _, text := range seenText {
			if strings.Contains(text, secret) {
				t.Errorf("a page shows the planted secret %q", secret)
			}
		}
	}
	// gitsync stops: the open page says its connection is lost.
	if err := p.stop(); err != nil {
		t.Errorf("gitsync run exited with %v; logs:\n%s", err, p.logs.String())
	}
	waitFor(t, ctx, 10*time.Second, `document.getElementById('connection').textContent.includes('lost')`)
}

// TestStatusPageAddresses: the page on an address of its own (--ui-addr),
// and off, saying so, on an address other than loopback without a token.
func TestStatusPageAddresses(t *testing.T) {
	f := newFixture(t)
	f.repo.Commit(t, "app", map[string]string{"app/a.yaml": configMap("a", "one")})
	config := f.writeConfig("1m", "- {name: app, source: repo, path: app, namespace: "+f.ns+"}")

	own := freeAddr(t)
	p, base := f.runConfig(config, "--ui-addr", own)
	p.eventually("the page on --ui-addr", 20*time.Second, func() bool { return slices.Equal(states(t, "http://"+own), []string{"app=Ready"}) })
	if code, _ := fetchPage(t, "http://"+own+"/", "GET", nil); code != http.StatusOK {
		t.Errorf("GET / on --ui-addr answered %d, want the page (through a redirect to /ui/)", code)
	}
	if code, _ := fetchPage(t, base+"/ui/", "GET", nil); code != http.StatusNotFound {
		t.Errorf("GET /ui/ on --http-addr answered %d, want 404 when the page has its own address", code)
	}
	if err := p.stop(); err != nil {
		t.Errorf("gitsync run exited with %v", err)
	}

	_, port, _ := net.SplitHostPort(freeAddr(t))
	q := startGitsync(t, nil, "run", "--config", config, "--kubeconfig", f.api.Kubeconfig, "--namespace", f.ns,
		"--cache-dir", t.TempDir(), "--http-addr", "0.0.0.0:"+port)
	q.eventually("gitsync says the page is off", 20*time.Second, func() bool {
		return strings.Contains(q.logs.String(), "status page off: 0.0.0.0:"+port+" is not on loopback")
	})
	q.eventually("the probes answer", 20*time.Second, func() bool {
		code, _ := fetchPage(t, "http://127.0.0.1:"+port+"/healthz", "GET", nil)
		return code == http.StatusOK
	})
	if code, _ := fetchPage(t, "http://127.0.0.1:"+port+"/ui/", "GET", nil); code != http.StatusNotFound {
		t.Errorf("GET /ui/ without a token on 0.0.0.0 answered %d, want 404: the page is off", code)
	}
}

// cliStates returns "name State: reason" for each sync, from gitsync status.
func cliStates(t *testing.T, f *fixture) []string {
	t.Helper()
	r := gitsync(t, nil, "status", "--kubeconfig", f.api.Kubeconfig, "--namespace", f.ns, "-o", "json")
	return stateLines(t, "gitsync status -o json", r.Stdout)
}

// pageStates is cliStates from the page's API.
func pageStates(t *testing.T, base string) []string {
	t.Helper()
	_, body := fetchPage(t, base+"/ui/api/syncs", "GET", nil)
	return stateLines(t, "/ui/api/syncs", body)
}

// stateLines reads a JSON list of statuses or views as "name State: reason".
func stateLines(t *testing.T, from, data string) []string {
	t.Helper()
	var list []struct{ Name, State, Reason string }
	if err := json.Unmarshal([]byte(data), &list); err != nil {
		t.Fatalf("%s: %v\n%s", from, err, data)
	}
	var out []string
	for _, s := range list {
		out = append(out, s.Name+" "+s.State+": "+s.Reason)
	}
	return out
}

// states returns "name=State" for each sync, from the page's API.
func states(t *testing.T, base string) []string {
	t.Helper()
	code, body := fetchPage(t, base+"/ui/api/syncs", "GET", nil)
	if code != http.StatusOK {
		return nil
	}
	var views []struct{ Name, State string }
	if err := json.Unmarshal([]byte(body), &views); err != nil {
		t.Fatalf("/ui/api/syncs: %v\n%s", err, body)
	}
	var out []string
	for _, v := range views {
		out = append(out, v.Name+"="+v.State)
	}
	return out
}

func fetchPage(t *testing.T, url, method string, header map[string]string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// stream reads the event stream for d.
func stream(t *testing.T, url string, d time.Duration) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), d)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body) // until the deadline
	return string(body)
}

// requestedAt is the sync-now annotation on the sync's inventory ConfigMap.
func (f *fixture) requestedAt(name string) string {
	f.t.Helper()
	cm, err := f.admin.Resource(configMaps).Namespace(f.ns).Get(f.t.Context(), "gitsync-"+name, metav1.GetOptions{})
	if err != nil {
		f.t.Fatal(err)
	}
	return cm.GetAnnotations()["gitsync.io/requested-at"]
}

func rowStates(t *testing.T, ctx context.Context) []string {
	t.Helper()
	return evalJS[[]string](t, ctx, `Array.from(document.querySelectorAll('tr[data-sync]')).map(r => r.dataset.sync + '=' + r.className)`)
}

// visibleObjects lists the sync page's shown objects as "Kind ns/name Status".
func visibleObjects(t *testing.T, ctx context.Context) []string {
	t.Helper()
	return evalJS[[]string](t, ctx, `Array.from(document.querySelectorAll('table.objects tbody[data-kind] tr[data-status]')).filter(r => !r.hidden).map(r =>
  r.closest('tbody').dataset.kind + ' ' + r.cells[0].textContent + '/' + r.cells[1].textContent + ' ' + r.cells[2].textContent)`)
}

func checkAccessible(t *testing.T, ctx context.Context, what string) {
	t.Helper()
	violations, err := browser.Axe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range violations {
		t.Errorf("%s: accessibility: %s", what, v)
	}
}

// checkWeight: the page and everything it loads come from gitsync, under
// 100 KiB in all.
func checkWeight(t *testing.T, ctx context.Context, base, what string) {
	t.Helper()
	type entry struct {
		Name         string  `json:"name"`
		TransferSize float64 `json:"transferSize"`
		DecodedBody  float64 `json:"decodedBodySize"`
	}
	entries := evalJS[[]entry](t, ctx, `performance.getEntriesByType('navigation').concat(performance.getEntriesByType('resource')).map(e => ({name: e.name, transferSize: e.transferSize, decodedBodySize: e.decodedBodySize}))`)
	total := 0.0
	for _, e := range entries {
		u, err := url.Parse(e.Name)
		if err != nil || "http://"+u.Host != base {
			t.Errorf("%s loads %s, from another host", what, e.Name)
		}
		total += max(e.TransferSize, e.DecodedBody)
	}
	t.Logf("%s: %d requests, %.1f KiB", what, len(entries), total/1024)
	if total > 100*1024 {
		t.Errorf("%s weighs %.1f KiB, want under 100 KiB", what, total/1024)
	}
}

func waitFor(t *testing.T, ctx context.Context, timeout time.Duration, js string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](js)); err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			html, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('main').outerHTML`))
			t.Fatalf("not within %s: %s\npage:\n%s", timeout, js, html)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// browse runs steps in the browser, failing the test at the first error.
func browse(t *testing.T, ctx context.Context, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatal(err)
	}
}

// evalJS evaluates js in the page and returns its value.
func evalJS[T any](t *testing.T, ctx context.Context, js string, opts ...chromedp.EvaluateOption) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](js, opts...))
	if err != nil {
		t.Fatalf("%s: %v", js, err)
	}
	return v
}

func screenshot(t *testing.T, ctx context.Context, path string) {
	t.Helper()
	if err := browser.Screenshot(ctx, path); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", path)
}

package ui_test

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/cli-utils/pkg/object"

	gsync "github.com/gitsync-io/gitsync/pkg/sync"
	"github.com/gitsync-io/gitsync/pkg/sync/apply"
	"github.com/gitsync-io/gitsync/pkg/ui"
)

// syncs is a Manager's views held in memory: the handler's rules do not
// depend on where the views come from (the e2e test drives a real one).
type syncs struct {
	mu      sync.Mutex
	views   []gsync.View
	objects []gsync.ObjectView
	acted   []string
	changes chan struct{}
}

func (s *syncs) Views() []gsync.View {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.views
}

func (s *syncs) View(namespace, name string) (gsync.View, bool) {
	for _, v := range s.Views() {
		if v.Namespace == namespace && v.Name == name {
			return v, true
		}
	}
	return gsync.View{}, false
}

func (s *syncs) Objects(string, string) ([]gsync.ObjectView, error) { return s.objects, nil }

func (s *syncs) Changes() (<-chan struct{}, func()) { return s.changes, func() {} }

func (s *syncs) Suspend(_ context.Context, namespace, name string, suspend bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.acted = append(s.acted, map[bool]string{true: "suspend", false: "resume"}[suspend]+" "+namespace+"/"+name)
	return nil
}

func (s *syncs) RequestSync(_ context.Context, namespace, name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.acted = append(s.acted, "sync "+namespace+"/"+name)
	return nil
}

func (s *syncs) Diff(context.Context, string, string) (string, []apply.ObjectDiff, error) {
	return "89abcdef0123456789abcdef0123456789abcdef", []apply.ObjectDiff{{
		Ref: "v1 ConfigMap apps/a", Action: apply.Configured,
		Diff: "--- live\n+++ desired\n@@ -1,2 +1,2 @@\n data:\n-  color: blue\n+  color: red\n",
	}}, nil
}

const token = "t0ken-for-the-page"

func newSyncs() *syncs {
	ready := gsync.View{Status: gsync.Status{Name: "web", Namespace: "gitsync-system", Source: "https://github.com/acme/cluster.git",
		LastAppliedRevision: "0123456789abcdef0123456789abcdef01234567", Ready: true, State: gsync.StateReady,
		Counts: map[apply.Action]int{apply.Created: 2}, Objects: 2, Time: time.Now()}}
	failed := gsync.View{Status: gsync.Status{Name: "db", Namespace: "gitsync-system", Source: "ssh://git@example.org/acme/db",
		State: gsync.StateFailed, Reason: "apply: v1 ConfigMap x/y: invalid", Error: "apply: v1 ConfigMap x/y: invalid\nmore"}}
	failed.DependsOn, ready.DependsOn = nil, []string{"db"}
	return &syncs{
		views: []gsync.View{failed, ready},
		objects: []gsync.ObjectView{
			{ID: object.ObjMetadata{GroupKind: schema.GroupKind{Kind: "ConfigMap"}, Namespace: "apps", Name: "a"}, Status: status.CurrentStatus},
			{ID: object.ObjMetadata{GroupKind: schema.GroupKind{Group: "apps", Kind: "Deployment"}, Namespace: "apps", Name: "web"}, Status: status.InProgressStatus, Message: "1 of 2 ready"},
		},
		changes: make(chan struct{}, 1),
	}
}

// start serves the page as gitsync run would, with a token file.
func start(t *testing.T, anonymous bool) (*httptest.Server, *syncs) {
	t.Helper()
	file := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(file, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s := newSyncs()
	h, err := ui.Handler(ui.Options{Syncs: s, TokenFile: file, Anonymous: anonymous})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv, s
}

func do(t *testing.T, c *http.Client, method, url string, header map[string]string, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(data)
}

var noRedirect = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

func TestAnonymousViewersLookButDoNotAct(t *testing.T) {
	srv, s := start(t, true)
	code, body := do(t, noRedirect, "GET", srv.URL+ui.Prefix, nil, "")
	if code != http.StatusOK || !strings.Contains(body, `href="/ui/syncs/gitsync-system/web"`) || !strings.Contains(body, "apply: v1 ConfigMap x/y: invalid") {
		t.Fatalf("overview: %d\n%s", code, body)
	}
	if !strings.Contains(body, `href="https://github.com/acme/cluster/commit/0123456789abcdef0123456789abcdef01234567"`) {
		t.Errorf("the applied revision of a GitHub source does not link to its commit:\n%s", body)
	}
	if !strings.Contains(body, `<svg class="graph"`) || !strings.Contains(body, "web waits for db") {
		t.Errorf("the overview has no dependency graph:\n%s", body)
	}
	code, body = do(t, noRedirect, "GET", srv.URL+ui.Prefix+"syncs/gitsync-system/web", nil, "")
	if code != http.StatusOK || !strings.Contains(body, "1 of 2 ready") || !strings.Contains(body, "Log in</a> to sync now") || strings.Contains(body, `data-action="sync"`) {
		t.Errorf("sync page without the token: %d\n%s", code, body)
	}
	for _, action := range []string{"sync", "suspend", "resume"} {
		if code, _ := do(t, noRedirect, "POST", srv.URL+ui.Prefix+"syncs/gitsync-system/web/"+action, nil, ""); code != http.StatusUnauthorized {
			t.Errorf("POST %s without the token: %d, want 401", action, code)
		}
	}
	if len(s.acted) != 0 {
		t.Errorf("acted without the token: %v", s.acted)
	}
}

func TestWithoutLoopbackTheTokenIsNeededToLook(t *testing.T) {
	srv, _ := start(t, false)
	code, _ := do(t, noRedirect, "GET", srv.URL+ui.Prefix+"syncs/gitsync-system/web", nil, "")
	if code != http.StatusSeeOther {
		t.Errorf("GET without the token: %d, want a redirect to log in", code)
	}
	for _, path := range []string{"api/syncs", "events"} {
		if code, _ := do(t, noRedirect, "GET", srv.URL+ui.Prefix+path, nil, ""); code != http.StatusUnauthorized {
			t.Errorf("GET %s without the token: %d, want 401", path, code)
		}
	}
	if code, _ := do(t, noRedirect, "GET", srv.URL+ui.Prefix+"api/syncs", map[string]string{"Authorization": "Bearer wrong"}, ""); code != http.StatusUnauthorized {
		t.Errorf("GET with a wrong token: %d, want 401", code)
	}
	code, body := do(t, noRedirect, "GET", srv.URL+ui.Prefix+"api/syncs", map[string]string{"Authorization": "Bearer " + token}, "")
	if code != http.StatusOK || !strings.Contains(body, `"state": "Failed"`) {
		t.Errorf("GET with the token: %d\n%s", code, body)
	}
}

func TestLoggedInViewersActFromThePageOnly(t *testing.T) {
	srv, s := start(t, false)
	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar, CheckRedirect: noRedirect.CheckRedirect}
	form := url.Values{"token": {"nope"}, "next": {ui.Prefix}}.Encode()
	if code, _ := do(t, browser, "POST", srv.URL+ui.Prefix+"login", nil, form); code != http.StatusUnauthorized {
		t.Fatalf("login with a wrong token: %d", code)
	}
	form = url.Values{"token": {token}, "next": {"//elsewhere.example/"}}.Encode()
	code, _ := do(t, browser, "POST", srv.URL+ui.Prefix+"login", nil, form)
	if code != http.StatusSeeOther {
		t.Fatalf("login: %d", code)
	}
	u, _ := url.Parse(srv.URL + ui.Prefix)
	for _, c := range jar.Cookies(u) {
		if strings.Contains(c.Value, token) {
			t.Errorf("the session cookie holds the token: %s", c.Value)
		}
	}
	page := srv.URL + ui.Prefix + "syncs/gitsync-system/web"
	if _, body := do(t, browser, "GET", page, nil, ""); !strings.Contains(body, `data-action="suspend"`) {
		t.Errorf("a logged-in viewer sees no actions:\n%s", body)
	}
	sameSite := map[string]string{"Origin": srv.URL, "Sec-Fetch-Site": "same-origin"}
	for _, action := range []string{"sync", "suspend", "resume"} {
		if code, _ := do(t, browser, "POST", page+"/"+action, sameSite, ""); code != http.StatusSeeOther {
			t.Errorf("POST %s from the page: %d, want 303", action, code)
		}
	}
	crossSite := map[string]string{"Origin": "http://evil.example", "Sec-Fetch-Site": "cross-site"}
	if code, body := do(t, browser, "POST", page+"/suspend", crossSite, ""); code != http.StatusForbidden {
		t.Errorf("a cross-site POST with the session cookie: %d %s, want 403", code, body)
	}
	if want := "sync gitsync-system/web,suspend gitsync-system/web,resume gitsync-system/web"; strings.Join(s.acted, ",") != want {
		t.Errorf("acted: %v, want %s", s.acted, want)
	}
}

func TestTheStreamTellsOfChanges(t *testing.T) {
	srv, s := start(t, true)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+ui.Prefix+"events", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("Content-Type %q", ct)
	}
	s.changes <- struct{}{}
	var got strings.Builder
	buf := make([]byte, 256)
	for !strings.Contains(got.String(), "event: change\ndata: 1\n\n") {
		n, err := resp.Body.Read(buf)
		if err != nil {
			t.Fatalf("stream ended before a change event: %v; got %q", err, got.String())
		}
		got.Write(buf[:n])
	}
}

func TestFragmentsHoldTheLiveParts(t *testing.T) {
	srv, _ := start(t, true)
	_, body := do(t, noRedirect, "GET", srv.URL+ui.Prefix+"syncs/gitsync-system/web", map[string]string{"X-Gitsync-Fragment": "1"}, "")
	for _, id := range []string{`id="summary"`, `id="actions"`, `id="objects"`, `id="history"`} {
		if !strings.Contains(body, id) {
			t.Errorf("the fragment lacks %s", id)
		}
	}
	if strings.Contains(body, "<html") || strings.Contains(body, `id="q"`) {
		t.Errorf("the fragment holds more than the live parts:\n%s", body)
	}
	code, body := do(t, noRedirect, "GET", srv.URL+ui.Prefix+"syncs/gitsync-system/web/diff", map[string]string{"X-Gitsync-Fragment": "1"}, "")
	if code != http.StatusOK || !strings.Contains(body, "<html") {
		t.Errorf("a page without live parts, asked for them: %d, want the whole page:\n%s", code, body)
	}
	_, body = do(t, noRedirect, "GET", srv.URL+ui.Prefix+"syncs/gitsync-system/web?status=InProgress", nil, "")
	if !strings.Contains(body, `<span id="shown">1</span> of 2`) {
		t.Errorf("filtering by status without the script:\n%s", body)
	}
}

func TestPendingChangesAreShownWhenAskedFor(t *testing.T) {
	srv, _ := start(t, true)
	_, body := do(t, noRedirect, "GET", srv.URL+ui.Prefix+"syncs/gitsync-system/web", nil, "")
	if !strings.Contains(body, `href="/ui/syncs/gitsync-system/web/diff"`) {
		t.Errorf("the sync page does not link to its pending changes:\n%s", body)
	}
	code, body := do(t, noRedirect, "GET", srv.URL+ui.Prefix+"syncs/gitsync-system/web/diff", nil, "")
	for _, want := range []string{"<code>89abcdef0123</code>", `<span class="action configured">configured</span> v1 ConfigMap apps/a`,
		`<span class="del">-  color: blue</span>`, `<span class="add">&#43;  color: red</span>`} {
		if code != http.StatusOK || !strings.Contains(body, want) {
			t.Errorf("pending changes (%d) lack %s:\n%s", code, want, body)
		}
	}
}

func TestPagesAreCompressedAndTheStreamIsNot(t *testing.T) {
	srv, _ := start(t, true)
	for path, want := range map[string]string{"": "gzip", "syncs/gitsync-system/web": "gzip", "events": ""} {
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+ui.Prefix+path, nil)
		req.Header.Set("Accept-Encoding", "gzip") // set by hand: the client then leaves the body as it came
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		cancel()
		if got := resp.Header.Get("Content-Encoding"); got != want {
			t.Errorf("GET /ui/%s: Content-Encoding %q, want %q", path, got, want)
		}
	}
}

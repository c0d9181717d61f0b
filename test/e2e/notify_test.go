package e2e

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gitsync-io/gitsync/test/gitea"
	"github.com/gitsync-io/gitsync/test/gitserver"
)

// notifications is a test server standing in for a generic webhook receiver
// (it checks the HMAC signature) and for Gitea's commit status API (it
// checks the path, token and body as Gitea documents them). It records what
// arrived as "event revision" and "status state revision" lines.
type notifications struct {
	*httptest.Server
	t   *testing.T
	mu  sync.Mutex
	got []string
}

const (
	notifySecret = "notify-hmac-s3cret"
	forgeToken   = "gitea-t0ken"
)

func startNotifications(t *testing.T) *notifications {
	n := &notifications{t: t}
	n.Server = httptest.NewServer(http.HandlerFunc(n.serve))
	t.Cleanup(n.Close)
	return n
}

func (n *notifications) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	var line string
	switch {
	case r.URL.Path == "/hook":
		mac := hmac.New(sha256.New, []byte(notifySecret))
		mac.Write(body)
		if r.Header.Get("X-Gitsync-Signature") != "sha256="+hex.EncodeToString(mac.Sum(nil)) {
			n.t.Errorf("generic webhook with a bad signature: %s", body)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		var e struct{ Event, Revision, Cluster, Sync, Reason string }
		if err := json.Unmarshal(body, &e); err != nil || e.Cluster != "e2e-cluster" || e.Sync != "app" {
			n.t.Errorf("generic webhook body %s: %v", body, err)
		}
		line = e.Event + " " + short(e.Revision)
	case strings.HasPrefix(r.URL.Path, "/api/v1/repos/acme/cluster/statuses/"):
		var st map[string]string
		if err := json.Unmarshal(body, &st); err != nil || st["context"] != "gitsync/e2e-cluster/app" || r.Header.Get("Authorization") != "token "+forgeToken {
			n.t.Errorf("commit status %s with Authorization %q: %v", body, r.Header.Get("Authorization"), err)
		}
		line = "status " + st["state"] + " " + short(strings.TrimPrefix(r.URL.Path, "/api/v1/repos/acme/cluster/statuses/"))
	default:
		n.t.Errorf("unexpected request %s %s", r.Method, r.URL)
		w.WriteHeader(http.StatusNotFound)
		return
	}
	n.mu.Lock()
	n.got = append(n.got, line)
	n.mu.Unlock()
	w.WriteHeader(http.StatusCreated)
}

func (n *notifications) lines() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return slices.Clone(n.got)
}

// TestNotifications runs gitsync run --config with a generic webhook and a
// Gitea commit status receiver through a good revision, a bad one and a
// fix, and a restart in between: each event arrives once per revision, in
// the order a commit status needs (pending, then success or failure).
func TestNotifications(t *testing.T) {
	f := newFixture(t)
	repo := gitserver.NewRepoIn(t, t.TempDir(), "acme/cluster.git")
	git := gitserver.StartHTTP(t, repo.Root(), gitserver.Options{})
	receivers := startNotifications(t)
	dir := t.TempDir()
	for name, content := range map[string]string{"secret": notifySecret + "\n", "token": forgeToken + "\n"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	config := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(config, []byte(fmt.Sprintf(`apiVersion: gitsync.io/v1alpha1
kind: Config
cluster: e2e-cluster
sources:
- {name: repo, url: %s/acme/cluster.git, interval: 300ms}
syncs:
- {name: app, source: repo, path: app, namespace: %s, timeout: 30s}
notifications:
- {name: ops, type: generic, url: %s/hook, secretFile: %s, events: [applied, recovered, failed, stalled, degraded, pruned]}
- {name: forge, type: gitea, url: %s, tokenFile: %s}
`, git.URL, f.ns, receivers.URL, filepath.Join(dir, "secret"), receivers.URL, filepath.Join(dir, "token"))), 0o600); err != nil {
		t.Fatal(err)
	}
	run := func() *background {
		return startGitsync(t, nil, "run", "--config", config, "--kubeconfig", f.api.Kubeconfig, "--namespace", f.ns,
			"--cache-dir", f.cache, "--log-format", "json")
	}
	expect := func(p *background, what string, want ...string) {
		t.Helper()
		p.eventually(what, 30*time.Second, func() bool { return len(receivers.lines()) >= len(want) })
		time.Sleep(time.Second) // nothing more may arrive
		got := receivers.lines()
		// The two receivers are delivered to independently: compare each one's sequence.
		split := func(lines []string) (events, statuses []string) {
			for _, l := range lines {
				if strings.HasPrefix(l, "status ") {
					statuses = append(statuses, l)
				} else {
					events = append(events, l)
				}
			}
			return events, statuses
		}
		gotEvents, gotStatuses := split(got)
		wantEvents, wantStatuses := split(want)
		if diff := cmp.Diff(wantEvents, gotEvents); diff != "" {
			t.Errorf("%s: webhook events (-want +got):\n%s", what, diff)
		}
		if diff := cmp.Diff(wantStatuses, gotStatuses); diff != "" {
			t.Errorf("%s: commit statuses (-want +got):\n%s\nlogs:\n%s", what, diff, p.logs.String())
		}
	}

	good := short(repo.Commit(t, "good", baseApp()))
	p := run()
	expect(p, "the first revision", "status pending "+good, "status success "+good, "applied "+good)

	repo.Commit(t, "broken", map[string]string{"app/b.yaml": "kind: [\n"})
	bad := short(repo.Head(t))
	expect(p, "a bad revision",
		"status pending "+good, "status success "+good, "applied "+good,
		"status pending "+bad, "status failure "+bad, "stalled "+bad)

	// A restart reads what was sent from the status: nothing is sent again.
	if err := p.stop(); err != nil {
		t.Fatalf("gitsync run exited with %v; logs:\n%s", err, p.logs.String())
	}
	before := len(receivers.lines())
	p = run()
	p.eventually("the restarted instance syncs", 30*time.Second, func() bool {
		return strings.Contains(p.logs.String(), `"sync failed"`)
	})
	time.Sleep(2 * time.Second)
	if got := receivers.lines()[before:]; len(got) != 0 {
		t.Errorf("after a restart on the same revision, sent again: %v", got)
	}

	repo.Commit(t, "fixed", map[string]string{"app/b.yaml": configMap("b", "fixed")})
	fixed := short(repo.Head(t))
	expect(p, "the fix",
		"status pending "+good, "status success "+good, "applied "+good,
		"status pending "+bad, "status failure "+bad, "stalled "+bad,
		"status pending "+fixed, "status success "+fixed, "applied "+fixed, "recovered "+fixed)
	if err := p.stop(); err != nil {
		t.Errorf("gitsync run exited with %v; logs:\n%s", err, p.logs.String())
	}
	if logs := p.logs.String(); strings.Contains(logs, notifySecret) || strings.Contains(logs, forgeToken) {
		t.Errorf("a credential appears in the logs")
	}
}

// TestCommitStatusOnGitea runs gitsync run --config against a real Gitea
// (built from source by make tools-all): the source is a Gitea repository
// fetched over HTTP with a token, and a gitea receiver sets the commit status
// of each revision; Gitea's own API then shows pending and success on a good
// revision, pending and failure on a bad one, under gitsync/<cluster>/<sync>.
func TestCommitStatusOnGitea(t *testing.T) {
	forge := gitea.Start(t)
	f := newFixture(t)
	url := forge.CreateRepo(t, "cluster")
	dir := t.TempDir()
	token := filepath.Join(dir, "token")
	if err := os.WriteFile(token, []byte(forge.Token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	config := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(config, []byte(fmt.Sprintf(`apiVersion: gitsync.io/v1alpha1
kind: Config
cluster: e2e
sources:
- {name: cluster, url: %s, ref: main, interval: 300ms, auth: {username: %s, passwordFile: %s}}
syncs:
- {name: app, source: cluster, path: app, namespace: %s, timeout: 30s}
notifications:
- {name: forge, type: gitea, url: %s, tokenFile: %s}
`, url, forge.User, token, f.ns, forge.URL, token)), 0o600); err != nil {
		t.Fatal(err)
	}
	states := func(sha string) []string {
		var out []string
		for _, s := range forge.Statuses(t, "cluster", sha) {
			if s.Context != "gitsync/e2e/app" {
				t.Errorf("status context %q, want gitsync/e2e/app", s.Context)
			}
			out = append(out, s.State)
		}
		return out
	}

	good := f.repo.Commit(t, "good", baseApp())
	forge.Push(t, f.repo.Dir(), "cluster")
	p := startGitsync(t, nil, "run", "--config", config, "--kubeconfig", f.api.Kubeconfig, "--namespace", f.ns,
		"--cache-dir", f.cache, "--log-format", "json")
	p.eventually("Gitea shows success on the good revision", 30*time.Second, func() bool {
		return slices.Equal(states(good), []string{"pending", "success"})
	})

	bad := f.repo.Commit(t, "broken", map[string]string{"app/b.yaml": "kind: [\n"})
	forge.Push(t, f.repo.Dir(), "cluster")
	p.eventually("Gitea shows failure on the bad revision", 30*time.Second, func() bool {
		return slices.Equal(states(bad), []string{"pending", "failure"})
	})
	for _, s := range forge.Statuses(t, "cluster", bad) {
		if s.State == "failure" && !strings.Contains(s.Description, "app/b.yaml") {
			t.Errorf("the failure's description %q does not name the file", s.Description)
		}
	}
	if err := p.stop(); err != nil {
		t.Errorf("gitsync run exited with %v; logs:\n%s", err, p.logs.String())
	}
	if strings.Contains(p.logs.String(), forge.Token) {
		t.Error("the Gitea token appears in the logs")
	}
}

// TestSyncNotifies gives gitsync sync --notifications: the one-shot sync
// delivers its events before it exits, and a second sync of the same
// revision sends none again.
func TestSyncNotifies(t *testing.T) {
	f := newFixture(t)
	receivers := startNotifications(t)
	dir := t.TempDir()
	secret := filepath.Join(dir, "secret")
	if err := os.WriteFile(secret, []byte(notifySecret), 0o600); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "notifications.yaml")
	if err := os.WriteFile(file, []byte(fmt.Sprintf("cluster: e2e-cluster\nnotifications:\n- {name: ops, type: generic, url: %s/hook, secretFile: %s}\n",
		receivers.URL, secret)), 0o600); err != nil {
		t.Fatal(err)
	}
	f.repo.Commit(t, "first", baseApp())
	rev := short(f.repo.Head(t))
	// The test server checks the sync's name: the fixture's sync is e2e, so rename it app.
	r := f.mustSync("--notifications", file, "--name", "app")
	if got := receivers.lines(); !slices.Equal(got, []string{"applied " + rev}) {
		t.Errorf("after gitsync sync: %v, want [applied %s]\n%s", got, rev, r)
	}
	f.mustSync("--notifications", file, "--name", "app")
	if got := receivers.lines(); len(got) != 1 {
		t.Errorf("a second sync of the same revision sent again: %v", got)
	}
}

package e2e

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/gitsync-io/gitsync/test/testenv"
)

const webhookSecret = "e2e-webhook-s3cret"

// writeConfig writes a gitsync config file with the fixture's repository as
// source "repo" (interval given) and the syncs given as YAML list items.
func (f *fixture) writeConfig(interval string, syncs string) string {
	f.t.Helper()
	dir := f.t.TempDir()
	password := filepath.Join(dir, "password")
	secret := filepath.Join(dir, "webhook-secret")
	for path, content := range map[string]string{password: gitPassword + "\n", secret: webhookSecret + "\n"} {
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			f.t.Fatal(err)
		}
	}
	config := fmt.Sprintf(`apiVersion: gitsync.io/v1alpha1
kind: Config
sources:
- name: repo
  url: %s
  ref: main
  interval: %s
  auth: {username: %s, passwordFile: %s}
syncs:
%s
webhook:
  secretFile: %s
`, f.repoURL(), interval, gitUser, password, syncs, secret)
	path := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(path, []byte(config), 0o600); err != nil {
		f.t.Fatal(err)
	}
	return path
}

// runConfig starts `gitsync run --config` for the fixture, with its HTTP
// server on a free loopback port, and returns the process and base URL.
func (f *fixture) runConfig(config string, extra ...string) (*background, string) {
	f.t.Helper()
	addr := freeAddr(f.t)
	args := append([]string{"run", "--config", config, "--kubeconfig", f.api.Kubeconfig, "--namespace", f.ns,
		"--cache-dir", f.cache, "--http-addr", addr, "--log-format", "json"}, extra...)
	p := startGitsync(f.t, nil, args...)
	base := "http://" + addr
	p.eventually("the HTTP server answers", 20*time.Second, func() bool {
		resp, err := http.Get(base + "/healthz")
		if err == nil {
			resp.Body.Close()
		}
		return err == nil && resp.StatusCode == 200
	})
	return p, base
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// statusOf returns `gitsync status -o json` of the sync called name.
func (f *fixture) statusOf(name string) map[string]any {
	f.t.Helper()
	r := gitsync(f.t, nil, "status", "--name", name, "--kubeconfig", f.api.Kubeconfig, "--namespace", f.ns, "-o", "json")
	if r.Code != 0 {
		return nil
	}
	st := map[string]any{}
	_ = jsonUnmarshal(r.Stdout, &st)
	return st
}

func TestDependsOnWaitsForTheDependency(t *testing.T) {
	f := newFixture(t)
	group := f.ns + ".e2e.gitsync.io"
	crd := `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.` + group + `}
spec:
  group: ` + group + `
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget}
  versions: [{name: v1, served: true, storage: true, schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}}]
`
	widget := "apiVersion: " + group + "/v1\nkind: Widget\nmetadata: {name: w}\nspec: {size: 1}\n"
	// The infrastructure is broken at first: apps must wait for it, not fail on an unknown kind.
	f.repo.Commit(t, "first", map[string]string{"infra/crd.yaml": crd, "infra/broken.yaml": "kind: [\n", "apps/widget.yaml": widget})
	config := f.writeConfig("300ms", `- {name: infra, source: repo, path: infra}
- {name: apps, source: repo, path: apps, namespace: `+f.ns+`, dependsOn: [infra]}`)
	p, _ := f.runConfig(config)

	p.eventually("apps says it waits for infra", 30*time.Second, func() bool {
		st := f.statusOf("apps")
		w, _ := st["waiting"].(string)
		return strings.Contains(w, "dependency infra is not ready")
	})
	// Events are sent by a background broadcaster: they arrive shortly after.
	p.eventually("a Stalled event on the broken sync's ConfigMap", 10*time.Second, func() bool {
		return slices.Contains(f.eventFields("gitsync-infra", "reason"), "Stalled")
	})
	widgets := schema.GroupVersionResource{Group: group, Version: "v1", Resource: "widgets"}
	f.repo.Commit(t, "fix infra", map[string]string{"infra/broken.yaml": ""})
	p.eventually("apps applied once infra is ready", 30*time.Second, func() bool {
		_, err := f.admin.Resource(widgets).Namespace(f.ns).Get(t.Context(), "w", metav1.GetOptions{})
		return err == nil
	})
	if st := f.statusOf("apps"); st["ready"] != true || st["waiting"] != nil {
		t.Errorf("apps status after infra became ready: %v", st)
	}
	if err := p.stop(); err != nil {
		t.Errorf("exit after SIGTERM: %v", err)
	}
}

func TestWebhook(t *testing.T) {
	f := newFixture(t)
	f.repo.Commit(t, "first", baseApp())
	config := f.writeConfig("1h", "- {name: e2e, source: repo, path: app, namespace: "+f.ns+"}")
	p, base := f.runConfig(config)
	p.eventually("first revision applied", 30*time.Second, func() bool { return f.statusOf("e2e")["lastAppliedRevision"] == f.repo.Head(t) })

	t.Run("refuses a push with a wrong or missing signature and applies nothing", func(t *testing.T) {
		f.repo.Commit(t, "unsigned", map[string]string{"app/a.yaml": configMap("a", "unsigned")})
		body := githubPush(f.repoURL(), f.repo.Head(t))
		for name, sig := range map[string]string{"wrong": sign([]byte("not the secret"), body), "missing": ""} {
			if code := postHook(t, base+"/hooks/github", body, sig); code != http.StatusUnauthorized && code != http.StatusForbidden {
				t.Errorf("%s signature: status %d, want 401 or 403", name, code)
			}
		}
		time.Sleep(time.Second)
		if v := data(f.get(configMaps, "a")); v != "one" {
			t.Errorf("ConfigMap a = %q after refused pushes, want one", v)
		}
	})

	t.Run("refuses an oversize body", func(t *testing.T) {
		body := bytes.Repeat([]byte("x"), 1<<20+1)
		if code := postHook(t, base+"/hooks/github", body, sign([]byte(webhookSecret), body)); code != http.StatusRequestEntityTooLarge {
			t.Errorf("status %d, want 413", code)
		}
	})

	t.Run("applies a correctly signed push at once", func(t *testing.T) {
		var took []time.Duration
		for i := range 3 {
			f.repo.Commit(t, "push", map[string]string{"app/a.yaml": configMap("a", fmt.Sprintf("push-%d", i))})
			body := githubPush(f.repoURL(), f.repo.Head(t))
			start := time.Now()
			if code := postHook(t, base+"/hooks/github", body, sign([]byte(webhookSecret), body)); code/100 != 2 {
				t.Fatalf("status %d, want 2xx", code)
			}
			p.eventually("signed push applied", 10*time.Second, func() bool { return data(f.get(configMaps, "a")) == fmt.Sprintf("push-%d", i) })
			took = append(took, time.Since(start))
		}
		t.Logf("push to applied (webhook, one ConfigMap, interval 1h): %v", took)
	})

	t.Run("serves probes and every metric series", func(t *testing.T) {
		for _, path := range []string{"/healthz", "/readyz"} {
			if code, _ := get(t, base+path); code != 200 {
				t.Errorf("%s: %d, want 200", path, code)
			}
		}
		_, metrics := get(t, base+"/metrics")
		for _, want := range []string{
			`gitsync_sync_duration_seconds_count{result="success",sync="e2e"}`,
			`gitsync_objects_total{action="created",sync="e2e"} 4`,
			`gitsync_objects_total{action="configured",sync="e2e"} 3`,
			`gitsync_sync_revision_info{revision="` + f.repo.Head(t) + `",sync="e2e"} 1`,
			`gitsync_source_fetch_duration_seconds_count{source="repo"}`,
			`gitsync_webhook_requests_total{provider="github",result="accepted"} 3`,
		} {
			if !strings.Contains(metrics, want) {
				t.Errorf("/metrics lacks %s", want)
			}
		}
	})

	t.Run("records Events on the sync's ConfigMap", func(t *testing.T) {
		p.eventually("an Applied event on ConfigMap gitsync-e2e", 10*time.Second, func() bool {
			return slices.Contains(f.eventFields("gitsync-e2e", "reason"), "Applied")
		})
	})
}

func TestSuspendResumeAndSyncNow(t *testing.T) {
	f := newFixture(t)
	f.repo.Commit(t, "first", baseApp())
	config := f.writeConfig("1h", "- {name: e2e, source: repo, path: app, namespace: "+f.ns+"}")
	p, _ := f.runConfig(config)
	p.eventually("first revision applied", 30*time.Second, func() bool { return f.statusOf("e2e")["lastAppliedRevision"] == f.repo.Head(t) })
	cli := func(args ...string) {
		t.Helper()
		if r := gitsync(t, nil, append(args, "--kubeconfig", f.api.Kubeconfig, "--namespace", f.ns)...); r.Code != 0 {
			t.Fatalf("gitsync %v:\n%s", args, r)
		}
	}

	f.repo.Commit(t, "change", map[string]string{"app/a.yaml": configMap("a", "now")})
	cli("sync", "--now", "e2e")
	p.eventually("sync --now applied the change", 10*time.Second, func() bool { return data(f.get(configMaps, "a")) == "now" })

	cli("suspend", "e2e")
	p.eventually("status says suspended", 10*time.Second, func() bool { return f.statusOf("e2e")["suspended"] == true })
	f.repo.Commit(t, "while suspended", map[string]string{"app/a.yaml": configMap("a", "later")})
	cli("sync", "--now", "e2e")
	time.Sleep(time.Second)
	if v := data(f.get(configMaps, "a")); v != "now" {
		t.Errorf("a suspended sync applied: a = %q", v)
	}
	cli("resume", "e2e")
	p.eventually("resume catches up", 10*time.Second, func() bool { return data(f.get(configMaps, "a")) == "later" })
}

func TestLeaderElection(t *testing.T) {
	f := newFixture(t)
	f.repo.Commit(t, "first", baseApp())
	config := f.writeConfig("300ms", "- {name: e2e, source: repo, path: app, namespace: "+f.ns+"}")
	const lease = 3 * time.Second
	addrs := map[*background]string{}
	start := func() (*background, *testenv.Proxy) {
		api := testenv.StartProxy(t, testenv.Config(t))
		addr := freeAddr(t)
		p := startGitsync(t, nil, "run", "--config", config, "--kubeconfig", api.Kubeconfig, "--namespace", f.ns,
			"--cache-dir", t.TempDir(), "--http-addr", addr, "--log-format", "json",
			"--leader-elect", "--leader-elect-lease-duration", lease.String(),
			"--leader-elect-renew-deadline", "2s", "--leader-elect-retry-period", "500ms")
		addrs[p] = "http://" + addr
		return p, api
	}
	a, apiA := start()
	b, apiB := start()
	a.eventually("first revision applied", 30*time.Second, func() bool { return f.statusOf("e2e")["lastAppliedRevision"] == f.repo.Head(t) })
	time.Sleep(time.Second) // several intervals for the standby to misbehave in

	leader, standby, standbyAPI := a, b, apiB
	if apiA.WritesExcept("leases") == 0 {
		leader, standby, standbyAPI = b, a, apiA
	}
	t.Run("exactly one replica writes", func(t *testing.T) {
		if wa, wb := apiA.WritesExcept("leases"), apiB.WritesExcept("leases"); (wa == 0) == (wb == 0) {
			t.Errorf("writes other than the lease: replica A %d, replica B %d; want exactly one of them non-zero", wa, wb)
		}
	})

	t.Run("a standby passes a webhook push on to the leader", func(t *testing.T) {
		standby.eventually("the standby serves", 20*time.Second, func() bool {
			resp, err := http.Get(addrs[standby] + "/healthz")
			if err == nil {
				resp.Body.Close()
			}
			return err == nil
		})
		body := githubPush(f.repoURL(), f.repo.Head(t))
		if code := postHook(t, addrs[standby]+"/hooks/github", body, sign([]byte(webhookSecret), body)); code/100 != 2 {
			t.Fatalf("standby answered %d", code)
		}
		cm := f.get(configMaps, "gitsync-pushes")
		var requests string
		if cm != nil {
			requests, _, _ = unstructured.NestedString(cm.Object, "data", "requests")
		}
		if !strings.Contains(requests, `"url":"`+f.repoURL()+`"`) {
			t.Errorf("the standby did not pass the push on to the leader: ConfigMap gitsync-pushes holds %q", requests)
		}
	})

	t.Run("a standby's status page shows what the leader recorded", func(t *testing.T) {
		standby.eventually("the standby's page shows e2e Ready", 20*time.Second, func() bool {
			return slices.Equal(states(t, addrs[standby]), []string{"e2e=Ready"})
		})
	})

	t.Run("the standby takes over when the leader dies", func(t *testing.T) {
		before := standbyAPI.WritesExcept("leases")
		if err := leader.cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		killed := time.Now()
		// The new leader continues from the inventory in the cluster: it must
		// prune b, which only the dead leader had applied.
		f.repo.Commit(t, "after the leader died", map[string]string{"app/a.yaml": configMap("a", "takeover"), "app/b.yaml": ""})
		standby.eventually("the standby applies the new revision", 30*time.Second, func() bool { return data(f.get(configMaps, "a")) == "takeover" })
		t.Logf("leader killed → new leader applied the next commit in %s (lease duration %s)", time.Since(killed).Round(10*time.Millisecond), lease)
		if standbyAPI.WritesExcept("leases") == before {
			t.Error("the change was not written by the former standby")
		}
		standby.eventually("b pruned by the new leader", 10*time.Second, func() bool { return f.get(configMaps, "b") == nil })
		standby.eventually("a Pruned event", 10*time.Second, func() bool { return slices.Contains(f.eventFields("gitsync-e2e", "reason"), "Pruned") })
		if st := f.statusOf("e2e"); st["objects"] != float64(3) || st["ready"] != true {
			t.Errorf("status after takeover: %v, want 3 objects, ready", st)
		}
	})

	t.Run("a leader stopped with SIGTERM releases the lease at once", func(t *testing.T) {
		third, thirdAPI := start()
		time.Sleep(time.Second)
		if thirdAPI.WritesExcept("leases") != 0 {
			t.Fatal("a new replica wrote while another one leads")
		}
		stopped := time.Now()
		if err := standby.stop(); err != nil { // the current leader
			t.Errorf("leader exit after SIGTERM: %v", err)
		}
		f.repo.Commit(t, "after SIGTERM", map[string]string{"app/a.yaml": configMap("a", "handover")})
		third.eventually("the third replica applies", 30*time.Second, func() bool { return data(f.get(configMaps, "a")) == "handover" })
		t.Logf("leader stopped with SIGTERM → next leader applied the next commit in %s", time.Since(stopped).Round(10*time.Millisecond))
	})
}

// eventFields lists one field ("reason", "note") of each Event about the
// ConfigMap name.
func (f *fixture) eventFields(name, field string) []string {
	f.t.Helper()
	events := schema.GroupVersionResource{Group: "events.k8s.io", Version: "v1", Resource: "events"}
	list, err := f.admin.Resource(events).Namespace(f.ns).List(f.t.Context(), metav1.ListOptions{})
	if err != nil {
		f.t.Fatal(err)
	}
	var out []string
	for _, e := range list.Items {
		if regarding, _ := e.Object["regarding"].(map[string]any); regarding["name"] == name {
			value, _ := e.Object[field].(string)
			out = append(out, value)
		}
	}
	return out
}

func githubPush(repoURL, after string) []byte {
	return fmt.Appendf(nil, `{"ref":"refs/heads/main","after":%q,"repository":{"clone_url":%q,"full_name":"e2e/repo"}}`, after, repoURL)
}

func sign(secret, body []byte) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

func postHook(t *testing.T, url string, body []byte, signature string) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-GitHub-Event", "push")
	if signature != "" {
		req.Header.Set("X-Hub-Signature-256", signature)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// TestGCPercent: gitsync runs with GOGC 75 unless the environment sets
// GOGC, which then wins (cmd/gitsync's gcPercent).
func TestGCPercent(t *testing.T) {
	f := newFixture(t)
	f.repo.Commit(t, "first", baseApp())
	config := f.writeConfig("1m", "- {name: e2e, source: repo, path: app, namespace: "+f.ns+"}")
	for want, env := range map[string][]string{"go_gc_gogc_percent 75\n": nil, "go_gc_gogc_percent 100\n": {"GOGC=100"}} {
		addr := freeAddr(t)
		p := startGitsync(t, env, "run", "--config", config, "--kubeconfig", f.api.Kubeconfig, "--namespace", f.ns,
			"--cache-dir", t.TempDir(), "--http-addr", addr)
		var metrics string
		p.eventually("/metrics answers", 20*time.Second, func() bool {
			resp, err := http.Get("http://" + addr + "/metrics")
			if err != nil {
				return false
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			metrics = string(body)
			return resp.StatusCode == 200
		})
		if !strings.Contains(metrics, want) {
			t.Errorf("environment %v: /metrics lacks %q", env, want)
		}
		if err := p.stop(); err != nil {
			t.Errorf("environment %v: %v", env, err)
		}
	}
}

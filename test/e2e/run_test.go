package e2e

import (
	"strings"
	"testing"
	"time"
)

// TestRunLoop runs `gitsync run` in the background: it follows new commits,
// stalls on a bad one without retrying it, recovers on the next good one and
// stops cleanly on SIGTERM.
func TestRunLoop(t *testing.T) {
	f := newFixture(t)
	f.repo.Commit(t, "first", baseApp())
	p := startGitsync(t, []string{"GITSYNC_PASSWORD=" + gitPassword}, "run", "--interval", "300ms", "--log-format", "json",
		"--repo", f.repoURL(), "--path", "app", "--name", "e2e", "--username", gitUser,
		"--kubeconfig", f.api.Kubeconfig, "--namespace", f.ns, "--cache-dir", f.cache, "--timeout", "30s")
	eventually := func(what string, cond func() bool) {
		t.Helper()
		p.eventually(what, 30*time.Second, cond)
	}
	applied := func(rev string) func() bool {
		return func() bool {
			st := f.statusOrNil()
			return st != nil && st["lastAppliedRevision"] == rev
		}
	}

	eventually("first revision applied", applied(f.repo.Head(t)))
	f.repo.Commit(t, "change", map[string]string{"app/a.yaml": configMap("a", "changed")})
	eventually("change applied", func() bool { return data(f.get(configMaps, "a")) == "changed" })

	// A commit that touches none of the sync's inputs is applied without
	// rendering again or writing any object; only the status moves on.
	time.Sleep(time.Second) // let the change's sync finish writing its status
	before := len(f.api.WriteLog())
	f.repo.Commit(t, "docs", map[string]string{"README.md": "nothing the sync reads"})
	eventually("unrelated revision recorded", applied(f.repo.Head(t)))
	if writes := objectWrites(f.api.WriteLog()[before:]); len(writes) != 0 {
		t.Errorf("a commit outside the sync's path caused object writes %v, want none (the status record may move)", writes)
	}
	if line := logLine(p.logs.String(), short(f.repo.Head(t))); !strings.Contains(line, `"renderCached":true`) {
		t.Errorf("the sync of a commit outside its path rendered again: %s", line)
	}

	f.repo.Commit(t, "broken", map[string]string{"app/b.yaml": "kind: [\n"})
	bad := f.repo.Head(t)
	eventually("bad revision reported as stalled", func() bool {
		st := f.statusOrNil()
		return st != nil && st["lastAttemptedRevision"] == bad && st["stalled"] == true
	})
	time.Sleep(time.Second) // let the stalled status be written
	before = len(f.api.WriteLog())
	time.Sleep(time.Second) // three more intervals
	if writes := f.api.WriteLog()[before:]; len(writes) != 0 {
		t.Errorf("the loop wrote %v while stalled on a bad revision, want nothing", writes)
	}

	f.repo.Commit(t, "fixed", map[string]string{"app/b.yaml": configMap("b", "fixed")})
	eventually("fix applied", applied(f.repo.Head(t)))

	if err := p.stop(); err != nil {
		t.Errorf("gitsync run exited with %v after SIGTERM, want 0; logs:\n%s", err, p.logs.String())
	}
}

// TestRunKeepsItsRenderForTheNextProcess: `gitsync run` keeps each render on
// disk in the background, and a sync's run ends once it is kept. Stopped by
// SIGTERM right after a sync, it has kept it: the next process, a `gitsync
// sync` of the same repository and path, reuses it without rendering again.
func TestRunKeepsItsRenderForTheNextProcess(t *testing.T) {
	f := newFixture(t)
	f.repo.Commit(t, "first", baseApp())
	p := startGitsync(t, []string{"GITSYNC_PASSWORD=" + gitPassword}, "run", "--interval", "1h",
		"--repo", f.repoURL(), "--path", "app", "--name", "e2e", "--username", gitUser,
		"--kubeconfig", f.api.Kubeconfig, "--namespace", f.ns, "--cache-dir", f.cache, "--timeout", "30s")
	p.eventually("first revision applied", 30*time.Second, func() bool {
		st := f.statusOrNil()
		return st != nil && st["lastAppliedRevision"] == f.repo.Head(t)
	})
	if err := p.stop(); err != nil {
		t.Fatalf("gitsync run exited with %v after SIGTERM, want 0; logs:\n%s", err, p.logs.String())
	}
	r := f.mustSync("-o", "json")
	var out struct {
		RenderCached bool `json:"renderCached"`
	}
	if err := jsonUnmarshal(r.Stdout, &out); err != nil || !out.RenderCached {
		t.Errorf("the next process rendered again (renderCached false, %v), want the render gitsync run kept:\n%s", err, r)
	}
}

// logLine returns the first log line that mentions s.
func logLine(logs, s string) string {
	for line := range strings.SplitSeq(logs, "\n") {
		if strings.Contains(line, s) {
			return line
		}
	}
	return ""
}

func short(rev string) string { return rev[:12] }

// objectWrites leaves out the saves of the sync's own record.
func objectWrites(log []string) []string {
	var out []string
	for _, w := range log {
		if !strings.HasSuffix(w, "configmaps/gitsync-e2e") {
			out = append(out, w)
		}
	}
	return out
}

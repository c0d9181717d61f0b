package e2e

import (
	"encoding/base64"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// Values planted in the Secrets of these tests. No output may show them, as
// written or base64-encoded.
const (
	secretOld   = "e2e-old-value-Zk4"
	secretNew   = "e2e-new-value-Zk4"
	secretKept  = "e2e-kept-value-Zk4"
	secretGone  = "e2e-gone-value-Zk4"
	secretAdded = "e2e-added-value-Zk4"
	secretPin   = "86420"
)

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

// leaked returns the planted values s shows, in either form.
func leaked(s string) []string {
	var out []string
	for _, v := range []string{secretOld, secretNew, secretKept, secretGone, secretAdded, secretPin} {
		for _, form := range []string{v, b64(v)} {
			if strings.Contains(s, form) {
				out = append(out, form)
			}
		}
	}
	return out
}

func noLeaks(t *testing.T, what string, r result) {
	t.Helper()
	if l := leaked(r.Stdout + r.Stderr); len(l) > 0 {
		t.Errorf("%s shows the Secret values %q:\n%s", what, l, r)
	}
}

// The Secret changes from data to stringData: a value changes, one is kept
// (now given in plain text), one is added and one removed.
const (
	secretBefore = "apiVersion: v1\nkind: Secret\nmetadata: {name: db}\n" +
		"data: {changed: %OLD%, kept: %KEPT%, removed: %GONE%}\n"
	secretAfter = "apiVersion: v1\nkind: Secret\nmetadata: {name: db}\n" +
		"stringData: {changed: " + secretNew + ", kept: " + secretKept + "}\ndata: {added: %ADDED%}\n"
)

func secretYAML(template string) string {
	return strings.NewReplacer("%OLD%", b64(secretOld), "%KEPT%", b64(secretKept), "%GONE%", b64(secretGone), "%ADDED%", b64(secretAdded)).Replace(template)
}

func TestDiffAndDryRunMaskSecretValues(t *testing.T) {
	f := newFixture(t)
	f.repo.Commit(t, "first", map[string]string{"app/a.yaml": configMap("a", "one"), "app/secret.yaml": secretYAML(secretBefore)})
	f.mustSync()
	f.repo.Commit(t, "change the secret", map[string]string{"app/secret.yaml": secretYAML(secretAfter)})
	markers := []string{"+  added: '***'", "-  changed: '*** (before)'", "+  changed: '*** (after)'", "   kept: '***'", "-  removed: '***'"}
	secretRef := "Secret " + f.ns + "/db"

	t.Run("diff marks each key changed, kept, added or removed, without values", func(t *testing.T) {
		r := f.run("diff")
		if r.Code != 1 {
			t.Fatalf("want exit 1 (differences):\n%s", r)
		}
		noLeaks(t, "diff", r)
		hasLines(t, r.Stdout, append([]string{"configured " + secretRef}, markers...)...)
	})
	t.Run("diff -o json marks the keys the same way, without values", func(t *testing.T) {
		r := f.run("diff", "-o", "json")
		if r.Code != 1 {
			t.Fatalf("want exit 1 (differences):\n%s", r)
		}
		noLeaks(t, "diff -o json", r)
		var out []struct{ Object, Action, Diff string }
		if err := json.Unmarshal([]byte(r.Stdout), &out); err != nil {
			t.Fatalf("not JSON: %v\n%s", err, r)
		}
		if len(out) != 1 || out[0].Object != secretRef || out[0].Action != "configured" {
			t.Fatalf("want one configured %s, got %+v", secretRef, out)
		}
		hasLines(t, out[0].Diff, markers...)
	})
	t.Run("sync --dry-run names the Secret it would configure, without values", func(t *testing.T) {
		r := f.sync("--dry-run")
		if r.Code != 0 {
			t.Fatalf("dry run failed:\n%s", r)
		}
		noLeaks(t, "sync --dry-run", r)
		hasLines(t, r.Stdout, f.ns+" secret/db configured")
	})
	t.Run("sync --dry-run -o json names the Secret it would configure, without values", func(t *testing.T) {
		r := f.sync("--dry-run", "-o", "json")
		if r.Code != 0 {
			t.Fatalf("dry run failed:\n%s", r)
		}
		noLeaks(t, "sync --dry-run -o json", r)
		if diff := cmp.Diff(map[string]int{"configured": 1, "unchanged": 1}, counts(t, r)); diff != "" {
			t.Errorf("counts (-want +got):\n%s", diff)
		}
	})
	t.Run("after the sync, the kept value given as stringData is no difference", func(t *testing.T) {
		f.mustSync()
		if r := f.run("diff"); r.Code != 0 {
			t.Errorf("diff after the sync: want exit 0 (no differences)\n%s", r)
		}
	})
}

// A Secret the API server refuses: its error is printed, logged, recorded in
// the status and in an Event, never with the Secret's values.
func TestSecretErrorsMaskValues(t *testing.T) {
	f := newFixture(t)
	f.repo.Commit(t, "bad secret", map[string]string{
		"app/secret.yaml": "apiVersion: v1\nkind: Secret\nmetadata: {name: pin}\nstringData: {pin: " + secretPin + ", token: " + secretNew + "}\n",
	})
	for _, args := range [][]string{{"sync"}, {"sync", "-o", "json"}, {"sync", "--dry-run"}, {"diff"}, {"diff", "-o", "json"}} {
		t.Run(strings.Join(args, " ")+" names the Secret and field without values", func(t *testing.T) {
			r := f.run(args[0], args[1:]...)
			if r.Code == 0 {
				t.Fatalf("want a failure:\n%s", r)
			}
			noLeaks(t, strings.Join(args, " "), r)
			for _, want := range []string{"Secret", f.ns + "/pin", "stringData.pin"} {
				if !strings.Contains(r.Stdout+r.Stderr, want) {
					t.Errorf("output does not say %q:\n%s", want, r)
				}
			}
		})
	}
	t.Run("the status records the error without values", func(t *testing.T) {
		st := f.status()
		msg, _ := st["error"].(string)
		if !strings.Contains(msg, "stringData.pin") || len(leaked(msg)) > 0 {
			t.Errorf("status error %q: want it to name stringData.pin and no value", msg)
		}
	})
	t.Run("gitsync run logs and records Events without values", func(t *testing.T) {
		// A sync of its own: Events are recorded when its status changes.
		config := f.writeConfig("1h", "- {name: run, source: repo, path: app, namespace: "+f.ns+"}")
		p, _ := f.runConfig(config)
		p.eventually("an event about the Secret on ConfigMap gitsync-run", 30*time.Second, func() bool {
			notes := f.eventFields("gitsync-run", "note")
			return slices.ContainsFunc(notes, func(n string) bool { return strings.Contains(n, "stringData.pin") })
		})
		for _, n := range f.eventFields("gitsync-run", "note") {
			if l := leaked(n); len(l) > 0 {
				t.Errorf("event shows the values %q: %s", l, n)
			}
		}
		if err := p.stop(); err != nil {
			t.Errorf("exit after SIGTERM: %v", err)
		}
		logs := p.logs.String()
		if !strings.Contains(logs, "stringData.pin") || len(leaked(logs)) > 0 {
			t.Errorf("logs: want the error about stringData.pin and no value:\n%s", logs)
		}
	})
}

// hasLines fails the test for each line text lacks.
func hasLines(t *testing.T, text string, lines ...string) {
	t.Helper()
	have := strings.Split(text, "\n")
	for _, l := range lines {
		if !slices.Contains(have, l) {
			t.Errorf("output lacks the line %q:\n%s", l, text)
		}
	}
}

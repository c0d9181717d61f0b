package apply_test

import (
	"encoding/base64"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/cli-utils/pkg/object"

	"github.com/gitsync-io/gitsync/pkg/sync/apply"
)

// Values planted in Secrets; no diff or error may show them, as written or
// base64-encoded.
const (
	plainOld    = "plain-old-value-7Hq"
	plainNew    = "plain-new-value-7Hq"
	plainKept   = "plain-kept-value-7Hq"
	plainGone   = "plain-gone-value-7Hq"
	plainAdded  = "plain-added-value-7Hq"
	plainCreate = "plain-create-value-7Hq"
)

var planted = []string{plainOld, plainNew, plainKept, plainGone, plainAdded, plainCreate}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

// leaks returns the planted values s shows, in either form.
func leaks(s string) []string {
	var out []string
	for _, v := range planted {
		for _, form := range []string{v, b64(v)} {
			if strings.Contains(s, form) {
				out = append(out, form)
			}
		}
	}
	return out
}

func TestDiffMasksSecrets(t *testing.T) {
	a, _, ns := newApplier(t)
	mustApply(t, a, `
apiVersion: v1
kind: Secret
metadata: {name: db}
data: {changed: `+b64(plainOld)+`, kept: `+b64(plainKept)+`, removed: `+b64(plainGone)+`}
---
apiVersion: v1
kind: Secret
metadata: {name: old}
stringData: {token: `+plainGone+`}
---
apiVersion: v1
kind: Secret
metadata: {name: locked, annotations: {gitsync.io/force: enabled}}
immutable: true
data: {changed: `+b64(plainOld)+`, kept: `+b64(plainKept)+`}
`)
	// The kept value moves from data to stringData: the server stores the
	// same bytes, so it is unchanged.
	desired := `
apiVersion: v1
kind: Secret
metadata: {name: db}
stringData: {changed: ` + plainNew + `, kept: ` + plainKept + `}
data: {added: ` + b64(plainAdded) + `}
---
apiVersion: v1
kind: Secret
metadata: {name: fresh}
stringData: {token: ` + plainCreate + `}
---
apiVersion: v1
kind: Secret
metadata: {name: locked, annotations: {gitsync.io/force: enabled}}
immutable: true
stringData: {changed: ` + plainNew + `, kept: ` + plainKept + `}
`
	diffs, err := a.Diff(t.Context(), objects(t, desired), object.ObjMetadataSet{
		{GroupKind: schema.GroupKind{Kind: "Secret"}, Namespace: ns, Name: "old"},
	})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]apply.ObjectDiff{}
	for _, d := range diffs {
		got[d.Ref] = d
		if l := leaks(d.Diff); len(l) > 0 {
			t.Errorf("%s: diff shows the values %q:\n%s", d.Ref, l, d.Diff)
		}
	}
	for _, tc := range []struct {
		name, ref string
		action    apply.Action
		lines     []string
	}{{
		name: "marks a changed, kept, added and removed key", ref: "Secret " + ns + "/db", action: apply.Configured,
		lines: []string{"+  added: '***'", "-  changed: '*** (before)'", "+  changed: '*** (after)'", "   kept: '***'", "-  removed: '***'"},
	}, {
		// The server refuses the change; the diff is against the object as
		// git has it, which it would recreate.
		name: "compares the stringData of an immutable Secret it would recreate as data", ref: "Secret " + ns + "/locked", action: apply.Configured,
		lines: []string{"-  changed: '*** (before)'", "+  changed: '*** (after)'", "   kept: '***'"},
	}, {
		name: "masks the keys of a Secret it would create", ref: "Secret " + ns + "/fresh", action: apply.Created,
		lines: []string{"+  token: '***'"},
	}, {
		name: "masks the keys of a Secret prune would delete", ref: "Secret " + ns + "/old", action: apply.Deleted,
		lines: []string{"-  token: '***'"},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			d, ok := got[tc.ref]
			if !ok || d.Action != tc.action {
				t.Fatalf("%s: got %+v, want %s", tc.ref, d, tc.action)
			}
			for _, line := range tc.lines {
				if !hasLine(d.Diff, line) {
					t.Errorf("diff lacks the line %q:\n%s", line, d.Diff)
				}
			}
			if strings.Contains(d.Diff, "stringData") {
				t.Errorf("diff shows stringData, which the server does not store:\n%s", d.Diff)
			}
		})
	}
}

func hasLine(text, line string) bool {
	for l := range strings.SplitSeq(text, "\n") {
		if l == line {
			return true
		}
	}
	return false
}

func TestApplyMasksSecretValuesInErrors(t *testing.T) {
	for _, tc := range []struct {
		name, doc string
		want      []string
	}{{
		name: "a stringData value that is not a string",
		doc:  "apiVersion: v1\nkind: Secret\nmetadata: {name: pin}\nstringData: {pin: 73519, token: " + plainNew + "}\n",
		want: []string{"v1 Secret ", "/pin", "stringData.pin"},
	}, {
		name: "a data value that is not base64",
		doc:  "apiVersion: v1\nkind: Secret\nmetadata: {name: raw}\ndata: {token: " + plainNew + "!}\n",
		want: []string{"v1 Secret ", "/raw"},
	}} {
		t.Run("masks "+tc.name, func(t *testing.T) {
			for _, dryRun := range []bool{false, true} {
				a, _, _ := newApplier(t, func(o *apply.Options) { o.DryRun = dryRun })
				cs, err := a.Apply(t.Context(), objects(t, tc.doc))
				if err != nil {
					t.Fatal(err)
				}
				msg := ""
				if cs.Err() != nil {
					msg = cs.Err().Error()
				}
				t.Logf("dry run %v: %s", dryRun, msg)
				if actions(cs) != "failed=1" {
					t.Fatalf("dry run %v: got %s, want failed=1", dryRun, actions(cs))
				}
				for _, w := range tc.want {
					if !strings.Contains(msg, w) {
						t.Errorf("dry run %v: error does not say %q: %s", dryRun, w, msg)
					}
				}
				for _, leak := range append(leaks(msg), secretLeaks(msg, "73519")...) {
					t.Errorf("dry run %v: error shows the value %q: %s", dryRun, leak, msg)
				}
			}
		})
	}
}

func secretLeaks(s string, values ...string) []string {
	var out []string
	for _, v := range values {
		if strings.Contains(s, v) {
			out = append(out, v)
		}
	}
	return out
}

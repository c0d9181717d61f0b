package cli

import (
	"bytes"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/cli-utils/pkg/object"

	gsync "github.com/gitsync-io/gitsync/pkg/sync"
	"github.com/gitsync-io/gitsync/pkg/sync/apply"
)

func TestPrinterSaysWhatWasTakenOverAndRecovered(t *testing.T) {
	r := &gsync.Result{
		Name: "b", Namespace: "ops", Revision: "0123456789abcdef",
		Applied: &apply.ChangeSet{Changes: []apply.Change{{
			ID:     object.ObjMetadata{GroupKind: schema.GroupKind{Kind: "ConfigMap"}, Namespace: "web", Name: "shared"},
			Action: apply.Configured, TakenFrom: apply.SyncLabel("ops", "a"),
		}}},
		Recovery: &gsync.Recovery{Objects: 3, Unlisted: []string{"secrets"}},
	}
	for _, tc := range []struct {
		output string
		want   []string
	}{
		{"text", []string{
			"web configmap/shared configured, taken over from sync ops/a\n",
			"inventory recovered: 3 objects; could not list secrets: objects of these types are not pruned\n",
		}},
		{"json", []string{`"takenFrom":"ops/a"`, `"recovery":{"objects":3,"unlisted":["secrets"]}`}},
	} {
		t.Run("prints them as "+tc.output, func(t *testing.T) {
			var out bytes.Buffer
			p, err := newPrinter(Streams{Out: &out, ErrOut: &out}, tc.output)
			if err != nil {
				t.Fatal(err)
			}
			if err := p.result(r, nil); err != nil {
				t.Fatal(err)
			}
			for _, want := range tc.want {
				if !strings.Contains(out.String(), want) {
					t.Errorf("output lacks %q:\n%s", want, out.String())
				}
			}
		})
	}
}

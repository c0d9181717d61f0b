package nodes

import (
	"strings"
	"testing"
)

func TestOptionsAreChecked(t *testing.T) {
	for _, tc := range []struct {
		name    string
		nodes   []NodeOptions
		wantErr string // empty: valid
	}{
		{"accepts the defaults", DefaultOptions().Nodes, ""},
		{"accepts a 12-character name with a dash", []NodeOptions{{Name: "control-pl-1"}}, ""},
		{"rejects no nodes", nil, "0 nodes"},
		{"rejects a name longer than 12", []NodeOptions{{Name: "control-plane"}}, `"control-plane"`},
		{"rejects upper case", []NodeOptions{{Name: "Node1"}}, `"Node1"`},
		{"rejects a leading dash", []NodeOptions{{Name: "-a"}}, `"-a"`},
		{"rejects a name used twice", []NodeOptions{{Name: "a"}, {Name: "a"}}, "used twice"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts, err := Options{Nodes: tc.nodes}.withDefaults()
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("got error %v, want one with %q", err, tc.wantErr)
			case err == nil && opts.BootTimeout != DefaultOptions().BootTimeout:
				t.Fatalf("BootTimeout %s, want the default", opts.BootTimeout)
			}
		})
	}
}

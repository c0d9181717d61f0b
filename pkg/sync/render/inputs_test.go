package render

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestInputsDigest(t *testing.T) {
	base := func() inputs {
		in := inputs{}
		in.add(opStat, "app/kustomization.yaml", "file")
		in.add(opRead, "app/kustomization.yaml", "aa")
		in.add(opRead, "app/cm.yaml", "bb")
		return in
	}
	reordered := inputs{}
	reordered.add(opRead, "app/cm.yaml", "bb")
	reordered.add(opRead, "app/kustomization.yaml", "aa")
	reordered.add(opStat, "app/kustomization.yaml", "file")
	if base().digest() != reordered.digest() {
		t.Error("digest depends on the order the inputs were read in")
	}
	changes := []struct {
		name   string
		change func(inputs)
	}{
		{"changes when a file's content changes", func(in inputs) { in.add(opRead, "app/cm.yaml", "cc") }},
		{"changes when another file is read", func(in inputs) { in.add(opRead, "app/other.yaml", "bb") }},
		{"changes when a path is only checked", func(in inputs) { in.add(opStat, "app/kustomization.yml", "absent") }},
		{"changes when a listing changes", func(in inputs) { in.add(opList, "app", "dd") }},
	}
	for _, tc := range changes {
		t.Run(tc.name, func(t *testing.T) {
			in := base()
			tc.change(in)
			if in.digest() == base().digest() {
				t.Error("digest did not change")
			}
		})
	}
}

func TestInputsPaths(t *testing.T) {
	in := inputs{}
	in.add(opStat, "b/kustomization.yml", "absent")
	in.add(opStat, "b/kustomization.yaml", "file")
	in.add(opRead, "b/kustomization.yaml", "aa")
	in.add(opList, "a", "bb")
	in.add(opRead, "a/x.yaml", "cc")
	want := []string{"a", "a/x.yaml", "b/kustomization.yaml"}
	if diff := cmp.Diff(want, in.paths()); diff != "" {
		t.Errorf("paths (-want +got):\n%s", diff)
	}
}

package source

import (
	"testing"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/google/go-cmp/cmp"
)

func TestRemoteRefsFind(t *testing.T) {
	const (
		mainSHA  = "1111111111111111111111111111111111111111"
		tagObj   = "2222222222222222222222222222222222222222"
		tagged   = "3333333333333333333333333333333333333333"
		both     = "4444444444444444444444444444444444444444"
		orphaned = "5555555555555555555555555555555555555555"
	)
	refs := remoteRefs{}
	for _, r := range []*plumbing.Reference{
		plumbing.NewSymbolicReference(plumbing.HEAD, "refs/heads/main"),
		plumbing.NewReferenceFromStrings("refs/heads/main", mainSHA),
		plumbing.NewReferenceFromStrings("refs/heads/v1", both),
		plumbing.NewReferenceFromStrings("refs/tags/v1", tagObj),
		plumbing.NewReferenceFromStrings("refs/tags/v1^{}", tagged),
	} {
		refs[r.Name()] = r
	}
	for _, tc := range []struct {
		name, ref string
		want      target
		wantOK    bool
	}{
		{"follows HEAD to the default branch", "", target{"refs/heads/main", plumbing.NewHash(mainSHA)}, true},
		{"prefers a branch to a tag of the same name, like git", "v1", target{"refs/heads/v1", plumbing.NewHash(both)}, true},
		{"peels an annotated tag named in full", "refs/tags/v1", target{"refs/tags/v1", plumbing.NewHash(tagged)}, true},
		{"finds a ref for an advertised commit", mainSHA, target{"refs/heads/main", plumbing.NewHash(mainSHA)}, true},
		{"finds the tag of a peeled commit", tagged, target{"refs/tags/v1", plumbing.NewHash(tagged)}, true},
		{"leaves an unadvertised commit without a ref", orphaned, target{commit: plumbing.NewHash(orphaned)}, true},
		{"reports a missing branch", "nope", target{}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := refs.find(tc.ref)
			if diff := cmp.Diff(tc.want, got, cmp.AllowUnexported(target{})); diff != "" || ok != tc.wantOK {
				t.Errorf("find(%q) = %v (-want +got):\n%s", tc.ref, ok, diff)
			}
		})
	}
}

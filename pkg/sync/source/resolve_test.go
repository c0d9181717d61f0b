package source

import (
	"strings"
	"testing"

	"github.com/Masterminds/semver/v3"
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
		{"follows HEAD to the default branch", "", target{name: "refs/heads/main", commit: plumbing.NewHash(mainSHA)}, true},
		{"prefers a branch to a tag of the same name, like git", "v1", target{name: "refs/heads/v1", commit: plumbing.NewHash(both)}, true},
		{"peels an annotated tag named in full", "refs/tags/v1", target{name: "refs/tags/v1", commit: plumbing.NewHash(tagged), tag: plumbing.NewHash(tagObj)}, true},
		{"finds a ref for an advertised commit", mainSHA, target{name: "refs/heads/main", commit: plumbing.NewHash(mainSHA)}, true},
		{"finds the tag of a peeled commit", tagged, target{name: "refs/tags/v1", commit: plumbing.NewHash(tagged)}, true},
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

func TestRemoteRefsNewestTag(t *testing.T) {
	sha := func(c byte) string { return strings.Repeat(string(c), 40) }
	refs := remoteRefs{}
	for name, hash := range map[string]string{
		"refs/tags/v1.1.0": sha('1'), "refs/tags/v1.2.0": sha('2'), "refs/tags/v1.10.0": sha('3'),
		"refs/tags/1.11.0-rc.1": sha('4'), "refs/tags/v2.0.0": sha('5'), "refs/tags/latest": sha('6'),
		"refs/heads/v1.99.0": sha('7'), "refs/tags/v1.9.0": sha('8'), "refs/tags/v1.9.0^{}": sha('9'),
	} {
		refs[plumbing.ReferenceName(name)] = plumbing.NewReferenceFromStrings(name, hash)
	}
	for _, tc := range []struct {
		constraint string
		want       target
		wantOK     bool
	}{
		{">=1.2.0 <2", target{name: "refs/tags/v1.10.0", commit: plumbing.NewHash(sha('3'))}, true}, // numeric, not string, order; no prerelease; branches ignored
		{"~1.9", target{name: "refs/tags/v1.9.0", commit: plumbing.NewHash(sha('9')), tag: plumbing.NewHash(sha('8'))}, true},
		{">=1.11.0-0 <2", target{name: "refs/tags/1.11.0-rc.1", commit: plumbing.NewHash(sha('4'))}, true},
		{">=3", target{}, false},
	} {
		c, err := semver.NewConstraint(tc.constraint)
		if err != nil {
			t.Fatal(err)
		}
		got, ok := refs.newestTag(c)
		if diff := cmp.Diff(tc.want, got, cmp.AllowUnexported(target{})); diff != "" || ok != tc.wantOK {
			t.Errorf("newestTag(%q) = %v (-want +got):\n%s", tc.constraint, ok, diff)
		}
	}
}

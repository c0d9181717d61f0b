package cli

import (
	"testing"

	"github.com/gitsync-io/gitsync/pkg/webhook"
)

func TestPushMatches(t *testing.T) {
	const url = "https://git.example.org/ops/cluster.git"
	branch := webhook.Push{Repository: []string{url}, Ref: "refs/heads/main", Branch: "main"}
	tag := webhook.Push{Repository: []string{url}, Ref: "refs/tags/v1", Tag: "v1"}
	other := webhook.Push{Repository: []string{"https://git.example.org/ops/other.git"}, Ref: "refs/heads/main", Branch: "main"}
	for _, tc := range []struct {
		name string
		push webhook.Push
		ref  string
		want bool
	}{
		{"a branch source hears a push to that branch", branch, "main", true},
		{"a branch source ignores a push to another branch", branch, "dev", false},
		{"a full branch ref matches too", branch, "refs/heads/main", true},
		{"the default branch hears any push to the repository", branch, "", true},
		{"a commit source hears any push (cheap: one ls-remote)", branch, "0123456789abcdef0123456789abcdef01234567", true},
		{"a tag source named short hears that tag", tag, "v1", true},
		{"a tag source named in full hears that tag", tag, "refs/tags/v1", true},
		{"a branch source ignores a tag of the same name", tag, "refs/heads/v1", false},
		{"another repository never matches", other, "main", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := pushMatches(tc.push, url, tc.ref); got != tc.want {
				t.Errorf("pushMatches(%+v, %q) = %v, want %v", tc.push, tc.ref, got, tc.want)
			}
		})
	}
}

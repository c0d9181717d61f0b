package webhook_test

import (
	"testing"

	"github.com/gitsync-io/gitsync/pkg/webhook"
)

func TestPushMatches(t *testing.T) {
	// The forms of a GitHub push of refs/heads/main to Example-Org/fleet.
	github := webhook.Push{
		Provider:   webhook.GitHub,
		Repository: []string{"https://github.com/Example-Org/fleet.git", "git@github.com:Example-Org/fleet.git", "https://github.com/Example-Org/fleet", "Example-Org/fleet"},
		Ref:        "refs/heads/main", Branch: "main",
	}
	// A GitLab push of a tag, with a subgroup and SSH on another port.
	gitlabTag := webhook.Push{
		Provider:   webhook.GitLab,
		Repository: []string{"https://gitlab.example.com/platform/clusters/fleet.git", "ssh://git@gitlab.example.com:2222/platform/clusters/fleet.git"},
		Ref:        "refs/tags/v1.4.0", Tag: "v1.4.0",
	}
	// A generic push that names the repository by one URL only.
	generic := webhook.Push{Provider: webhook.Generic, Repository: []string{"git@git.example.com:ops/fleet.git"}, Ref: "refs/heads/main", Branch: "main"}
	for _, tc := range []struct {
		name        string
		push        webhook.Push
		url, branch string
		want        bool
	}{
		{"matches the https clone URL and the branch", github, "https://github.com/Example-Org/fleet.git", "main", true},
		{"matches the URL without .git", github, "https://github.com/Example-Org/fleet", "main", true},
		{"matches an ssh:// URL", github, "ssh://git@github.com/Example-Org/fleet.git", "main", true},
		{"matches an ssh:// URL with a port", github, "ssh://git@github.com:22/Example-Org/fleet.git", "main", true},
		{"matches an scp-like address", github, "git@github.com:Example-Org/fleet.git", "main", true},
		{"matches an scp-like address without a user", github, "github.com:Example-Org/fleet", "main", true},
		{"matches an http:// URL", github, "http://github.com/Example-Org/fleet.git", "main", true},
		{"ignores credentials in the URL", github, "https://x-access-token:ghs_abc@github.com/Example-Org/fleet.git", "main", true},
		{"ignores trailing slashes", github, "https://github.com/Example-Org/fleet.git/", "main", true},
		{"ignores trailing slashes before .git", github, "https://github.com/Example-Org/fleet/", "", true},
		{"ignores the case of the host", github, "https://GitHub.COM/Example-Org/fleet.git", "main", true},
		{"ignores the case of the path, as git hosts do", github, "https://github.com/example-org/FLEET", "main", true},
		{"ignores surrounding space", github, " https://github.com/Example-Org/fleet.git\n", "main", true},
		{"matches a bare path", github, "Example-Org/fleet", "main", true},
		{"matches the repository's path on a host the payload does not name", github, "https://github-mirror.internal/Example-Org/fleet.git", "main", true},
		{"matches any ref when branch is empty", github, "https://github.com/Example-Org/fleet", "", true},
		{"matches a full branch reference", github, "https://github.com/Example-Org/fleet", "refs/heads/main", true},
		{"does not match another branch", github, "https://github.com/Example-Org/fleet.git", "dev", false},
		{"does not match another branch given as a reference", github, "https://github.com/Example-Org/fleet.git", "refs/heads/dev", false},
		{"does not match another repository of the owner", github, "https://github.com/Example-Org/fleet-staging.git", "main", false},
		{"does not match a repository whose path only ends the same", github, "https://github.com/other/Example-Org/fleet.git", "main", false},
		{"does not match an owner's page", github, "https://github.com/Example-Org", "", false},
		{"does not match an empty URL", github, "", "", false},
		{"does not match a URL that does not parse", github, "https://github.com:port/Example-Org/fleet", "", false},
		{"matches a tag push when any ref will do", gitlabTag, "https://gitlab.example.com/platform/clusters/fleet", "", true},
		{"matches a tag push by its full reference", gitlabTag, "https://gitlab.example.com/platform/clusters/fleet", "refs/tags/v1.4.0", true},
		{"does not match a tag push to a branch", gitlabTag, "https://gitlab.example.com/platform/clusters/fleet", "main", false},
		{"does not match a tag push to a branch of the tag's name", gitlabTag, "https://gitlab.example.com/platform/clusters/fleet", "v1.4.0", false},
		{"matches a subgroup over ssh on another port", gitlabTag, "ssh://git@gitlab.example.com:2222/platform/clusters/fleet", "", true},
		{"does not match the parent group", gitlabTag, "https://gitlab.example.com/platform/clusters", "", false},
		{"does not match the same path on another host when every form names a host", gitlabTag, "https://gitlab.other.com/platform/clusters/fleet.git", "", false},
		{"matches an https URL to an scp-like address of the same host", generic, "https://git.example.com/ops/fleet", "main", true},
		{"matches a bracketed IPv6 scp-like address", webhook.Push{Repository: []string{"git@[::1]:ops/fleet.git"}, Ref: "refs/heads/main", Branch: "main"}, "ssh://git@[::1]:2222/ops/fleet", "main", true},
		{"does not match a push without repository forms", webhook.Push{Ref: "refs/heads/main", Branch: "main"}, "https://git.example.com/ops/fleet", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.push.Matches(tc.url, tc.branch); got != tc.want {
				t.Errorf("Push{%v, %s}.Matches(%q, %q) = %v, want %v", tc.push.Repository, tc.push.Ref, tc.url, tc.branch, got, tc.want)
			}
		})
	}
}

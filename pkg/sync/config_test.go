package sync_test

import (
	"strings"
	"testing"

	gsync "github.com/gitsync-io/gitsync/pkg/sync"
)

const validConfig = `
apiVersion: gitsync.io/v1alpha1
kind: Config
sources:
- name: cluster
  url: https://git.example.org/ops/cluster.git
  ref: main
  interval: 30s
  auth: {username: gitsync, passwordFile: /etc/gitsync/git/password}
syncs:
- name: calico
  source: cluster
  path: manifests/calico
- name: apps
  source: cluster
  path: overlays/prod
  dependsOn: [calico]
webhook:
  secretFile: /etc/gitsync/webhook/secret
`

func TestParseConfig(t *testing.T) {
	t.Run("accepts a valid config", func(t *testing.T) {
		c, err := gsync.ParseConfig([]byte(validConfig))
		if err != nil {
			t.Fatal(err)
		}
		if len(c.Syncs) != 2 || c.Syncs[1].DependsOn[0] != "calico" || c.Sources[0].Interval.Duration.Seconds() != 30 {
			t.Errorf("parsed %+v", c)
		}
	})
	t.Run("takes a ref as a string or an object", func(t *testing.T) {
		for ref, want := range map[string]gsync.RefConfig{
			"main":                   {Name: "main"},
			"{tag: v1.2.3}":          {Tag: "v1.2.3"},
			`{semver: ">=1.2.0 <2"}`: {SemVer: ">=1.2.0 <2"},
			"{branch: release}":      {Branch: "release"},
			"{commit: " + strings.Repeat("a", 40) + "}": {Commit: strings.Repeat("a", 40)},
		} {
			c, err := gsync.ParseConfig([]byte(strings.Replace(validConfig, "  ref: main", "  ref: "+ref, 1)))
			if err != nil || c.Sources[0].Ref != want {
				t.Errorf("ref: %s: got %+v, %v; want %+v", ref, c.Sources[0].Ref, err, want)
			}
		}
	})
	for _, tc := range []struct {
		name, from, to, want string
	}{
		{"an unknown field", "  path: overlays/prod", "  pathh: overlays/prod", `unknown field "syncs[1].pathh"`},
		{"a wrong kind", "kind: Config", "kind: Cluster", "apiVersion/kind"},
		{"a chart repository without the chart's name", "  path: overlays/prod", "  path: overlays/prod\n  helm: {chart: {repo: https://charts.example/}}", "syncs[1].helm: name: required with repo https://charts.example/"},
		{"a misspelt chart field", "  path: overlays/prod", "  path: overlays/prod\n  helm: {chart: {repo: https://charts.example/, nam: app}}", `chart: unknown field "nam" (want a directory of the repository, or url, or repo with name and version)`},
		{"a chart value that is a map", "  path: overlays/prod", "  path: overlays/prod\n  helm: {chart: charts/app, set: {image: {tag: x}}}", "syncs[1].helm: set.image: set takes strings, numbers and booleans; put lists and maps in a values file"},
		{"a chart outside the repository", "  path: overlays/prod", "  path: overlays/prod\n  helm: {chart: ../charts/app}", `syncs[1].helm: chart "../charts/app": must be a directory inside the repository`},
		{"a ServiceAccount name that cannot be one", "  path: overlays/prod", "  path: overlays/prod\n  serviceAccountName: Team_A", `syncs[1].serviceAccountName: "Team_A": a lowercase RFC 1123 subdomain`},
		{"a sync of an unknown source", "  source: cluster\n  path: overlays/prod", "  source: clusterr\n  path: overlays/prod", `syncs[1].source: "clusterr"`},
		{"a dependency that does not exist", "dependsOn: [calico]", "dependsOn: [calicoo]", `syncs[1].dependsOn: "calicoo"`},
		{"a dependency cycle", "  path: manifests/calico", "  path: manifests/calico\n  dependsOn: [apps]", "cycle: calico → apps → calico"},
		{"a sync named twice", "- name: apps", "- name: calico", `syncs[1].name: "calico" is used twice`},
		{"a source without url", "  url: https://git.example.org/ops/cluster.git\n", "", "sources[0].url: required"},
		{"a webhook without a secret", "  secretFile: /etc/gitsync/webhook/secret", "  secretFile: \"\"", "webhook.secretFile"},
		{"a negative interval", "interval: 30s", "interval: -30s", "sources[0].interval"},
		{"a field given twice", "kind: Config\n", "kind: Config\nkind: Config\n", `key "kind" already set`},
		{"a ref of two kinds", "  ref: main", "  ref: {branch: main, tag: v1}", "sources[0].ref: give one of branch, tag, semver and commit"},
		{"a bad semver range", "  ref: main", "  ref: {semver: \">>1\"}", `sources[0].ref: semver ">>1"`},
		{"an unknown ref field", "  ref: main", "  ref: {brunch: main}", `ref: unknown field "brunch"`},
		{"verify without keys", "  ref: main", "  ref: main\n  verify: {mode: head}", "sources[0].verify.keys: required"},
		{"verify of an unknown mode", "  ref: main", "  ref: main\n  verify: {mode: all, keys: /k}", `sources[0].verify.mode: "all", want head or tag`},
		{"verify of tags on a branch", "  ref: main", "  ref: main\n  verify: {mode: tag, keys: /k}", "sources[0].verify.mode: tag needs ref: {tag: NAME} or ref: {semver: RANGE}"},
		{"a receiver of an unknown type", "kind: Config\n", "kind: Config\nnotifications: [{name: chat, type: pager, url: https://x.example}]\n", `notifications[0]: type "pager"`},
		{"a receiver without a url", "kind: Config\n", "kind: Config\nnotifications: [{name: chat, type: slack}]\n", "notifications[0]: url or urlFile: required"},
		{"a receiver of an unknown sync", "kind: Config\n", "kind: Config\nnotifications: [{name: chat, type: slack, urlFile: /u, syncs: [appz]}]\n", `notifications[0].syncs: "appz"`},
		{"a commit status without a token", "kind: Config\n", "kind: Config\nnotifications: [{name: st, type: github}]\n", "notifications[0]: tokenFile: required"},
		{"a receiver of an unknown event", "kind: Config\n", "kind: Config\nnotifications: [{name: chat, type: slack, urlFile: /u, events: [boom]}]\n", `notifications[0]: events: "boom"`},
		{"a mirror that is not a URL", "kind: Config\n", "kind: Config\nremote: {mirrors: [{from: https://a.example/, to: b.example}]}\n", "remote.mirrors[0]"},
	} {
		t.Run("rejects "+tc.name, func(t *testing.T) {
			if !strings.Contains(validConfig, tc.from) {
				t.Fatalf("test setup: %q not in the config", tc.from)
			}
			_, err := gsync.ParseConfig([]byte(strings.Replace(validConfig, tc.from, tc.to, 1)))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestConfigRemoteFiles(t *testing.T) {
	const config = `
apiVersion: gitsync.io/v1alpha1
kind: Config
sources: [{name: cluster, url: https://git.example.org/ops/cluster.git}]
syncs:
- {name: team-a, source: cluster, path: tenants/team-a}
- {name: team-b, source: cluster, path: tenants/team-b}
`
	for remote, want := range map[string]bool{"": false, "remote: {files: true}\n": false, "remote: {files: false}\n": true} {
		c, err := gsync.ParseConfig([]byte(config + remote))
		if err != nil {
			t.Fatal(err)
		}
		syncs, err := c.Managed("gitsync-system", t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range syncs {
			if s.Options.Remote.NoFiles != want {
				t.Errorf("%q: sync %s refuses remote files: %v, want %v", remote, s.Options.Name, s.Options.Remote.NoFiles, want)
			}
		}
	}
}

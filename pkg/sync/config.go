package sync

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"

	"github.com/gitsync-io/gitsync/pkg/sync/render"
)

// ConfigAPIVersion and ConfigKind identify a config file.
const (
	ConfigAPIVersion = "gitsync.io/v1alpha1"
	ConfigKind       = "Config"
)

// Config is the file of `gitsync run --config`: repositories to fetch and
// syncs that render paths of them into the cluster.
type Config struct {
	APIVersion string         `json:"apiVersion"`
	Kind       string         `json:"kind"`
	Sources    []SourceConfig `json:"sources"`
	Syncs      []SyncConfig   `json:"syncs"`
	Webhook    *WebhookConfig `json:"webhook,omitempty"`
	Remote     RemoteConfig   `json:"remote,omitempty"`
}

// RemoteConfig is how the http(s) resource files that kustomizations list
// are fetched, for every sync.
type RemoteConfig struct {
	// Mirrors rewrite URL prefixes, e.g. an upstream release host to a
	// regional or in-house mirror; the longest matching from wins.
	Mirrors []render.Mirror `json:"mirrors,omitempty"`
	// Timeout bounds each fetch; default 30s.
	Timeout metav1.Duration `json:"timeout,omitempty"`
	// GitBases turns on remote git bases (kustomization entries naming a
	// directory of another repository). Off by default.
	GitBases bool `json:"gitBases,omitempty"`
}

// SourceConfig is one repository and ref.
type SourceConfig struct {
	Name string `json:"name"`
	URL  string `json:"url"`
	Ref  string `json:"ref,omitempty"`
	// Interval between checks of the remote; default 1m.
	Interval metav1.Duration `json:"interval,omitempty"`
	Auth     AuthConfig      `json:"auth,omitempty"`
}

// AuthConfig names files, mounted from Secrets, that hold credentials.
type AuthConfig struct {
	Username             string `json:"username,omitempty"`
	PasswordFile         string `json:"passwordFile,omitempty"`
	SSHKeyFile           string `json:"sshKeyFile,omitempty"`
	SSHKeyPassphraseFile string `json:"sshKeyPassphraseFile,omitempty"`
	SSHAgent             bool   `json:"sshAgent,omitempty"`
	KnownHostsFile       string `json:"knownHostsFile,omitempty"`
	SSHAcceptNew         bool   `json:"sshAcceptNew,omitempty"`
}

// SyncConfig is one path of a source kept applied.
type SyncConfig struct {
	Name   string `json:"name"`
	Source string `json:"source"`
	Path   string `json:"path,omitempty"`
	// Namespace is given to namespaced objects rendered without one.
	Namespace  string          `json:"namespace,omitempty"`
	Prune      *bool           `json:"prune,omitempty"` // default true
	Wait       *bool           `json:"wait,omitempty"`  // default true
	Timeout    metav1.Duration `json:"timeout,omitempty"`
	Suspend    bool            `json:"suspend,omitempty"`
	Force      bool            `json:"force,omitempty"`
	AllowEmpty bool            `json:"allowEmpty,omitempty"`
	// DependsOn names syncs that must be Ready (applied and healthy at
	// their latest revision) before this one applies.
	DependsOn []string `json:"dependsOn,omitempty"`
}

// WebhookConfig enables the push webhooks.
type WebhookConfig struct {
	// SecretFile holds the shared secret. Without a secret the webhook
	// endpoints are off.
	SecretFile string `json:"secretFile"`
	// Providers lists the endpoints to turn on, of github, gitlab, gitea
	// and generic; default all. GitLab sends the secret itself as a token
	// (not a signature), so enable it only if GitLab is the git host.
	Providers []string `json:"providers,omitempty"`
}

// LoadConfig reads and validates a config file. Every error names the file
// and the field.
func LoadConfig(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	c, err := ParseConfig(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// ParseConfig decodes a config strictly (an unknown field is an error) and
// validates it.
func ParseConfig(data []byte) (*Config, error) {
	j, err := yaml.YAMLToJSONStrict(data)
	if err != nil {
		return nil, fmt.Errorf("invalid YAML: %w", err)
	}
	var c Config
	// sigs.k8s.io/json names the path of an unknown or duplicate field.
	strict, err := kjson.UnmarshalStrict(j, &c, kjson.DisallowDuplicateFields, kjson.DisallowUnknownFields)
	if err != nil {
		return nil, fmt.Errorf("invalid config: %w", err)
	}
	if err := errors.Join(strict...); err != nil {
		return nil, err
	}
	if err := c.validate(); err != nil {
		return nil, err
	}
	return &c, nil
}

func (c *Config) validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if c.APIVersion != ConfigAPIVersion || c.Kind != ConfigKind {
		bad("apiVersion/kind: %q/%q, want %s/%s", c.APIVersion, c.Kind, ConfigAPIVersion, ConfigKind)
	}
	sources := map[string]bool{}
	for i, s := range c.Sources {
		field := fmt.Sprintf("sources[%d]", i)
		switch {
		case s.Name == "":
			bad("%s.name: required", field)
		case sources[s.Name]:
			bad("%s.name: %q is used twice", field, s.Name)
		}
		sources[s.Name] = true
		if s.URL == "" {
			bad("%s.url: required", field)
		}
		if s.Interval.Duration < 0 {
			bad("%s.interval: %s is negative", field, s.Interval.Duration)
		}
	}
	if len(c.Syncs) == 0 {
		bad("syncs: at least one sync is required")
	}
	syncs := map[string]SyncConfig{}
	for i, s := range c.Syncs {
		field := fmt.Sprintf("syncs[%d]", i)
		switch {
		case s.Name == "":
			bad("%s.name: required", field)
		case syncs[s.Name].Name != "":
			bad("%s.name: %q is used twice", field, s.Name)
		}
		syncs[s.Name] = s
		if !sources[s.Source] {
			bad("%s.source: %q is not one of the sources", field, s.Source)
		}
		if s.Timeout.Duration < 0 {
			bad("%s.timeout: %s is negative", field, s.Timeout.Duration)
		}
	}
	for i, s := range c.Syncs {
		for _, d := range s.DependsOn {
			if _, ok := syncs[d]; !ok {
				bad("syncs[%d].dependsOn: %q is not one of the syncs", i, d)
			}
		}
	}
	if cycle := c.cycle(); cycle != nil {
		bad("syncs: dependsOn forms a cycle: %s", strings.Join(cycle, " → "))
	}
	for i, m := range c.Remote.Mirrors {
		if err := m.Validate(); err != nil {
			bad("remote.mirrors[%d]: %w", i, err)
		}
	}
	if c.Remote.Timeout.Duration < 0 {
		bad("remote.timeout: %s is negative", c.Remote.Timeout.Duration)
	}
	if c.Webhook != nil && c.Webhook.SecretFile == "" {
		bad("webhook.secretFile: required (the webhooks are off without a secret)")
	}
	if c.Webhook != nil {
		for i, p := range c.Webhook.Providers {
			if !slices.Contains([]string{"github", "gitlab", "gitea", "generic"}, p) {
				bad("webhook.providers[%d]: %q, want github, gitlab, gitea or generic", i, p)
			}
		}
	}
	return errors.Join(errs...)
}

// cycle returns one dependsOn cycle, first sync repeated at the end, or nil.
func (c *Config) cycle() []string {
	deps := map[string][]string{}
	for _, s := range c.Syncs {
		deps[s.Name] = s.DependsOn
	}
	const (
		unseen = iota
		visiting
		done
	)
	state := map[string]int{}
	var path []string
	var visit func(string) []string
	visit = func(n string) []string {
		switch state[n] {
		case visiting:
			i := slices.Index(path, n)
			return append(slices.Clone(path[i:]), n)
		case done:
			return nil
		}
		state[n] = visiting
		path = append(path, n)
		for _, d := range deps[n] {
			if _, ok := deps[d]; ok {
				if cyc := visit(d); cyc != nil {
					return cyc
				}
			}
		}
		path = path[:len(path)-1]
		state[n] = done
		return nil
	}
	for _, s := range c.Syncs {
		if cyc := visit(s.Name); cyc != nil {
			return cyc
		}
	}
	return nil
}

// source returns the source called name.
func (c *Config) source(name string) SourceConfig {
	for _, s := range c.Sources {
		if s.Name == name {
			return s
		}
	}
	return SourceConfig{}
}

// interval is the source's interval or the default.
func (s SourceConfig) interval() time.Duration {
	if s.Interval.Duration > 0 {
		return s.Interval.Duration
	}
	return time.Minute
}

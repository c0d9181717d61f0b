package sync

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/Masterminds/semver/v3"
	"github.com/go-logr/logr"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"

	"github.com/gitsync-io/gitsync/pkg/notify"
	"github.com/gitsync-io/gitsync/pkg/sync/chart"
	"github.com/gitsync-io/gitsync/pkg/sync/render"
	"github.com/gitsync-io/gitsync/pkg/sync/source"
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
	// Cluster names this cluster in notifications and commit status
	// contexts (gitsync/<cluster>/<sync>); default "default".
	Cluster string `json:"cluster,omitempty"`
	// StatusURL, if set, is where notifications link to:
	// <statusURL>/syncs/<namespace>/<name>.
	StatusURL     string               `json:"statusURL,omitempty"`
	Notifications []NotificationConfig `json:"notifications,omitempty"`
}

// NotificationConfig is a receiver of notifications. Credentials come from
// files mounted from a Secret: a chat webhook's URL holds a token, so it
// may come from urlFile.
type NotificationConfig struct {
	Name string `json:"name"`
	// Type is generic, slack, mattermost, discord, teams, feishu,
	// dingtalk, or (a commit status) github, gitlab, gitea.
	Type string `json:"type"`
	// URL is the webhook, or a forge's API base (default: from the
	// source's URL). URLFile holds it instead.
	URL     string `json:"url,omitempty"`
	URLFile string `json:"urlFile,omitempty"`
	// TokenFile holds a forge's API token.
	TokenFile string `json:"tokenFile,omitempty"`
	// SecretFile holds the HMAC key of a generic webhook, or the signing
	// secret of a Feishu or DingTalk bot.
	SecretFile string `json:"secretFile,omitempty"`
	// Events are what it hears (progressing, ready, applied, recovered,
	// pruned, failed, stalled, degraded); the default depends on the type.
	Events []string `json:"events,omitempty"`
	// Syncs limits it to these syncs; default all.
	Syncs []string `json:"syncs,omitempty"`
	// PruneThreshold: pruned is sent only when more objects were deleted.
	PruneThreshold int `json:"pruneThreshold,omitempty"`
	// PerMinute caps its requests; default 30.
	PerMinute int `json:"perMinute,omitempty"`
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
	// Files: false refuses http(s) resource files, so that everything a sync
	// applies comes from its repository (render.Remote.NoFiles): the lockdown
	// of a gitsync that teams share. On by default.
	Files *bool `json:"files,omitempty"`
}

// SourceConfig is one repository and ref.
type SourceConfig struct {
	Name string    `json:"name"`
	URL  string    `json:"url"`
	Ref  RefConfig `json:"ref,omitempty"`
	// Interval between checks of the remote; default 1m.
	Interval metav1.Duration `json:"interval,omitempty"`
	Auth     AuthConfig      `json:"auth,omitempty"`
	// Verify, if set, applies only revisions signed by a trusted key.
	Verify *VerifyConfig `json:"verify,omitempty"`
}

// RefConfig is what to follow: a string (a branch, tag, full reference
// name or commit SHA, as --ref takes), or one of branch, tag, semver and
// commit, as Flux's GitRepository has it:
//
//	ref: main
//	ref: {tag: v1.2.3}
//	ref: {semver: ">=1.2.0 <2"}
type RefConfig struct {
	Name   string `json:"-"`
	Branch string `json:"branch,omitempty"`
	Tag    string `json:"tag,omitempty"`
	// SemVer follows the tag of the highest version in the range.
	SemVer string `json:"semver,omitempty"`
	Commit string `json:"commit,omitempty"`
}

// UnmarshalJSON takes a string or an object.
func (r *RefConfig) UnmarshalJSON(data []byte) error {
	*r = RefConfig{}
	type plain RefConfig // without this method
	return stringOrObject(data, &r.Name, (*plain)(r), "ref", "a string, or one of branch, tag, semver, commit")
}

// stringOrObject decodes data into str if it is a JSON string, else into
// obj, strictly; an error names field and says what it wants.
func stringOrObject(data []byte, str *string, obj any, field, want string) error {
	if len(data) > 0 && data[0] == '"' {
		return json.Unmarshal(data, str)
	}
	strict, err := kjson.UnmarshalStrict(data, obj, kjson.DisallowDuplicateFields, kjson.DisallowUnknownFields)
	if err == nil {
		err = errors.Join(strict...)
	}
	if err != nil {
		return fmt.Errorf("%s: %w (want %s)", field, err, want)
	}
	return nil
}

// MarshalJSON writes the string form back as a string.
func (r RefConfig) MarshalJSON() ([]byte, error) {
	if r.Name != "" {
		return json.Marshal(r.Name)
	}
	type plain RefConfig
	return json.Marshal(plain(r))
}

// options is the ref as the source package takes it.
func (r RefConfig) options() (ref, semver string) {
	switch {
	case r.Branch != "":
		return "refs/heads/" + r.Branch, ""
	case r.Tag != "":
		return "refs/tags/" + r.Tag, ""
	case r.Commit != "":
		return r.Commit, ""
	}
	return r.Name, r.SemVer
}

func (r RefConfig) validate() error {
	set := 0
	for _, f := range []string{r.Name, r.Branch, r.Tag, r.SemVer, r.Commit} {
		if f != "" {
			set++
		}
	}
	if set > 1 {
		return errors.New("give one of branch, tag, semver and commit")
	}
	if r.SemVer != "" {
		if _, err := semver.NewConstraint(r.SemVer); err != nil {
			return fmt.Errorf("semver %q: %w", r.SemVer, err)
		}
	}
	return nil
}

// VerifyConfig turns on signature verification for a source.
type VerifyConfig struct {
	// Mode is head (the commit the ref points to must be signed) or tag
	// (the annotated tag must be; for a tag or semver ref). Default head.
	Mode string `json:"mode,omitempty"`
	// Keys is a file or directory (a mounted Secret) of trusted keys:
	// armored OpenPGP public keys and SSH allowed_signers files.
	Keys string `json:"keys"`
}

// options is Verify as the source package takes it, nil if off.
func (v *VerifyConfig) options() *source.Verify {
	if v == nil {
		return nil
	}
	mode := source.VerifyMode(v.Mode)
	if mode == "" {
		mode = source.VerifyHead
	}
	return &source.Verify{Mode: mode, Keys: []string{v.Keys}}
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
	// Decryption decrypts the SOPS files of the sync's path.
	Decryption *DecryptionConfig `json:"decryption,omitempty"`
	// ServiceAccountName is the ServiceAccount, in gitsync's namespace,
	// that the sync applies, prunes and reads health as.
	ServiceAccountName string `json:"serviceAccountName,omitempty"`
	// Helm renders a Helm chart: alone without a path, else as the first
	// resource of the kustomization at path (which can patch it).
	Helm *HelmConfig `json:"helm,omitempty"`
}

// HelmConfig is a sync's chart, as `helm template` takes it.
type HelmConfig struct {
	Chart ChartConfig `json:"chart"`
	// ReleaseName defaults to the chart's name; Namespace to the sync's.
	ReleaseName string `json:"releaseName,omitempty"`
	Namespace   string `json:"namespace,omitempty"`
	// Values are files of the repository, merged in order.
	Values []string `json:"values,omitempty"`
	// Set overrides values by key (a.b[0].c), after the files: strings as
	// written, numbers and booleans typed.
	Set map[string]any `json:"set,omitempty"`
	// IncludeCRDs applies the chart's crds/ too; default true.
	IncludeCRDs *bool `json:"includeCRDs,omitempty"`
}

// ChartConfig is where a chart comes from: a directory of the repository
// (the string form), an archive URL, or a chart repository or registry.
type ChartConfig struct {
	Path    string `json:"-"`
	URL     string `json:"url,omitempty"`
	Repo    string `json:"repo,omitempty"`
	Name    string `json:"name,omitempty"`
	Version string `json:"version,omitempty"`
	// PlainHTTP reaches an oci:// registry over http.
	PlainHTTP bool `json:"plainHTTP,omitempty"`
	// Username and PasswordFile authenticate to the repository.
	Username     string `json:"username,omitempty"`
	PasswordFile string `json:"passwordFile,omitempty"`
}

// UnmarshalJSON takes a string (a directory) or an object.
func (c *ChartConfig) UnmarshalJSON(data []byte) error {
	*c = ChartConfig{}
	type plain ChartConfig // without this method
	return stringOrObject(data, &c.Path, (*plain)(c), "chart", "a directory of the repository, or url, or repo with name and version")
}

// MarshalJSON writes the string form back as a string.
func (c ChartConfig) MarshalJSON() ([]byte, error) {
	if c.Path != "" {
		return json.Marshal(c.Path)
	}
	type plain ChartConfig
	return json.Marshal(plain(c))
}

// spec is h as package chart takes it, without the password (read when the
// syncs are made).
func (h *HelmConfig) spec() (*chart.Spec, error) {
	s := &chart.Spec{
		Path: h.Chart.Path, URL: h.Chart.URL, Repo: h.Chart.Repo, Name: h.Chart.Name, Version: h.Chart.Version,
		PlainHTTP: h.Chart.PlainHTTP, ReleaseName: h.ReleaseName, Namespace: h.Namespace, ValuesFiles: h.Values,
		IncludeCRDs: h.IncludeCRDs == nil || *h.IncludeCRDs,
	}
	for _, k := range slices.Sorted(maps.Keys(h.Set)) {
		switch v := h.Set[k].(type) {
		case string:
			s.SetLiteral = append(s.SetLiteral, k+"="+v)
		case nil:
			s.Set = append(s.Set, k+"=null") // removes the chart's default, as --set does
		case bool, float64, int64:
			s.Set = append(s.Set, fmt.Sprintf("%s=%v", k, v))
		default:
			return nil, fmt.Errorf("set.%s: set takes strings, numbers and booleans; put lists and maps in a values file", k)
		}
	}
	return s, s.Validate()
}

// DecryptionConfig is where a sync's age keys come from, as Flux's
// Kustomization has it: a Secret in gitsync's namespace whose keys ending
// in .agekey hold age identities, or files (a mounted Secret).
type DecryptionConfig struct {
	// Provider is sops, the only one.
	Provider  string     `json:"provider"`
	SecretRef *SecretRef `json:"secretRef,omitempty"`
	KeyFiles  []string   `json:"keyFiles,omitempty"`
}

// SecretRef names a Secret in gitsync's namespace.
type SecretRef struct {
	Name string `json:"name"`
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
		if err := s.Ref.validate(); err != nil {
			bad("%s.ref: %w", field, err)
		}
		if v := s.Verify; v != nil {
			if v.Keys == "" {
				bad("%s.verify.keys: required (a file or directory of trusted OpenPGP and SSH keys)", field)
			}
			if v.Mode != "" && v.Mode != string(source.VerifyHead) && v.Mode != string(source.VerifyTag) {
				bad("%s.verify.mode: %q, want head or tag", field, v.Mode)
			}
			if v.Mode == string(source.VerifyTag) && s.Ref.Tag == "" && s.Ref.SemVer == "" {
				bad("%s.verify.mode: tag needs ref: {tag: NAME} or ref: {semver: RANGE}", field)
			}
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
		if err := CheckServiceAccountName(s.ServiceAccountName); err != nil {
			bad("%s.serviceAccountName: %w", field, err)
		}
		if s.Helm != nil {
			if _, err := s.Helm.spec(); err != nil {
				bad("%s.helm: %w", field, err)
			}
		}
		if d := s.Decryption; d != nil {
			if d.Provider != "sops" {
				bad("%s.decryption.provider: %q, want sops", field, d.Provider)
			}
			if (d.SecretRef == nil || d.SecretRef.Name == "") && len(d.KeyFiles) == 0 {
				bad("%s.decryption: give secretRef: {name: SECRET} (keys ending in .agekey) or keyFiles", field)
			}
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
	errs = append(errs, validateNotifications(c.Notifications, func(name string) bool { _, ok := syncs[name]; return ok })...)
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

// validateNotifications checks the receivers; isSync tells the names of
// the syncs they may name.
func validateNotifications(receivers []NotificationConfig, isSync func(string) bool) []error {
	var errs []error
	for i, n := range receivers {
		field := fmt.Sprintf("notifications[%d]", i)
		if n.URL != "" && n.URLFile != "" {
			errs = append(errs, fmt.Errorf("%s: give url or urlFile, not both", field))
		}
		for _, name := range n.Syncs {
			if !isSync(name) {
				errs = append(errs, fmt.Errorf("%s.syncs: %q is not one of the syncs", field, name))
			}
		}
		// The files are read when gitsync starts; stand-ins check the rest.
		if err := n.receiver("https://url.from.file.invalid/", "token", "secret").Validate(); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", field, err))
		}
	}
	return errs
}

// NotificationsFile is the file of --notifications: the notification
// settings of a config file, for gitsync sync and run --repo.
type NotificationsFile struct {
	Cluster       string               `json:"cluster,omitempty"`
	StatusURL     string               `json:"statusURL,omitempty"`
	Notifications []NotificationConfig `json:"notifications"`
}

// LoadNotifications reads a --notifications file strictly; every error
// names the file and the field.
func LoadNotifications(path, syncName string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	j, err := yaml.YAMLToJSONStrict(data)
	if err != nil {
		return nil, fmt.Errorf("%s: invalid YAML: %w", path, err)
	}
	var n NotificationsFile
	strict, err := kjson.UnmarshalStrict(j, &n, kjson.DisallowDuplicateFields, kjson.DisallowUnknownFields)
	if err == nil {
		err = errors.Join(strict...)
	}
	if err == nil {
		err = errors.Join(validateNotifications(n.Notifications, func(name string) bool { return name == syncName })...)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &Config{Cluster: n.Cluster, StatusURL: n.StatusURL, Notifications: n.Notifications}, nil
}

// receiver is n as package notify takes it, with the credentials given.
func (n NotificationConfig) receiver(url, token, secret string) notify.Receiver {
	r := notify.Receiver{Name: n.Name, Type: notify.Type(n.Type), URL: n.URL, Syncs: n.Syncs, PruneThreshold: n.PruneThreshold, PerMinute: n.PerMinute}
	for _, e := range n.Events {
		r.Events = append(r.Events, notify.Kind(e))
	}
	if n.URLFile != "" {
		r.URL = url
	}
	if n.TokenFile != "" {
		r.Token = token
	}
	if n.SecretFile != "" {
		r.Secret = secret
	}
	return r
}

// Notifier reads the receivers' credentials from their files and starts
// delivering; nil if there are no receivers.
func (c *Config) Notifier(log logr.Logger) (*notify.Notifier, error) {
	if len(c.Notifications) == 0 {
		return nil, nil
	}
	var receivers []notify.Receiver
	for i, n := range c.Notifications {
		var creds [3]string
		for j, f := range []struct{ field, path string }{{"urlFile", n.URLFile}, {"tokenFile", n.TokenFile}, {"secretFile", n.SecretFile}} {
			v, err := readSecretFile(f.field, f.path)
			if err != nil {
				return nil, fmt.Errorf("notifications[%d] (%s).%w", i, n.Name, err)
			}
			creds[j] = v
		}
		receivers = append(receivers, n.receiver(creds[0], creds[1], creds[2]))
	}
	return notify.New(receivers, notify.Options{Cluster: c.Cluster, StatusURL: c.StatusURL, Log: log})
}

package sync

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"path/filepath"
	"time"

	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/tools/events"

	"github.com/gitsync-io/gitsync/pkg/notify"
	"github.com/gitsync-io/gitsync/pkg/sync/apply"
	"github.com/gitsync-io/gitsync/pkg/sync/chart"
	"github.com/gitsync-io/gitsync/pkg/sync/render"
	"github.com/gitsync-io/gitsync/pkg/sync/source"
)

// Options describe one sync: which repository, ref and path to keep applied
// to the cluster, and how.
type Options struct {
	// Name identifies the sync; with Namespace it names the inventory and the
	// label on every applied object.
	Name string
	// Namespace holds the sync's inventory and status.
	Namespace string
	// TargetNamespace is given to namespaced objects rendered without a
	// namespace. Empty makes such objects an error.
	TargetNamespace string
	// Source is the repository and ref; Source.CacheDir defaults to the
	// user's cache directory.
	Source source.Options
	// Path is the directory to render, relative to the repository root.
	Path string
	// Helm, if set, renders a Helm chart: alone when Path is empty, else as
	// the first resource of the kustomization at Path (which can then patch
	// it, as Flux's post-renderers do) or before a plain directory's objects.
	// Its namespace defaults to TargetNamespace.
	Helm *chart.Spec
	// Remote fetches the http(s) resource files kustomizations list, through
	// its mirrors; Remote.CacheDir defaults to <Source.CacheDir>/remote.
	Remote render.Remote
	// RemoteBases turns on remote git bases: kustomization entries naming a
	// directory of another git repository, fetched like the source, without
	// its credentials, verifying SSH host keys as the source does.
	RemoteBases bool
	// ServiceAccountName, if set, is the ServiceAccount of Namespace the
	// sync acts as: its applies, prunes, lists and health reads impersonate
	// system:serviceaccount:<Namespace>:<ServiceAccountName>, so that
	// account's RBAC bounds what the sync can change. The inventory, status
	// and Events stay gitsync's own.
	ServiceAccountName string
	// Prune deletes objects that left git.
	Prune bool
	// AllowEmpty lets a render with no objects prune everything the sync
	// applied before.
	AllowEmpty bool
	// Wait waits until applied objects are healthy, up to Timeout.
	Wait    bool
	Timeout time.Duration
	// DryRun sends every write as a server-side dry run and saves nothing.
	DryRun bool
	// Force takes fields from other server-side appliers and recreates
	// objects whose immutable fields changed.
	Force bool
	// Concurrency bounds parallel requests within an apply stage.
	Concurrency int
	// Progress, if set, hears how far the apply and prune phases are, from
	// any goroutine.
	Progress func(phase Phase, done, total int)

	// SourceName labels the fetch metrics; default the sync's name.
	SourceName string
	// Metrics, if set, records every sync's outcome.
	Metrics *Metrics
	// Events, if set, records what changed as Kubernetes Events on the
	// sync's inventory ConfigMap.
	Events events.EventRecorder
	// Notifier, if set, hears what happened to the sync, once per event
	// and revision (see Status.Notified).
	Notifier *notify.Notifier
	// Decryption, if set, decrypts the SOPS files the render reads with
	// these age keys; without it such a file fails the render.
	Decryption *Decryption
	// Once says the Syncer syncs once or a few times (gitsync sync, diff):
	// its renders are not kept in memory for the next interval, which saves
	// copying each one.
	Once bool
}

// DefaultOptions returns the defaults of the command line.
func DefaultOptions() Options {
	return Options{Name: "default", Namespace: "default", Prune: true, Wait: true, Timeout: 5 * time.Minute, Concurrency: 32}
}

// CheckServiceAccountName returns an error, starting with the name quoted,
// if name cannot be a ServiceAccount's; "" is fine (none).
func CheckServiceAccountName(name string) error {
	if errs := validation.IsDNS1123Subdomain(name); name != "" && len(errs) > 0 {
		return fmt.Errorf("%q: %s", name, errs[0])
	}
	return nil
}

// user is whom the sync's requests act as: its ServiceAccount, or "" for
// gitsync's own identity.
func (o Options) user() string {
	if o.ServiceAccountName == "" {
		return ""
	}
	return "system:serviceaccount:" + o.Namespace + ":" + o.ServiceAccountName
}

// label is the value of gitsync.io/sync on this sync's objects.
func (o Options) label() string { return apply.SyncLabel(o.Namespace, o.Name) }

// validate checks what the library needs; each error names the option.
func (o *Options) validate() error {
	if errs := validation.IsDNS1123Label(o.Name); len(errs) > 0 {
		return fmt.Errorf("--name %q: %s", o.Name, errs[0])
	}
	if errs := validation.IsDNS1123Label(o.Namespace); len(errs) > 0 {
		return fmt.Errorf("--namespace %q: %s", o.Namespace, errs[0])
	}
	if errs := validation.IsValidLabelValue(o.label()); len(errs) > 0 {
		return fmt.Errorf("--name %q with --namespace %q: together they must fit a label value: %s", o.Name, o.Namespace, errs[0])
	}
	if err := CheckServiceAccountName(o.ServiceAccountName); err != nil {
		return fmt.Errorf("--service-account %w", err)
	}
	if o.Helm != nil {
		if err := o.Helm.Validate(); err != nil {
			return fmt.Errorf("helm: %w", err)
		}
	}
	if o.Wait && o.Timeout <= 0 {
		return fmt.Errorf("--timeout %s: must be positive", o.Timeout)
	}
	if o.Source.CacheDir == "" {
		dir, err := source.DefaultCacheDir()
		if err != nil {
			return fmt.Errorf("--cache-dir: not set and %w", err)
		}
		o.Source.CacheDir = dir
	}
	if o.Remote.CacheDir == "" {
		o.Remote.CacheDir = filepath.Join(o.Source.CacheDir, "remote")
	}
	if o.Concurrency < 1 {
		o.Concurrency = DefaultOptions().Concurrency
	}
	if o.SourceName == "" {
		o.SourceName = o.Name
	}
	return nil
}

// renderOptions are the renderer's: its fetches, and its cache on disk in
// <Source.CacheDir>/renders/<digest of the repository and ref>, beside the
// snapshots.
func (o Options) renderOptions() render.Options {
	key := o.Source.URL + "\x00" + o.Source.Ref
	if o.Source.SemVer != "" {
		key += "\x00semver " + o.Source.SemVer
	}
	sum := sha256.Sum256([]byte(key))
	// Shared: a sync only reads what it renders (its applier copies the metadata it stamps).
	// Lazy: a process that syncs once decodes only what it must (apply.PlanKnown).
	// WriteBehind: a sync's run waits for its render to be kept by its end (Result.Kept), and
	// writing it (10,000 objects: 4.4 MB and an fsync, 60 ms) overlaps the apply. Before the
	// render was lazy, the write overlapped a LIST that decoded every object and raised the
	// peak of 10,000 objects by 40 MiB; a process that synced once wrote first.
	return render.Options{Remote: o.remote(), CacheDir: filepath.Join(o.Source.CacheDir, "renders", hex.EncodeToString(sum[:12])),
		Once: o.Once, Lazy: o.Once, Shared: true, WriteBehind: true}
}

// charts returns the renderer of the sync's chart, fetching into
// <Source.CacheDir>/charts through the mirrors of remote files; nil without
// a chart.
func (o Options) charts() *chart.Renderer {
	if o.Helm == nil {
		return nil
	}
	return chart.New(&chart.Fetcher{CacheDir: filepath.Join(o.Source.CacheDir, "charts"), Mirrors: o.Remote.Mirrors, Timeout: o.Remote.Timeout})
}

// remote is how the render fetches: Options.Remote, and remote bases when
// they are on, into <Source.CacheDir>/bases.
func (o Options) remote() *render.Remote {
	r := o.Remote
	if o.RemoteBases {
		r.Git = RemoteBases(filepath.Join(o.Source.CacheDir, "bases"), o.Source.Auth)
	}
	return &r
}

// RemoteBases fetches remote kustomize bases into snapshots under cacheDir.
// Of auth it keeps only how SSH host keys are verified: the source's
// credentials are never sent to another repository.
func RemoteBases(cacheDir string, auth source.Auth) render.GitFetcher {
	auth = source.Auth{KnownHostsFile: auth.KnownHostsFile, AcceptNewHostKeys: auth.AcceptNewHostKeys}
	return func(ctx context.Context, url, ref string) (string, string, error) {
		return source.Snapshot(ctx, url, ref, cacheDir, auth)
	}
}

// Decryption is where a sync's age keys come from. Both are read again at
// each run, so a rotated key takes effect without a restart.
type Decryption struct {
	// KeyFiles are age identity files, as age-keygen writes them.
	KeyFiles []string
	// SecretRef names a Secret in the sync's Namespace (gitsync's own)
	// whose keys ending in .agekey hold age identities, as Flux has it.
	SecretRef string
}

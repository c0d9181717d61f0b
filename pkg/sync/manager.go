package sync

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	gosync "sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/events"

	"github.com/gitsync-io/gitsync/pkg/sync/inventory"
	"github.com/gitsync-io/gitsync/pkg/sync/render"
	"github.com/gitsync-io/gitsync/pkg/sync/source"
)

// Managed is one sync a Manager runs: its options, how often to check the
// source, and the syncs it waits for.
type Managed struct {
	Options   Options
	Interval  time.Duration
	DependsOn []string
}

// ManagerOptions apply to every sync of a Manager.
type ManagerOptions struct {
	// Metrics, if set, records every sync.
	Metrics *Metrics
}

// Manager runs several syncs concurrently, each in its own Loop. A sync
// waits while a sync it depends on is not Ready; the running instance also
// follows gitsync suspend/resume and sync-now requests, which it watches on
// the inventory ConfigMaps of its namespaces.
type Manager struct {
	syncs      []*managed
	byName     map[string]*managed
	client     kubernetes.Interface
	broadcast  events.EventBroadcasterAdapter
	namespaces []string
	ready      atomic.Bool
}

// managed is one sync and what its dependents need to know of it.
type managed struct {
	Managed
	loop       *Loop
	deps       []*managed
	dependents []*managed

	mu    gosync.Mutex
	ready bool   // the last sync succeeded
	why   string // else why not
}

// NewManager prepares the syncs; Start runs them.
func NewManager(cfg *rest.Config, syncs []Managed, opts ManagerOptions) (*Manager, error) {
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	m := &Manager{byName: map[string]*managed{}, client: cs, broadcast: events.NewEventBroadcasterAdapter(cs)}
	recorder := m.broadcast.NewRecorder("gitsync")
	namespaces := map[string]bool{}
	for _, s := range syncs {
		s.Options.Metrics, s.Options.Events = opts.Metrics, recorder
		syncer, err := New(cfg, s.Options)
		if err != nil {
			return nil, fmt.Errorf("sync %s: %w", s.Options.Name, err)
		}
		ms := &managed{Managed: s, why: "it has not synced yet"}
		ms.loop = NewLoop(syncer, s.Interval)
		m.syncs = append(m.syncs, ms)
		m.byName[s.Options.Name] = ms
		if !namespaces[s.Options.Namespace] {
			namespaces[s.Options.Namespace] = true
			m.namespaces = append(m.namespaces, s.Options.Namespace)
		}
	}
	for _, ms := range m.syncs {
		for _, d := range ms.DependsOn {
			dep, ok := m.byName[d]
			if !ok {
				return nil, fmt.Errorf("sync %s depends on %q, which is not a sync", ms.Options.Name, d)
			}
			ms.deps = append(ms.deps, dep)
			dep.dependents = append(dep.dependents, ms)
		}
		ms.loop.Gate = ms.waitingFor
		ms.loop.OnResult = ms.finished
	}
	return m, nil
}

// waitingFor says which dependency is not Ready, and why; "" if none.
func (ms *managed) waitingFor() string {
	var waits []string
	for _, d := range ms.deps {
		d.mu.Lock()
		if !d.ready {
			waits = append(waits, fmt.Sprintf("dependency %s is not ready: %s", d.Options.Name, d.why))
		}
		d.mu.Unlock()
	}
	return strings.Join(waits, "; ")
}

// finished records a sync's outcome and wakes its dependents when it is Ready.
func (ms *managed) finished(r *Result, err error) {
	if r.Suspended {
		return // a suspended sync keeps the readiness it had
	}
	ms.mu.Lock()
	ms.ready, ms.why = err == nil, ""
	if err != nil {
		ms.why = "its last sync failed: " + firstLine(err)
	}
	ms.mu.Unlock()
	if err == nil {
		for _, d := range ms.dependents {
			d.loop.wake()
		}
	}
}

// Start runs every sync until ctx ends, then returns nil.
func (m *Manager) Start(ctx context.Context) error {
	m.broadcast.StartRecordingToSink(ctx.Done())
	defer m.broadcast.Shutdown()
	if err := m.watchRequests(ctx); err != nil {
		if ctx.Err() != nil {
			return nil // stopped while starting
		}
		return err
	}
	m.ready.Store(true)
	defer m.ready.Store(false)
	var wg gosync.WaitGroup
	for _, ms := range m.syncs {
		wg.Go(func() { _ = ms.loop.Start(ctx) })
	}
	wg.Wait()
	return nil
}

// Ready reports whether the syncs run and the request watch has synced.
func (m *Manager) Ready() bool { return m.ready.Load() }

// Trigger asks the sync called name to run now, even on a revision that
// stalled it (see Loop.Trigger); false if there is none.
func (m *Manager) Trigger(name string) bool {
	ms, ok := m.byName[name]
	if ok {
		ms.loop.Trigger()
	}
	return ok
}

// TriggerRepository asks every sync whose source match accepts (by URL and
// ref) to fetch now, as Trigger does, and returns how many it asked.
func (m *Manager) TriggerRepository(match func(url, ref string) bool) int {
	n := 0
	for _, ms := range m.syncs {
		if match(ms.Options.Source.URL, ms.Options.Source.Ref) {
			ms.loop.Trigger()
			n++
		}
	}
	return n
}

// RequestRepository is TriggerRepository for a replica that does not lead:
// it records a sync-now request on each matching sync's ConfigMap, which the
// leader watches. It returns how many it asked.
func (m *Manager) RequestRepository(ctx context.Context, match func(url, ref string) bool) (int, error) {
	n := 0
	var errs []error
	for _, ms := range m.syncs {
		if match(ms.Options.Source.URL, ms.Options.Source.Ref) {
			errs = append(errs, ms.loop.syncer.RequestSync(ctx))
			n++
		}
	}
	return n, errors.Join(errs...)
}

// watchRequests follows the inventory ConfigMaps: a changed sync-now request
// (gitsync sync --now, a push passed on by a standby) or suspend annotation
// triggers that sync, stalled or not.
func (m *Manager) watchRequests(ctx context.Context) error {
	var synced []cache.InformerSynced
	for _, ns := range m.namespaces {
		factory := informers.NewSharedInformerFactoryWithOptions(m.client, 0, informers.WithNamespace(ns),
			informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = inventory.LabelInventory }))
		inf := factory.Core().V1().ConfigMaps().Informer()
		if _, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{UpdateFunc: m.requested}); err != nil {
			return err
		}
		factory.Start(ctx.Done())
		synced = append(synced, inf.HasSynced)
	}
	if !cache.WaitForCacheSync(ctx.Done(), synced...) {
		return ctx.Err()
	}
	return nil
}

func (m *Manager) requested(oldObj, newObj any) {
	before, ok1 := oldObj.(*corev1.ConfigMap)
	after, ok2 := newObj.(*corev1.ConfigMap)
	if !ok1 || !ok2 {
		return
	}
	for _, key := range []string{inventory.AnnotationRequestedAt, inventory.AnnotationSuspend} {
		if before.Annotations[key] != after.Annotations[key] {
			m.Trigger(after.Labels[inventory.LabelInventory])
			return
		}
	}
}

// Managed returns the syncs of the config file, for namespace (their
// inventories) with git snapshots in cacheDir. Credentials are read from the
// files the config names, now.
func (c *Config) Managed(namespace, cacheDir string) ([]Managed, error) {
	var out []Managed
	for i, s := range c.Syncs {
		src := c.source(s.Source)
		auth, err := src.Auth.read()
		if err != nil {
			return nil, fmt.Errorf("sources[%s].auth: %w", src.Name, err)
		}
		opts := DefaultOptions()
		opts.Name, opts.Namespace, opts.TargetNamespace, opts.Path = s.Name, namespace, s.Namespace, s.Path
		opts.Source = source.Options{URL: src.URL, Ref: src.Ref, CacheDir: cacheDir, Auth: auth}
		opts.SourceName = src.Name
		if s.Prune != nil {
			opts.Prune = *s.Prune
		}
		if s.Wait != nil {
			opts.Wait = *s.Wait
		}
		if s.Timeout.Duration > 0 {
			opts.Timeout = s.Timeout.Duration
		}
		opts.Force, opts.AllowEmpty = s.Force, s.AllowEmpty
		opts.Remote = render.Remote{Mirrors: c.Remote.Mirrors, Timeout: c.Remote.Timeout.Duration}
		opts.RemoteBases = c.Remote.GitBases
		if err := opts.validate(); err != nil {
			return nil, fmt.Errorf("syncs[%d]: %w", i, err)
		}
		out = append(out, Managed{Options: opts, Interval: src.interval(), DependsOn: s.DependsOn})
	}
	return out, nil
}

// read loads the credentials from their files.
func (a AuthConfig) read() (source.Auth, error) {
	auth := source.Auth{
		Username: a.Username, SSHKeyFile: a.SSHKeyFile, SSHAgent: a.SSHAgent,
		KnownHostsFile: a.KnownHostsFile, AcceptNewHostKeys: a.SSHAcceptNew,
	}
	var err error
	if auth.Password, err = readSecretFile("passwordFile", a.PasswordFile); err != nil {
		return auth, err
	}
	auth.SSHKeyPassphrase, err = readSecretFile("sshKeyPassphraseFile", a.SSHKeyPassphraseFile)
	return auth, err
}

func readSecretFile(field, path string) (string, error) {
	if path == "" {
		return "", nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("%s: %w", field, err)
	}
	return strings.TrimRight(string(data), "\r\n"), nil
}

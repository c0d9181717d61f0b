package sync

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
	gosync "sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/events"

	"github.com/gitsync-io/gitsync/pkg/notify"
	"github.com/gitsync-io/gitsync/pkg/sync/apply"
	"github.com/gitsync-io/gitsync/pkg/sync/chart"
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
	// Concurrency is how many syncs fetch, render, apply and prune at once
	// (waiting for health does not count); 0 means DefaultConcurrency.
	Concurrency int
	// Notifier, if set, hears what happens to every sync.
	Notifier *notify.Notifier

	// Elsewhere names the syncs other Managers run (the other shards): a
	// sync may depend on them, and reads their status from the cluster.
	Elsewhere map[string]bool

	// Others are the syncs of the other static shards (gitsync run
	// --shard-index), which count as Elsewhere. A push this Manager receives
	// for a source one of them follows is passed on through PushesConfigMap
	// (it needs Namespace) in one write, which this Manager acts on too:
	// one webhook then reaches every shard.
	Others []Managed

	// Namespace is the replicas' own (that of their Lease): pushes for syncs
	// another replica runs are passed on through its ConfigMap
	// PushesConfigMap, which a running Manager watches. Without it a push
	// reaches only the syncs this replica runs.
	Namespace string

	// shard is the shard of Shards this Manager runs, for the pushes passed
	// on to it; 0 outside Shards.
	shard int

	// cluster, if set, is the Cluster of the Shards that made this Manager:
	// the Managers of every shard a replica runs share its clients and its
	// watch of the live objects, which the Shards starts and stops. A shard
	// taken over then starts with the objects already cached, and a replica
	// that runs three shards holds one copy of them, not three.
	cluster *apply.Cluster

	// changes, if set, hears of changes to the views instead of the
	// Manager's own watchers: those of the Shards that made it.
	changes *watchers
}

// DefaultConcurrency is how many syncs of a Manager work at once by default.
const DefaultConcurrency = 8

// Manager runs several syncs concurrently, each in its own Loop. A sync
// waits while a sync it depends on is not Ready; the running instance also
// follows gitsync suspend/resume and sync-now requests, which it watches on
// the inventory ConfigMaps of its namespaces.
//
// The syncs share what they can (see shared): connections and discovery,
// one fetch per source and interval, one render cache per source, a watch
// of the objects gitsync labels instead of LISTs at every sync, and at most
// Concurrency of them working at a time, in the order they asked.
type Manager struct {
	syncs       []*managed
	byName      map[string]*managed
	remote      map[string][]*managed // dependents of syncs run elsewhere, by the dependency
	shared      *shared
	broadcaster events.EventBroadcaster
	sink        *eventSink
	inventories []inventoryWatch
	ready       atomic.Bool
	watchers    *watchers // of changes to the views
	namespace   string    // ManagerOptions.Namespace
	shard       int
	others      []Managed            // ManagerOptions.Others
	pushes      cache.InformerSynced // of the pushes passed on, once started
}

// inventoryWatch is the informer of one namespace's inventory ConfigMaps.
type inventoryWatch struct {
	factory informers.SharedInformerFactory
	lister  corelisters.ConfigMapLister
	synced  cache.InformerSynced
}

// managed is one sync and what its dependents need to know of it.
type managed struct {
	Managed
	loop       *Loop
	source     *sharedSource
	deps       []*managed
	remoteDeps []remoteDep // run by another shard
	dependents []*managed

	inventories inventory.Cache // of its namespace, where syncs run elsewhere keep their status
	past        *past           // for its view
	watchers    *watchers       // the Manager's

	mu    gosync.Mutex
	ready bool   // the last sync succeeded
	why   string // else why not
}

// remoteDep is a dependency another Manager runs.
type remoteDep struct{ namespace, name string }

// NewManager prepares the syncs; Start runs them.
func NewManager(cfg *rest.Config, syncs []Managed, opts ManagerOptions) (*Manager, error) {
	if opts.Concurrency <= 0 {
		opts.Concurrency = DefaultConcurrency
	}
	sh, err := newShared(cfg, opts.Concurrency, opts.cluster)
	if err != nil {
		return nil, err
	}
	sh.census = &census{cluster: sh.cluster}
	sink := &eventSink{EventSinkImpl: events.EventSinkImpl{Interface: sh.client.EventsV1()}}
	broadcaster := events.NewBroadcaster(sink)
	recorder := broadcaster.NewRecorder(scheme.Scheme, "gitsync")
	m := &Manager{byName: map[string]*managed{}, remote: map[string][]*managed{}, shared: sh, broadcaster: broadcaster, sink: sink,
		watchers: cmp.Or(opts.changes, &watchers{}), namespace: opts.Namespace, shard: opts.shard, others: opts.Others}
	caches := map[string]inventory.Cache{}
	for _, s := range syncs {
		p := &past{}
		s.Options.Metrics, s.Options.Events, s.Options.Notifier = opts.Metrics, eventTee{recorder, p}, opts.Notifier
		if err := s.Options.validate(); err != nil {
			return nil, fmt.Errorf("sync %s: %w", s.Options.Name, terminalError{err})
		}
		key := sourceKey(s.Options)
		if sh.sources[key] == nil {
			src, err := newSource(s.Options.Source)
			if err != nil {
				return nil, fmt.Errorf("sync %s: %w", s.Options.Name, err)
			}
			sh.sources[key] = newSharedSource(src, s.Interval)
			sh.renderers[key] = render.New(s.Options.renderOptions())
		}
		renderer := sh.renderers[key]
		if s.Options.Decryption != nil { // its keys are its own, and so are its renders
			renderer = render.New(s.Options.renderOptions())
		}
		syncer, err := newSyncer(s.Options, sh, sh.sources[key], renderer)
		if err != nil {
			return nil, fmt.Errorf("sync %s: %w", s.Options.Name, err)
		}
		if s.Options.ServiceAccountName == "" { // the census lists with gitsync's rights, not the sync's
			syncer.census = sh.census
			sh.census.pending++
		}
		ns := s.Options.Namespace
		if caches[ns] == nil {
			caches[ns] = m.watchInventories(ns)
		}
		syncer.store.ReadFrom(caches[ns])
		ms := &managed{Managed: s, source: sh.sources[key], why: "it has not synced yet", inventories: caches[ns], past: p, watchers: m.watchers}
		syncer.onApplying = ms.started
		ms.loop = NewLoop(syncer, s.Interval)
		m.syncs = append(m.syncs, ms)
		m.byName[s.Options.Name] = ms
	}
	elsewhere := map[string]bool{} // Others count as Elsewhere
	maps.Copy(elsewhere, opts.Elsewhere)
	for _, o := range opts.Others {
		elsewhere[o.Options.Name] = true
	}
	for _, ms := range m.syncs {
		for _, d := range ms.DependsOn {
			dep, ok := m.byName[d]
			if !ok && elsewhere[d] {
				ms.remoteDeps = append(ms.remoteDeps, remoteDep{namespace: ms.Options.Namespace, name: d})
				m.remote[d] = append(m.remote[d], ms)
				continue
			}
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

// watchInventories prepares the informer of the inventory ConfigMaps of
// namespace: the syncs read their records from it, and it brings suspend
// and sync-now requests. Start starts it.
func (m *Manager) watchInventories(namespace string) inventory.Cache {
	w := newInventoryWatch(m.shared.client, namespace, m.watchers, m.requested)
	m.inventories = append(m.inventories, w)
	return w
}

// newInventoryWatch prepares the informer of the inventory ConfigMaps of
// namespace, telling changes of every change and updated of updates.
func newInventoryWatch(client kubernetes.Interface, namespace string, changes *watchers, updated func(before, after any)) inventoryWatch {
	factory := informers.NewSharedInformerFactoryWithOptions(client, 0, informers.WithNamespace(namespace),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = inventory.LabelInventory }))
	cms := factory.Core().V1().ConfigMaps()
	w := inventoryWatch{factory: factory, lister: cms.Lister(), synced: cms.Informer().HasSynced}
	_ = cms.Informer().SetTransform(dropManagedFields) // fails only once the informer runs
	_, _ = cms.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(any) { changes.notify() },
		UpdateFunc: func(before, after any) {
			if updated != nil {
				updated(before, after)
			}
			changes.notify()
		},
		DeleteFunc: func(any) { changes.notify() },
	})
	return w
}

// dropManagedFields keeps an inventory ConfigMap in the cache without its
// managedFields, which nothing reads: records are written by server-side
// apply and merge patches built afresh.
func dropManagedFields(o any) (any, error) {
	if cm, ok := o.(*corev1.ConfigMap); ok {
		cm.ManagedFields = nil
	}
	return o, nil
}

// Get reads an inventory ConfigMap from the informer's cache.
func (w inventoryWatch) Get(namespace, name string) (*corev1.ConfigMap, bool) {
	cm, err := w.lister.ConfigMaps(namespace).Get(name)
	return cm, err == nil
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
	for _, d := range ms.remoteDeps {
		if why := d.notReady(ms.inventories); why != "" {
			waits = append(waits, fmt.Sprintf("dependency %s is not ready: %s", d.name, why))
		}
	}
	return strings.Join(waits, "; ")
}

// notReady reads the status of a sync another Manager runs from its
// inventory ConfigMap: why it is not Ready, "" if it is.
func (d remoteDep) notReady(inventories inventory.Cache) string {
	cm, ok := inventories.Get(d.namespace, inventory.ConfigMapName(d.name))
	if !ok {
		return "it has not synced yet"
	}
	var st Status
	if err := json.Unmarshal(inventory.StatusOf(cm), &st); err != nil || (!st.Ready && st.Error == "" && st.Waiting == "") {
		return "it has not synced yet"
	}
	switch {
	case st.Ready:
		return ""
	case st.Waiting != "":
		return "it waits: " + st.Waiting
	}
	return "its last sync failed: " + firstLine(errors.New(st.Error))
}

// finished records a sync's outcome and wakes its dependents when it is Ready.
func (ms *managed) finished(r *Result, err error) {
	defer ms.changed()
	if r.Suspended {
		ms.past.stopped()
		return // a suspended sync keeps the readiness it had
	}
	ms.past.remember(r, err)
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

// Start runs every sync until ctx ends, then returns nil once the Events
// of the syncs' last outcomes are written (for a few seconds at most).
func (m *Manager) Start(ctx context.Context) error {
	recording, stopRecording := context.WithCancel(context.WithoutCancel(ctx))
	defer stopRecording()
	if err := m.broadcaster.StartRecordingToSinkWithContext(recording); err != nil {
		return err
	}
	defer m.flushEvents()
	for _, s := range m.shared.sources {
		s.base = ctx
	}
	if !m.shared.clusterShared {
		m.shared.cluster.Watch(ctx)
	}
	if m.namespace != "" {
		m.pushes = watchPushes(ctx, m.shared.client, m.namespace, m.shard, m.pushed)
	}
	if err := m.startWatches(ctx); err != nil {
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

// Observe watches the syncs' inventory ConfigMaps without running the syncs,
// so that the views show what is recorded: a standby replica's status page.
// Start may follow.
func (m *Manager) Observe(ctx context.Context) {
	for _, w := range m.inventories {
		w.factory.Start(ctx.Done())
	}
}

// startWatches starts the inventory informers and waits for their caches.
func (m *Manager) startWatches(ctx context.Context) error {
	var synced []cache.InformerSynced
	for _, w := range m.inventories {
		w.factory.Start(ctx.Done())
		synced = append(synced, w.synced)
	}
	if m.pushes != nil {
		synced = append(synced, m.pushes)
	}
	if !cache.WaitForCacheSync(ctx.Done(), synced...) {
		return ctx.Err()
	}
	return nil
}

// flushEvents waits until no Event is being written and none came for a
// moment, for eventFlush at most: on SIGTERM the last outcomes still reach
// the cluster.
func (m *Manager) flushEvents() {
	m.broadcaster.Shutdown()
	deadline := time.Now().Add(eventFlush)
	for time.Now().Before(deadline) && !m.sink.idle(200*time.Millisecond) {
		time.Sleep(50 * time.Millisecond)
	}
}

const eventFlush = 5 * time.Second

// eventSink is the Events API, noting when it was last busy.
type eventSink struct {
	events.EventSinkImpl
	inFlight atomic.Int64
	last     atomic.Int64 // unix nanoseconds of the last call's end
}

func (s *eventSink) Create(ctx context.Context, e *eventsv1.Event) (*eventsv1.Event, error) {
	defer s.track()()
	return s.EventSinkImpl.Create(ctx, e)
}

func (s *eventSink) Update(ctx context.Context, e *eventsv1.Event) (*eventsv1.Event, error) {
	defer s.track()()
	return s.EventSinkImpl.Update(ctx, e)
}

func (s *eventSink) Patch(ctx context.Context, e *eventsv1.Event, data []byte) (*eventsv1.Event, error) {
	defer s.track()()
	return s.EventSinkImpl.Patch(ctx, e, data)
}

func (s *eventSink) track() func() {
	s.inFlight.Add(1)
	return func() {
		s.last.Store(time.Now().UnixNano())
		s.inFlight.Add(-1)
	}
}

// idle: nothing in flight, nothing finished within quiet.
func (s *eventSink) idle(quiet time.Duration) bool {
	return s.inFlight.Load() == 0 && time.Since(time.Unix(0, s.last.Load())) > quiet
}

// Ready reports whether the syncs run and the request watch has synced.
func (m *Manager) Ready() bool { return m.ready.Load() }

// Trigger asks the sync called name to run now, even on a revision that
// stalled it (see Loop.Trigger), fetching its source afresh; false if there
// is none.
func (m *Manager) Trigger(name string) bool {
	ms, ok := m.byName[name]
	if ok {
		ms.source.Refresh()
		ms.loop.Trigger()
	}
	return ok
}

// TriggerRepository asks every sync whose source match accepts (by URL and
// ref) to fetch now, as Trigger does, and returns how many it asked. Each
// source is fetched once for all of them. If the syncs of other static
// shards follow such a source too (ManagerOptions.Others), it passes the push
// on to every shard in one write instead, its own included; should that
// fail, it triggers its own syncs, and returns the error.
func (m *Manager) TriggerRepository(ctx context.Context, match func(url, ref string) bool) (int, error) {
	if m.namespace != "" && slices.ContainsFunc(m.others, followsMatching(match)) {
		n, err := m.RequestRepository(ctx, match)
		if err == nil {
			return n, nil
		}
		return m.trigger(match), fmt.Errorf("passing the push on to the other shards: %w", err)
	}
	return m.trigger(match), nil
}

// trigger triggers the syncs of this Manager whose source match accepts.
func (m *Manager) trigger(match func(url, ref string) bool) int {
	n := 0
	refreshed := map[*sharedSource]bool{}
	for _, ms := range m.syncs {
		if match(ms.Options.Source.URL, ms.Options.Source.Ref) {
			if !refreshed[ms.source] {
				ms.source.Refresh()
				refreshed[ms.source] = true
			}
			ms.loop.Trigger()
			n++
		}
	}
	return n
}

// RequestRepository is TriggerRepository for a replica that does not lead:
// it passes the push on to the leader in one write, naming each matching
// source (see PushesConfigMap), of its own syncs and of the other static
// shards'. It returns how many syncs it asked.
func (m *Manager) RequestRepository(ctx context.Context, match func(url, ref string) bool) (int, error) {
	var targets []pushTarget
	follows := followsMatching(match)
	add := func(s Managed) {
		if follows(s) {
			targets = append(targets, pushTarget{s.Options.Source.URL, s.Options.Source.Ref, m.shard})
		}
	}
	for _, ms := range m.syncs {
		add(ms.Managed)
	}
	for _, o := range m.others {
		add(o)
	}
	return len(targets), requestPushes(ctx, m.shared.client, m.namespace, targets)
}

// followsMatching reports whether a sync's source is one match accepts.
func followsMatching(match func(url, ref string) bool) func(Managed) bool {
	return func(s Managed) bool { return match(s.Options.Source.URL, s.Options.Source.Ref) }
}

// pushed triggers the syncs of each source a push was passed on for.
func (m *Manager) pushed(requests []pushRequest) {
	for _, r := range requests {
		m.trigger(func(url, ref string) bool { return url == r.URL && ref == r.Ref })
	}
}

// requested triggers a sync whose ConfigMap got a new sync-now request
// (gitsync sync --now, a push passed on by a standby) or suspend annotation,
// stalled or not.
func (m *Manager) requested(oldObj, newObj any) {
	before, ok1 := oldObj.(*corev1.ConfigMap)
	after, ok2 := newObj.(*corev1.ConfigMap)
	if !ok1 || !ok2 {
		return
	}
	if dependents := m.remote[after.Labels[inventory.LabelInventory]]; len(dependents) > 0 && string(inventory.StatusOf(before)) != string(inventory.StatusOf(after)) {
		for _, d := range dependents { // a dependency run elsewhere changed: look again
			d.loop.wake()
		}
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
		opts.Source = source.Options{URL: src.URL, CacheDir: cacheDir, Auth: auth, Verify: src.Verify.options()}
		opts.Source.Ref, opts.Source.SemVer = src.Ref.options()
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
		opts.Force, opts.AllowEmpty, opts.ServiceAccountName = s.Force, s.AllowEmpty, s.ServiceAccountName
		if d := s.Decryption; d != nil {
			opts.Decryption = &Decryption{KeyFiles: d.KeyFiles}
			if d.SecretRef != nil {
				opts.Decryption.SecretRef = d.SecretRef.Name
			}
		}
		if h := s.Helm; h != nil {
			if opts.Helm, err = h.spec(); err != nil {
				return nil, fmt.Errorf("syncs[%d].helm: %w", i, err)
			}
			password, err := readSecretFile("passwordFile", h.Chart.PasswordFile)
			if err != nil {
				return nil, fmt.Errorf("syncs[%d].helm.chart.%w", i, err)
			}
			opts.Helm.Auth = chart.Auth{Username: h.Chart.Username, Password: password}
		}
		opts.Remote = render.Remote{Mirrors: c.Remote.Mirrors, Timeout: c.Remote.Timeout.Duration, NoFiles: c.Remote.Files != nil && !*c.Remote.Files}
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

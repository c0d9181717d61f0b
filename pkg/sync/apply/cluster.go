package apply

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/kubernetes/scheme"
	authorizationv1client "k8s.io/client-go/kubernetes/typed/authorization/v1"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/tools/cache"
	"sigs.k8s.io/cli-utils/pkg/object"

	"github.com/gitsync-io/gitsync/internal/cores"
)

// Cluster is what the appliers of one process share for one cluster: the
// clients, one discovery cache and RESTMapper, and, once Watch was called,
// a cache of the live objects that carry LabelSync. A thousand syncs then
// cost one connection pool, one discovery and one watch per resource type,
// not a thousand of each.
type Cluster struct {
	dynamic   dynamic.Interface
	quiet     dynamic.Interface // drops the server's warnings (deprecated types FindOwned lists)
	metadata  metadata.Interface
	rest      rest.Interface
	discovery discovery.CachedDiscoveryInterface // the mapper's: Reset refreshes both
	mapper    meta.ResettableRESTMapper
	reviews   authorizationv1client.SelfSubjectRulesReviewInterface
	live      *liveCache // nil unless Watch was called
	server    *serverInfo
}

// serverInfo is the API server's version, asked once: Clusters made by
// Impersonating share it.
type serverInfo struct {
	mu      sync.Mutex
	version string // "" until asked
}

// serverVersion returns the API server's git version ("v1.37.2").
func (c *Cluster) serverVersion() (string, error) {
	c.server.mu.Lock()
	defer c.server.mu.Unlock()
	if c.server.version == "" {
		v, err := c.discovery.ServerVersion()
		if err != nil {
			return "", fmt.Errorf("discovery: server version: %w", err)
		}
		c.server.version = v.GitVersion
	}
	return c.server.version, nil
}

// NewCluster connects to the cluster of cfg.
func NewCluster(cfg *rest.Config) (*Cluster, error) {
	c, err := newClients(cfg)
	if err != nil {
		return nil, err
	}
	disc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return nil, err
	}
	cached := memory.NewMemCacheClient(disc)
	c.discovery, c.mapper = cached, restmapper.NewDeferredDiscoveryRESTMapper(cached)
	return c, nil
}

// Impersonating returns a Cluster whose appliers apply, prune, list and read
// as user (a ServiceAccount's "system:serviceaccount:<namespace>:<name>"),
// so the API server's RBAC for that user bounds what they can change. cfg
// must be the configuration c was made from; the caller's own identity
// needs the right to impersonate user. The new Cluster shares c's discovery
// cache and RESTMapper (which resource types exist is no secret) but not its
// live cache, which watches with the caller's rights.
func (c *Cluster) Impersonating(cfg *rest.Config, user string) (*Cluster, error) {
	cfg = rest.CopyConfig(cfg)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: user}
	as, err := newClients(cfg)
	if err != nil {
		return nil, err
	}
	as.discovery, as.mapper, as.server = c.discovery, c.mapper, c.server
	return as, nil
}

// newClients returns a Cluster with the clients of cfg and no discovery.
func newClients(cfg *rest.Config) (*Cluster, error) {
	dc, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	qcfg := rest.CopyConfig(cfg)
	qcfg.WarningHandler = rest.NoWarnings{}
	quiet, err := dynamic.NewForConfig(qcfg)
	if err != nil {
		return nil, err
	}
	mc, err := metadata.NewForConfig(qcfg)
	if err != nil {
		return nil, err
	}
	// Raw requests let apply see the status code (201 created, 200 configured).
	rcfg := rest.CopyConfig(cfg)
	rcfg.NegotiatedSerializer = scheme.Codecs.WithoutConversion()
	rc, err := rest.UnversionedRESTClientFor(rcfg)
	if err != nil {
		return nil, err
	}
	authz, err := authorizationv1client.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	return &Cluster{
		server:   &serverInfo{},
		reviews:  authz.SelfSubjectRulesReviews(),
		dynamic:  dc,
		quiet:    quiet,
		metadata: mc,
		rest:     rc,
	}, nil
}

// Watch makes the appliers of c read live objects from a cache until ctx
// ends, instead of listing them at every sync. The cache of a resource type
// starts once a cluster-wide LIST of it succeeded (so RBAC allows it) and is
// used once it has synced; until then, and for types only some namespaces
// may be listed in, appliers list as before. A no-op sync then makes no
// request at all. Call it before the appliers run.
func (c *Cluster) Watch(ctx context.Context) {
	c.live = &liveCache{ctx: ctx, client: c.dynamic, informers: map[schema.GroupVersionResource]cache.SharedIndexInformer{}}
}

// indexSync indexes the cached objects by the value of LabelSync.
const indexSync = "sync"

// liveCache holds one informer per resource type, each watching the objects
// that carry LabelSync in every namespace.
type liveCache struct {
	ctx       context.Context
	client    dynamic.Interface
	mu        sync.Mutex
	informers map[schema.GroupVersionResource]cache.SharedIndexInformer
}

// syncWait bounds how long an applier waits for a started informer to sync
// before it lists for itself.
const syncWait = 10 * time.Second

// synced returns the informer of gvr once it has synced, nil if there is
// none or it does not sync within syncWait.
func (l *liveCache) synced(ctx context.Context, gvr schema.GroupVersionResource) cache.SharedIndexInformer {
	if l == nil {
		return nil
	}
	l.mu.Lock()
	inf := l.informers[gvr]
	l.mu.Unlock()
	if inf == nil {
		return nil
	}
	if !inf.HasSynced() {
		ctx, cancel := context.WithTimeout(ctx, syncWait)
		defer cancel()
		if !cache.WaitForCacheSync(ctx.Done(), inf.HasSynced) {
			return nil
		}
	}
	return inf
}

// start starts the informer of gvr unless it runs already.
func (l *liveCache) start(gvr schema.GroupVersionResource) {
	if l == nil || l.ctx.Err() != nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.informers[gvr] != nil {
		return
	}
	inf := dynamicinformer.NewFilteredDynamicInformer(l.client, gvr, metav1.NamespaceAll, 0,
		cache.Indexers{indexSync: syncIndex},
		func(o *metav1.ListOptions) { o.LabelSelector = LabelSync }).Informer()
	_ = inf.SetTransform(compactLive) // fails only once the informer runs
	l.informers[gvr] = inf
	go inf.RunWithContext(l.ctx)
}

// liveObject is a live object as the cache keeps it: its JSON (managedFields
// trimmed), plus what the informer's store and index read. Decoded, a small
// ConfigMap takes 2.9 KB of heap; kept so, 0.9 KB. The cache holds every
// object of every sync for as long as gitsync runs, and readers decode the
// few they ask for.
type liveObject struct {
	metav1.ObjectMeta        // name, namespace and resourceVersion only: the store's key
	sync              string // its LabelSync, for the index
	json              []byte
}

func (o *liveObject) GetObjectKind() schema.ObjectKind { return schema.EmptyObjectKind }

// DeepCopyObject returns o itself: a liveObject never changes once made.
func (o *liveObject) DeepCopyObject() runtime.Object { return o }

// decode returns a new copy of the object.
func (o *liveObject) decode() (*unstructured.Unstructured, error) {
	u := &unstructured.Unstructured{}
	return u, o.decodeInto(u)
}

// decodeInto sets u to a new copy of the object.
func (o *liveObject) decodeInto(u *unstructured.Unstructured) error {
	if err := u.UnmarshalJSON(o.json); err != nil {
		return fmt.Errorf("live cache: %s/%s: %w", o.Namespace, o.Name, err)
	}
	return nil
}

// compactLive is the informers' transform: it turns a watched object into a
// liveObject. It leaves anything else as it is (a tombstone, or an object
// it made already).
func compactLive(o any) (any, error) {
	u, ok := o.(*unstructured.Unstructured)
	if !ok {
		return o, nil
	}
	trimManagedFields(u)
	data, err := u.MarshalJSON()
	if err != nil {
		return nil, err
	}
	return &liveObject{
		ObjectMeta: metav1.ObjectMeta{Name: u.GetName(), Namespace: u.GetNamespace(), ResourceVersion: u.GetResourceVersion()},
		sync:       u.GetLabels()[LabelSync],
		json:       data,
	}, nil
}

func syncIndex(obj any) ([]string, error) {
	if o, ok := obj.(*liveObject); ok {
		return []string{o.sync}, nil
	}
	m, err := meta.Accessor(obj)
	if err != nil {
		return nil, err
	}
	return []string{m.GetLabels()[LabelSync]}, nil
}

// labelled returns copies of the cached objects whose LabelSync is value,
// decoded on every core: the decoding is most of a sync's check for drift
// (0.14 s of CPU for 10,000 objects).
func labelled(inf cache.SharedIndexInformer, value string) ([]unstructured.Unstructured, error) {
	objs, err := inf.GetIndexer().ByIndex(indexSync, value)
	if err != nil {
		return nil, err
	}
	out := make([]unstructured.Unstructured, len(objs))
	return out, cores.Each(len(objs), func(i int) error {
		l, ok := objs[i].(*liveObject)
		if !ok {
			return fmt.Errorf("live cache holds a %T", objs[i])
		}
		return l.decodeInto(&out[i])
	})
}

// cached returns a copy of the cached object namespace/name, nil if the
// cache holds none (it carries no LabelSync, or does not exist).
func cached(inf cache.SharedIndexInformer, namespace, name string) *unstructured.Unstructured {
	key := name
	if namespace != "" {
		key = namespace + "/" + name
	}
	o, ok, err := inf.GetIndexer().GetByKey(key)
	if err != nil || !ok {
		return nil
	}
	l, ok := o.(*liveObject)
	if !ok {
		return nil
	}
	u, err := l.decode()
	if err != nil {
		return nil
	}
	return u
}

// Cached returns a copy of the object id as the watch of Watch holds it,
// nil if the watch holds none: it does not exist, carries no sync's label,
// or the watch has not seen it yet. watched is false when no watch of its
// type has synced: the answer then says nothing. It makes no request (the
// RESTMapper's discovery is cached).
func (c *Cluster) Cached(id object.ObjMetadata) (u *unstructured.Unstructured, watched bool) {
	if c.live == nil {
		return nil, false
	}
	m, err := c.mapper.RESTMapping(id.GroupKind)
	if err != nil {
		return nil, false
	}
	c.live.mu.Lock()
	inf := c.live.informers[m.Resource]
	c.live.mu.Unlock()
	if inf == nil || !inf.HasSynced() {
		return nil, false
	}
	return cached(inf, id.Namespace, id.Name), true
}

// Capabilities returns the API server's version and the API versions it
// serves, as Helm's .Capabilities has them ("group/version" and
// "group/version/Kind", sorted), from the discovery cache. The version is
// asked once (serverVersion).
func (c *Cluster) Capabilities() (version string, apiVersions []string, err error) {
	version, err = c.serverVersion()
	if err != nil {
		return "", nil, err
	}
	groups, resources, err := c.discovery.ServerGroupsAndResources()
	if err != nil && !discovery.IsGroupDiscoveryFailedError(err) {
		return "", nil, fmt.Errorf("discovery: %w", err)
	}
	seen := map[string]bool{}
	for _, g := range groups {
		for _, gv := range g.Versions {
			seen[gv.GroupVersion] = true
		}
	}
	for _, l := range resources {
		for _, r := range l.APIResources {
			seen[l.GroupVersion+"/"+r.Kind] = true
		}
	}
	return version, slices.Sorted(maps.Keys(seen)), nil
}

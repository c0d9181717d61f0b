package sync

import (
	"context"
	"strings"
	gosync "sync"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/gitsync-io/gitsync/pkg/sync/apply"
	"github.com/gitsync-io/gitsync/pkg/sync/render"
	"github.com/gitsync-io/gitsync/pkg/sync/source"
)

// fetcher is how a Syncer gets revisions: a *source.Source of its own, or a
// sharedSource it reads with the other syncs of a Manager.
type fetcher interface {
	Fetch(ctx context.Context) (source.Artifact, error)
	ReadFile(art source.Artifact, name string) ([]byte, error)
	Checkout(art source.Artifact) (string, error)
}

// newSource returns the Source of opts for a sync, which renders from the
// snapshot's blobs and checks out a directory only for a Helm chart.
func newSource(opts source.Options) (*source.Source, error) {
	opts.NoCheckout = true
	return source.New(opts)
}

// shared is what the syncs of one Manager hold in common, so that a
// thousand syncs cost about what a few do: one set of clients and one
// discovery cache (apply.Cluster), one fetch per source and interval, one
// renderer (and render cache) per source, a bounded number of syncs working
// at once, and one census of the labelled objects for the inventories to
// recover on a first run. A Syncer made by New shares nothing.
type shared struct {
	config  *rest.Config
	cluster *apply.Cluster
	// clusterShared is set when cluster came from the Shards, which watches
	// it; otherwise the Manager watches it while it runs.
	clusterShared bool
	// as holds the Clusters of the users syncs impersonate, by user name.
	// Only the constructors of Syncers touch it, one after another.
	as     map[string]*apply.Cluster
	client kubernetes.Interface
	// workers holds a token for each sync between its fetch and its health
	// wait; waiting goroutines get tokens in the order they asked.
	workers   chan struct{}
	sources   map[string]*sharedSource
	renderers map[string]*render.Renderer
	census    *census
}

// withClientRates turns off client-go's client-side rate limit (5 requests
// per second, burst 10) unless cfg sets its own, as kubectl does: the API
// server's priority and fairness is the limit that matters, and what gitsync
// sends is bounded by its requests in flight (apply's Concurrency, times
// the syncs working at once). 200 per second made a prune of 5000 objects
// take 25 s where the API server needed 16.
func withClientRates(cfg *rest.Config) *rest.Config {
	cfg = rest.CopyConfig(cfg)
	if cfg.QPS == 0 && cfg.RateLimiter == nil {
		cfg.QPS = -1
	}
	return cfg
}

// newShared returns what the syncs of one Manager share, with cluster as
// their Cluster if it is set, else with a Cluster of their own.
func newShared(cfg *rest.Config, concurrency int, cluster *apply.Cluster) (*shared, error) {
	cfg = withClientRates(cfg)
	clusterShared := cluster != nil
	if !clusterShared {
		var err error
		if cluster, err = apply.NewCluster(cfg); err != nil {
			return nil, err
		}
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	sh := &shared{
		config:        cfg,
		cluster:       cluster,
		clusterShared: clusterShared,
		as:            map[string]*apply.Cluster{},
		client:        cs,
		sources:       map[string]*sharedSource{},
		renderers:     map[string]*render.Renderer{},
	}
	if concurrency > 0 {
		sh.workers = make(chan struct{}, concurrency)
	}
	return sh, nil
}

// clusterFor returns the Cluster a sync's requests go through: gitsync's
// own, or one impersonating the sync's ServiceAccount, shared by the syncs
// that name the same one.
func (sh *shared) clusterFor(o Options) (*apply.Cluster, error) {
	user := o.user()
	if user == "" {
		return sh.cluster, nil
	}
	if c := sh.as[user]; c != nil {
		return c, nil
	}
	c, err := sh.cluster.Impersonating(sh.config, user)
	if err != nil {
		return nil, err
	}
	sh.as[user] = c
	return c, nil
}

// sourceKey tells which syncs read the same repository the same way.
func sourceKey(o Options) string {
	key := o.SourceName + "\x00" + o.Source.URL + "\x00" + o.Source.Ref + "\x00" + o.Source.SemVer + "\x00" + o.Source.CacheDir
	if v := o.Source.Verify; v != nil {
		key += "\x00" + string(v.Mode) + "\x00" + strings.Join(v.Keys, "\x00")
	}
	return key
}

// acquire waits for a worker token; release gives it back.
func (sh *shared) acquire(ctx context.Context) (release func(), err error) {
	if sh == nil || sh.workers == nil {
		return func() {}, nil
	}
	select {
	case sh.workers <- struct{}{}:
		var once gosync.Once
		return func() { once.Do(func() { <-sh.workers }) }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// sharedSource fetches one repository's ref for every sync that reads it. A
// Fetch that comes while another runs waits for it and gets its result; one
// that comes within fresh of the last successful fetch gets that one. Syncs
// polling a source on its interval therefore cost one fetch per interval
// between them. Refresh makes the next Fetch go to the remote (a webhook, a
// sync --now: someone knows there is something new).
type sharedSource struct {
	src   *source.Source
	fresh time.Duration

	mu      gosync.Mutex
	base    context.Context // the Manager's: a fetch outlives the sync that started it
	gen     uint64          // bumped by Refresh
	last    *fetchCall      // the newest finished successful fetch
	running *fetchCall
	fetches int // fetches made, for tests and logs
}

type fetchCall struct {
	gen  uint64
	at   time.Time
	done chan struct{}
	art  source.Artifact
	err  error
}

func newSharedSource(src *source.Source, interval time.Duration) *sharedSource {
	return &sharedSource{src: src, fresh: interval / 2, base: context.Background()}
}

// Refresh makes the next Fetch fetch.
func (s *sharedSource) Refresh() {
	s.mu.Lock()
	s.gen++
	s.mu.Unlock()
}

// Fetch returns the newest revision, fetched by this call or shared with
// another; see sharedSource.
func (s *sharedSource) Fetch(ctx context.Context) (source.Artifact, error) {
	s.mu.Lock()
	want := s.gen
	if l := s.last; l != nil && l.gen >= want && time.Since(l.at) < s.fresh {
		s.mu.Unlock()
		return l.art, nil
	}
	c := s.running
	if c == nil || c.gen < want {
		c = &fetchCall{gen: want, done: make(chan struct{})}
		s.running = c
		s.fetches++
		go s.fetch(logr.NewContext(s.base, logr.FromContextOrDiscard(ctx)), c)
	}
	s.mu.Unlock()
	select {
	case <-c.done:
		return c.art, c.err
	case <-ctx.Done():
		return source.Artifact{}, ctx.Err()
	}
}

func (s *sharedSource) fetch(ctx context.Context, c *fetchCall) {
	c.art, c.err = s.src.Fetch(ctx)
	c.at = time.Now()
	s.mu.Lock()
	if s.running == c {
		s.running = nil
	}
	if c.err == nil && (s.last == nil || s.last.gen <= c.gen) {
		s.last = c
	}
	s.mu.Unlock()
	close(c.done)
}

// ReadFile is source.Source's.
func (s *sharedSource) ReadFile(art source.Artifact, name string) ([]byte, error) {
	return s.src.ReadFile(art, name)
}

// Checkout is source.Source's.
func (s *sharedSource) Checkout(art source.Artifact) (string, error) { return s.src.Checkout(art) }

// Fetches returns how many fetches the source made.
func (s *sharedSource) Fetches() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.fetches
}

// census is one apply.Census, taken when the first sync needs one and given
// to each sync's first recovery: a thousand new syncs then list each
// resource type once, not once each.
type census struct {
	cluster *apply.Cluster
	mu      gosync.Mutex
	taken   *apply.Census
	pending int // syncs yet to make their first run; none left frees the census
}

// get returns the census, taking it on the first call that succeeds, or
// nil once every sync made its first run.
func (c *census) get(ctx context.Context) (*apply.Census, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.taken != nil || c.pending <= 0 {
		return c.taken, nil
	}
	taken, err := c.cluster.TakeCensus(ctx, 32)
	if err != nil {
		return nil, err
	}
	c.taken = taken
	return taken, nil
}

// ran notes that one sync made its first run.
func (c *census) ran() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.pending--; c.pending <= 0 {
		c.taken = nil
	}
}

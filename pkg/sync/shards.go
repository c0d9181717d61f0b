package sync

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"slices"
	gosync "sync"
	"time"

	"github.com/go-logr/logr"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	coordinationv1apply "k8s.io/client-go/applyconfigurations/coordination/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/gitsync-io/gitsync/pkg/sync/apply"
)

// ShardOf is the shard, of count, that the sync namespace/name belongs to:
// a stable hash (FNV-1a) of the two, so every replica agrees without asking.
func ShardOf(namespace, name string, count int) int {
	h := fnv.New64a()
	h.Write([]byte(namespace + "/" + name))
	return int(h.Sum64() % uint64(count))
}

// InShard returns the syncs of shard index among count, and the others (for
// ManagerOptions.Others).
func InShard(syncs []Managed, index, count int) (mine, others []Managed) {
	for _, s := range syncs {
		if ShardOf(s.Options.Namespace, s.Options.Name, count) == index {
			mine = append(mine, s)
		} else {
			others = append(others, s)
		}
	}
	return mine, others
}

// ShardOptions configure Shards.
type ShardOptions struct {
	// Count is the number of shards.
	Count int
	// Leader names this replica, the namespace of the Leases and their
	// timing; its Lease is the prefix of theirs: <Lease>-shard-<k> for each
	// shard, <Lease>-member-<Identity> for each replica.
	Leader LeaderOptions
}

// Shards runs syncs split into shards across the replicas of a Deployment.
//
// Each replica announces itself with a member Lease that it renews; a member
// is alive while its Lease keeps changing, as this replica observes it (its
// own clock only, as client-go's leader election does). The live members,
// sorted by name, are due the shards in turn: shard k goes to member
// k mod members. Every replica stands by on every shard's Lease
// (<Lease>-shard-<k>), so when a holder dies the Lease is taken as soon as
// it expires. A replica runs a Manager of a shard's syncs while it holds the
// shard's Lease and the shard is due to it, or is due to a member that is not
// alive; otherwise it stops the shard's syncs, then releases the Lease for
// the member it is due to, and stands back for a moment. A sync is thus
// never run by two replicas at once, and a dead replica's shards move within
// about a lease duration.
type Shards struct {
	cfg    *rest.Config
	syncs  [][]Managed // by shard
	mopts  ManagerOptions
	opts   ShardOptions
	client kubernetes.Interface

	mu       gosync.Mutex
	electing map[int]*electing
	members  map[string]*member // by identity, as observed
	live     []string           // alive members, sorted
	handedAt map[int]time.Time  // when a shard was last handed over

	statuses map[string]inventoryWatch // of every sync, by namespace
	changes  *watchers                 // of the views, in every shard
}

// electing is one shard this replica stands by on, or leads.
type electing struct {
	done    chan struct{}
	manager *Manager // while running the shard's syncs
}

// member is what this replica observed of another's member Lease.
type member struct {
	renewed  string    // the renewTime last seen
	observed time.Time // when it last changed, on this replica's clock
}

// NewShards prepares the shards of syncs; Start runs them.
func NewShards(cfg *rest.Config, syncs []Managed, mopts ManagerOptions, opts ShardOptions) (*Shards, error) {
	if opts.Count < 1 {
		return nil, fmt.Errorf("shards: the count must be at least 1, not %d", opts.Count)
	}
	if opts.Leader.Identity == "" || opts.Leader.Namespace == "" {
		return nil, errors.New("shards need an identity and a namespace for their Leases")
	}
	names := map[string]bool{}
	for _, s := range syncs {
		names[s.Options.Name] = true
	}
	for _, s := range syncs {
		for _, d := range s.DependsOn {
			if !names[d] {
				return nil, fmt.Errorf("sync %s depends on %q, which is not a sync", s.Options.Name, d)
			}
		}
	}
	cs, err := kubernetes.NewForConfig(withClientRates(cfg))
	if err != nil {
		return nil, err
	}
	sh := &Shards{
		cfg: cfg, mopts: mopts, opts: opts, client: cs,
		electing: map[int]*electing{}, members: map[string]*member{}, handedAt: map[int]time.Time{},
	}
	sh.syncs = make([][]Managed, opts.Count)
	for k := range opts.Count {
		sh.syncs[k], _ = InShard(syncs, k, opts.Count)
	}
	if sh.mopts.cluster, err = apply.NewCluster(withClientRates(cfg)); err != nil {
		return nil, err
	}
	sh.mopts.Elsewhere = names // a dependency in another shard is read from the cluster
	sh.mopts.Namespace = opts.Leader.Namespace
	sh.changes = &watchers{}
	sh.mopts.changes = sh.changes
	sh.watchStatuses()
	return sh, nil
}

func (sh *Shards) shardLease(k int) string {
	return fmt.Sprintf("%s-shard-%d", sh.opts.Leader.Lease, k)
}

func (sh *Shards) memberLease() string {
	return sh.opts.Leader.Lease + "-member-" + sh.opts.Leader.Identity
}

// memberLabel marks the member Leases of this set of shards.
const memberLabel = "gitsync.io/shard-member"

// Start takes part in the shards until ctx ends, then stops the syncs it
// runs, releases its Leases and returns nil. The first shards are taken one
// retry period after start-up, so replicas starting together see each other.
func (sh *Shards) Start(ctx context.Context) error {
	log := logr.FromContextOrDiscard(ctx).WithValues("identity", sh.opts.Leader.Identity)
	sh.mopts.cluster.Watch(ctx) // before any shard's Manager starts
	sh.observe(ctx)
	defer sh.leave(log)
	tick := time.NewTicker(sh.opts.Leader.RetryPeriod)
	defer tick.Stop()
	var due []int
	for beats := 0; ; beats++ {
		if err := sh.heartbeat(ctx); err != nil && ctx.Err() == nil {
			log.Error(err, "shard membership: renewing or reading the member Leases failed; keeping the shards as they are")
		}
		if next := sh.dueHere(); !slices.Equal(next, due) {
			due = next
			log.Info("shards", "members", sh.alive(), "due", due)
		}
		if beats > 0 {
			sh.standBy(ctx)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// heartbeat renews this replica's member Lease and observes the others';
// those gone for long are deleted.
func (sh *Shards) heartbeat(ctx context.Context) error {
	leases := sh.client.CoordinationV1().Leases(sh.opts.Leader.Namespace)
	seconds := int32(sh.opts.Leader.LeaseDuration.Seconds() + 0.5)
	lease := coordinationv1apply.Lease(sh.memberLease(), sh.opts.Leader.Namespace).
		WithLabels(map[string]string{memberLabel: sh.opts.Leader.Lease}).
		WithSpec(coordinationv1apply.LeaseSpec().
			WithHolderIdentity(sh.opts.Leader.Identity).
			WithLeaseDurationSeconds(seconds).
			WithRenewTime(metav1.NowMicro()))
	if _, err := leases.Apply(ctx, lease, metav1.ApplyOptions{FieldManager: "gitsync", Force: true}); err != nil {
		return fmt.Errorf("renew Lease %s: %w", sh.memberLease(), err)
	}
	list, err := leases.List(ctx, metav1.ListOptions{LabelSelector: memberLabel + "=" + sh.opts.Leader.Lease})
	if err != nil {
		return fmt.Errorf("list member Leases: %w", err)
	}
	now := time.Now()
	sh.mu.Lock()
	defer sh.mu.Unlock()
	seen := map[string]bool{}
	for i := range list.Items {
		l := &list.Items[i]
		if l.Spec.HolderIdentity == nil || l.Spec.RenewTime == nil {
			continue
		}
		id, renewed := *l.Spec.HolderIdentity, l.Spec.RenewTime.Format(time.RFC3339Nano)
		seen[id] = true
		m := sh.members[id]
		if m == nil || m.renewed != renewed {
			sh.members[id] = &member{renewed: renewed, observed: now}
		} else if now.Sub(m.observed) > 10*sh.opts.Leader.LeaseDuration { // a replica long gone
			if err := leases.Delete(ctx, l.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
				logr.FromContextOrDiscard(ctx).Error(err, "deleting a stale member Lease failed", "lease", l.Name)
			}
		}
	}
	sh.live = nil
	for id, m := range sh.members {
		switch {
		case !seen[id]: // deleted: it left
			delete(sh.members, id)
		case now.Sub(m.observed) <= sh.opts.Leader.LeaseDuration:
			sh.live = append(sh.live, id)
		}
	}
	slices.Sort(sh.live)
	return nil
}

func (sh *Shards) alive() []string {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	return slices.Clone(sh.live)
}

// dueTo returns the member shard k is due to; "" if none is alive.
func (sh *Shards) dueTo(k int) string {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if len(sh.live) == 0 {
		return ""
	}
	return sh.live[k%len(sh.live)]
}

// dueHere returns the shards due to this replica.
func (sh *Shards) dueHere() []int {
	var due []int
	for k := range sh.opts.Count {
		if sh.dueTo(k) == sh.opts.Leader.Identity {
			due = append(due, k)
		}
	}
	return due
}

// shouldRun tells whether this replica, holding shard k's Lease, should run
// its syncs: the shard is due to it, or to no member alive, or to one that
// has not renewed its member Lease for a few retry periods. That one is
// likely dead (the shard's Lease it held expired), just not past its lease
// duration yet; if it is not, it takes the shard back once it is fresh.
func (sh *Shards) shouldRun(k int) bool {
	due := sh.dueTo(k)
	if due == "" || due == sh.opts.Leader.Identity {
		return true
	}
	sh.mu.Lock()
	defer sh.mu.Unlock()
	m := sh.members[due]
	return m == nil || time.Since(m.observed) > 3*sh.opts.Leader.RetryPeriod
}

// standBy keeps an election running for every shard, but for a shard handed
// over a moment ago, so that the member it is due to takes it first.
func (sh *Shards) standBy(ctx context.Context) {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	for k := range sh.opts.Count {
		if e := sh.electing[k]; e != nil {
			select {
			case <-e.done: // lost or handed over: stand by again below
			default:
				continue
			}
		}
		if time.Since(sh.handedAt[k]) < 2*sh.opts.Leader.RetryPeriod {
			continue
		}
		e := &electing{done: make(chan struct{})}
		sh.electing[k] = e
		go sh.elect(ctx, k, e)
	}
}

// elect stands by on shard k's Lease and, holding it, runs the shard's
// syncs for as long as it should (shouldRun); then it stops them, which
// releases the Lease.
func (sh *Shards) elect(ctx context.Context, k int, e *electing) {
	defer close(e.done)
	log := logr.FromContextOrDiscard(ctx).WithValues("shard", k)
	opts := sh.opts.Leader
	opts.Lease = sh.shardLease(k)
	err := RunAsLeader(ctx, sh.cfg, opts, func(ctx context.Context) {
		defer func() {
			sh.mu.Lock()
			sh.handedAt[k] = time.Now()
			sh.mu.Unlock()
		}()
		if !sh.shouldRun(k) {
			log.Info("handing the shard over", "to", sh.dueTo(k))
			return
		}
		mopts := sh.mopts
		mopts.shard = k
		m, err := NewManager(sh.cfg, sh.syncs[k], mopts)
		if err != nil {
			log.Error(err, "the shard's syncs cannot start")
			return
		}
		runCtx, stop := context.WithCancel(ctx)
		defer stop()
		stopped := make(chan struct{})
		go func() {
			defer close(stopped)
			log.Info("running the shard's syncs", "syncs", len(sh.syncs[k]))
			if err := m.Start(runCtx); err != nil {
				log.Error(err, "the shard's syncs stopped")
			}
		}()
		sh.mu.Lock()
		e.manager = m
		sh.mu.Unlock()
		defer func() {
			sh.mu.Lock()
			e.manager = nil
			sh.mu.Unlock()
		}()
		tick := time.NewTicker(sh.opts.Leader.RetryPeriod)
		defer tick.Stop()
		for {
			select {
			case <-stopped:
				return
			case <-tick.C:
				if !sh.shouldRun(k) {
					log.Info("handing the shard over", "to", sh.dueTo(k))
					stop()
					<-stopped
					return
				}
			}
		}
	})
	if err != nil && ctx.Err() == nil {
		log.Info("shard lease lost", "reason", err.Error())
	}
}

// leave stops every shard, waits for their syncs and releases, and deletes
// the member Lease so that the others take over at once.
func (sh *Shards) leave(log logr.Logger) {
	sh.mu.Lock()
	var done []chan struct{}
	for _, e := range sh.electing {
		done = append(done, e.done)
	}
	sh.mu.Unlock()
	for _, d := range done { // Start's ctx ended: each election is ending
		<-d
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := sh.client.CoordinationV1().Leases(sh.opts.Leader.Namespace).Delete(ctx, sh.memberLease(), metav1.DeleteOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		log.Error(err, "deleting the member Lease failed; it expires on its own")
	}
}

// managers returns the Managers running now, by shard.
func (sh *Shards) managers() map[int]*Manager {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	out := map[int]*Manager{}
	for k, e := range sh.electing {
		if e.manager != nil {
			out[k] = e.manager
		}
	}
	return out
}

// Ready reports whether this replica runs every shard it leads.
func (sh *Shards) Ready() bool {
	for _, m := range sh.managers() {
		if !m.Ready() {
			return false
		}
	}
	return true
}

// Held returns the shards this replica runs now, sorted.
func (sh *Shards) Held() []int {
	var held []int
	for k := range sh.managers() {
		held = append(held, k)
	}
	slices.Sort(held)
	return held
}

// TriggerRepository triggers the matching syncs of the shards this replica
// runs, and passes the push on to the others in one write (PushesConfigMap),
// which their holders watch. It returns how many syncs it asked.
func (sh *Shards) TriggerRepository(ctx context.Context, match func(url, ref string) bool) (int, error) {
	running := sh.managers()
	n := 0
	var others []pushTarget
	for k := range sh.opts.Count {
		if m := running[k]; m != nil {
			n += m.trigger(match)
			continue
		}
		for _, s := range sh.syncs[k] {
			if match(s.Options.Source.URL, s.Options.Source.Ref) {
				others = append(others, pushTarget{s.Options.Source.URL, s.Options.Source.Ref, k})
				n++
			}
		}
	}
	if err := requestPushes(ctx, sh.client, sh.opts.Leader.Namespace, others); err != nil {
		return n, fmt.Errorf("passing the push on to the other shards: %w", err)
	}
	return n, nil
}

// RequestRepository is TriggerRepository: every replica passes a push on
// to the shards it does not run.
func (sh *Shards) RequestRepository(ctx context.Context, match func(url, ref string) bool) (int, error) {
	return sh.TriggerRepository(ctx, match)
}

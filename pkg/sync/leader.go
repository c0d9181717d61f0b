package sync

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
)

// LeaderOptions configure leader election on a coordination.k8s.io Lease.
type LeaderOptions struct {
	// Lease names the Lease; Namespace holds it.
	Lease, Namespace string
	// Identity of this replica, unique among them (the pod's name).
	Identity string
	// LeaseDuration is how long a lease lasts without renewal: the longest a
	// dead leader's replicas wait to take over.
	LeaseDuration, RenewDeadline, RetryPeriod time.Duration
}

// DefaultLeaderOptions are client-go's usual 15 s / 10 s / 2 s.
func DefaultLeaderOptions() LeaderOptions {
	return LeaderOptions{Lease: "gitsync", LeaseDuration: 15 * time.Second, RenewDeadline: 10 * time.Second, RetryPeriod: 2 * time.Second}
}

// RunAsLeader runs lead once this replica holds the Lease, with a context
// that ends when ctx does or the lease is lost. When ctx ends, lead is let
// finish first and then the lease is released at once, so another replica
// takes over without waiting for it to expire and never while this one still
// writes; so it is when lead returns by itself (it hands over), and then
// RunAsLeader returns nil. It returns an error when leadership is lost; a
// replica that lost the lease should exit and let Kubernetes restart it, as
// controllers do.
func RunAsLeader(ctx context.Context, cfg *rest.Config, opts LeaderOptions, lead func(context.Context)) error {
	if opts.Identity == "" || opts.Namespace == "" {
		return fmt.Errorf("leader election needs an identity and a namespace")
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	lock, err := resourcelock.New(resourcelock.LeasesResourceLock, opts.Namespace, opts.Lease,
		cs.CoreV1(), cs.CoordinationV1(), resourcelock.ResourceLockConfig{Identity: opts.Identity})
	if err != nil {
		return err
	}
	log := logr.FromContextOrDiscard(ctx).WithValues("lease", opts.Namespace+"/"+opts.Lease, "identity", opts.Identity)
	// The elector's context outlives ctx until lead has returned; cancelling
	// it then releases the lease.
	electCtx, release := context.WithCancel(context.WithoutCancel(ctx))
	defer release()
	leading := make(chan struct{})
	led := make(chan struct{})
	var handedOver atomic.Bool
	go func() {
		<-ctx.Done()
		select {
		case <-leading:
			<-led
		default:
		}
		release()
	}()
	le, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
		Lock:            lock,
		LeaseDuration:   opts.LeaseDuration,
		RenewDeadline:   opts.RenewDeadline,
		RetryPeriod:     opts.RetryPeriod,
		ReleaseOnCancel: true,
		Name:            opts.Lease,
		Callbacks: leaderelection.LeaderCallbacks{
			OnStartedLeading: func(leaseCtx context.Context) {
				defer close(led)
				close(leading)
				log.Info("leading")
				ctx, cancel := context.WithCancel(ctx)
				defer cancel()
				stop := context.AfterFunc(leaseCtx, cancel) // the lease was lost
				defer stop()
				lead(ctx)
				if ctx.Err() == nil { // lead is done with the lease: release it
					handedOver.Store(true)
					release()
				}
			},
			OnStoppedLeading: func() { log.Info("stopped leading") },
			OnNewLeader: func(id string) {
				if id != opts.Identity {
					log.Info("standing by", "leader", id)
				}
			},
		},
	})
	if err != nil {
		return err
	}
	le.Run(electCtx)
	if ctx.Err() == nil && !handedOver.Load() {
		return fmt.Errorf("lost the lease %s/%s", opts.Namespace, opts.Lease)
	}
	return nil
}

package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/go-logr/logr"
	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/client-go/rest"

	"github.com/gitsync-io/gitsync/pkg/notify"
	gsync "github.com/gitsync-io/gitsync/pkg/sync"
	"github.com/gitsync-io/gitsync/pkg/webhook"
)

type runFlags struct {
	syncFlags
	interval          time.Duration
	config            string
	logFormat         string
	httpAddr          string
	ui                uiOptions
	webhookSecretFile string
	// defaultServiceAccount is what syncs naming no ServiceAccount act as.
	defaultServiceAccount string
	leaderElect           bool
	leader                gsync.LeaderOptions
	concurrentSyncs       int
	shardCount            int
	shardIndex            int
}

func newRunCommand(s Streams) *cobra.Command {
	f := &runFlags{leader: gsync.DefaultLeaderOptions()}
	cmd := &cobra.Command{
		Use:   "run --repo URL [--interval 1m] | --config FILE",
		Short: "Keep the cluster equal to git: sync on an interval and on webhooks until stopped (SIGTERM stops cleanly)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runLoop(cmd.Context(), s, f)
		},
	}
	f.register(cmd.Flags())
	f.registerNotifications(cmd.Flags())
	fs := cmd.Flags()
	fs.DurationVar(&f.interval, "interval", time.Minute, "how often to check the repository (with --repo)")
	fs.StringVar(&f.config, "config", "", "config file with several sources and syncs, instead of --repo")
	fs.StringVar(&f.defaultServiceAccount, "default-service-account", "", "ServiceAccount, in each sync's namespace, that syncs naming none act as: with it, no sync applies with gitsync's own rights")
	fs.StringVar(&f.logFormat, "log-format", "text", "log format: text or json; each sync logs one line")
	fs.StringVar(&f.httpAddr, "http-addr", "", "serve /healthz, /readyz, /metrics, /hooks/* and the status page /ui/ on this address (e.g. :8080); off when empty")
	f.ui.register(fs)
	fs.StringVar(&f.webhookSecretFile, "webhook-secret-file", "", "file holding the webhook secret (with --repo; the config file has webhook.secretFile)")
	fs.IntVar(&f.concurrentSyncs, "concurrent-syncs", gsync.DefaultConcurrency, "how many syncs fetch, render, apply and prune at once; the others queue in the order they became due (waiting for health does not count)")
	fs.IntVar(&f.shardCount, "shard-count", 0, "split the syncs into this many shards by a hash of their names; with --shard-index this process runs one, else (with --leader-elect) replicas take shards by Lease")
	fs.IntVar(&f.shardIndex, "shard-index", -1, "the shard this process runs, 0 to --shard-count - 1")
	fs.BoolVar(&f.leaderElect, "leader-elect", false, "with several replicas, only the holder of a Lease syncs")
	fs.StringVar(&f.leader.Lease, "leader-elect-lease", f.leader.Lease, "name of the Lease, in --namespace")
	fs.DurationVar(&f.leader.LeaseDuration, "leader-elect-lease-duration", f.leader.LeaseDuration, "how long replicas wait before taking over from a leader that stopped renewing")
	fs.DurationVar(&f.leader.RenewDeadline, "leader-elect-renew-deadline", f.leader.RenewDeadline, "how long the leader retries renewing before giving up")
	fs.DurationVar(&f.leader.RetryPeriod, "leader-elect-retry-period", f.leader.RetryPeriod, "how often replicas try to acquire or renew the Lease")
	bindEnv(cmd)
	return cmd
}

func runLoop(ctx context.Context, s Streams, f *runFlags) error {
	if err := f.validate(); err != nil {
		return err
	}
	ctx = withLogger(ctx, s, f.logFormat)
	var file *gsync.Config
	if f.config != "" {
		var err error
		if file, err = gsync.LoadConfig(f.config); err != nil {
			return err // before connecting: a bad file fails fast
		}
	}
	cfg, ns, err := f.kube.config()
	if err != nil {
		return err
	}
	if pns := os.Getenv("POD_NAMESPACE"); f.kube.namespace == "" && pns != "" {
		ns = pns
	}
	syncs, hooks, err := f.syncs(file, ns)
	if err != nil {
		return err
	}
	srv, err := newServer(f.httpAddr, hooks)
	if err != nil {
		return err
	}
	srv.ui, srv.ui.httpAddr = f.ui, f.httpAddr
	mopts := gsync.ManagerOptions{Metrics: srv.metrics, Concurrency: f.concurrentSyncs, Namespace: ns}
	if file != nil {
		mopts.Notifier, err = file.Notifier(logr.FromContextOrDiscard(ctx).WithName("notify"))
	} else {
		mopts.Notifier, err = f.notifier(ctx)
	}
	if err != nil {
		return err
	}
	defer closeNotifier(mopts.Notifier)
	f.leader.Namespace, f.leader.Identity = ns, identity()
	if f.shardCount > 0 && f.shardIndex < 0 { // replicas take shards by Lease
		shards, err := gsync.NewShards(cfg, syncs, mopts, gsync.ShardOptions{Count: f.shardCount, Leader: f.leader})
		if err != nil {
			return err
		}
		srv.manager = shards
		srv.leading.Store(true) // every replica runs shards, and passes on pushes for the others
		stopServer, err := srv.start(ctx)
		if err != nil {
			return err
		}
		defer stopServer()
		return shards.Start(ctx)
	}
	if f.shardCount > 0 {
		syncs, mopts.Others = gsync.InShard(syncs, f.shardIndex, f.shardCount)
		f.leader.Lease = fmt.Sprintf("%s-shard-%d", f.leader.Lease, f.shardIndex)
	}
	manager, err := gsync.NewManager(cfg, syncs, mopts)
	if err != nil {
		return err
	}
	srv.manager = manager
	stopServer, err := srv.start(ctx)
	if err != nil {
		return err
	}
	defer stopServer()
	if !f.leaderElect {
		srv.leading.Store(true)
		return manager.Start(ctx)
	}
	manager.Observe(ctx) // a standby's status page shows the statuses the leader records
	return lead(ctx, cfg, f.leader, srv, manager)
}

// lead runs the syncs while this replica holds the Lease. A leader whose
// syncs cannot start stops leading and returns why.
func lead(ctx context.Context, cfg *rest.Config, opts gsync.LeaderOptions, srv *server, manager *gsync.Manager) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	failed := make(chan error, 1)
	lost := gsync.RunAsLeader(ctx, cfg, opts, func(ctx context.Context) {
		srv.leading.Store(true)
		defer srv.leading.Store(false)
		if err := manager.Start(ctx); err != nil {
			failed <- err
			cancel()
		}
	})
	select {
	case err := <-failed:
		return err
	default:
		return lost
	}
}

func (f *runFlags) validate() error {
	switch {
	case f.output == "json":
		f.logFormat = "json"
	case f.logFormat != "text" && f.logFormat != "json":
		return fmt.Errorf("--log-format %q: want text or json", f.logFormat)
	}
	switch {
	case f.config != "" && f.repo != "":
		return errors.New("--config and --repo: give one, not both")
	case f.config != "" && f.notifications != "":
		return errors.New("--notifications is for --repo: with --config, put notifications: in the config file")
	case f.config != "" && (f.helm.chart != "" || f.helm.url != "" || f.helm.repo != ""):
		return errors.New("--helm-* is for --repo: with --config, give syncs[].helm")
	case f.config != "" && f.serviceAccount != "":
		return errors.New("--service-account is for --repo: with --config, give syncs[].serviceAccountName, or --default-service-account")
	case f.config == "" && f.repo == "":
		return errors.New("--repo or --config is required")
	case f.interval <= 0:
		return fmt.Errorf("--interval %s: must be positive", f.interval)
	case f.concurrentSyncs < 1:
		return fmt.Errorf("--concurrent-syncs %d: must be at least 1", f.concurrentSyncs)
	case f.shardCount < 0:
		return fmt.Errorf("--shard-count %d: must be positive", f.shardCount)
	case f.shardIndex >= 0 && (f.shardCount == 0 || f.shardIndex >= f.shardCount):
		return fmt.Errorf("--shard-index %d: must be below --shard-count (%d)", f.shardIndex, f.shardCount)
	case f.shardIndex < -1:
		return fmt.Errorf("--shard-index %d: must be 0 or more", f.shardIndex)
	case f.shardCount > 0 && f.shardIndex < 0 && !f.leaderElect:
		return errors.New("--shard-count without --shard-index takes shards by Lease: add --leader-elect, or give --shard-index")
	}
	if err := gsync.CheckServiceAccountName(f.defaultServiceAccount); err != nil {
		return fmt.Errorf("--default-service-account %w", err)
	}
	return f.check()
}

// syncs returns what to run, from the config file or from the flags, and
// the webhook secrets by provider if a secret is configured.
func (f *runFlags) syncs(c *gsync.Config, namespace string) ([]gsync.Managed, map[webhook.Provider][]byte, error) {
	cacheDir, err := f.git.cache()
	if err != nil {
		return nil, nil, err
	}
	secretFile, providers := f.webhookSecretFile, []string(nil)
	var syncs []gsync.Managed
	if c != nil {
		if syncs, err = c.Managed(namespace, cacheDir); err != nil {
			return nil, nil, fmt.Errorf("%s: %w", f.config, err)
		}
		flagged, err := f.git.remote()
		if err != nil {
			return nil, nil, err
		}
		for i := range syncs { // --mirror adds to the file's mirrors; --no-remote-files holds for every sync
			syncs[i].Options.Remote.Mirrors = append(syncs[i].Options.Remote.Mirrors, flagged.Mirrors...)
			syncs[i].Options.Remote.NoFiles = syncs[i].Options.Remote.NoFiles || flagged.NoFiles
		}
		if c.Webhook != nil {
			secretFile, providers = c.Webhook.SecretFile, c.Webhook.Providers
		}
	} else {
		f.git.cacheDir = cacheDir
		opts, err := f.options(namespace)
		if err != nil {
			return nil, nil, err
		}
		syncs = []gsync.Managed{{Options: opts, Interval: f.interval}}
	}
	for i := range syncs {
		if syncs[i].Options.ServiceAccountName == "" {
			syncs[i].Options.ServiceAccountName = f.defaultServiceAccount
		}
	}
	if secretFile == "" {
		return syncs, nil, nil
	}
	secret, err := readSecret("webhook secret file", secretFile)
	if err != nil {
		return nil, nil, err
	}
	if secret == "" {
		return nil, nil, fmt.Errorf("webhook secret file %s is empty", secretFile)
	}
	hooks := map[webhook.Provider][]byte{}
	for _, p := range webhook.Providers() {
		if len(providers) == 0 || slices.Contains(providers, string(p)) {
			hooks[p] = []byte(secret)
		}
	}
	return syncs, hooks, nil
}

// identity names this replica in the Lease: the pod's name, else the host
// name with a random suffix.
func identity() string {
	if pod := os.Getenv("POD_NAME"); pod != "" {
		return pod
	}
	host, _ := os.Hostname()
	return strings.Trim(host+"-"+rand.String(5), "-")
}

// closeNotifier delivers what is queued, for up to ten seconds: a leader
// that steps down hands on no notification.
func closeNotifier(n *notify.Notifier) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	n.Close(ctx)
}

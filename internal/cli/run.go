package cli

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	gsync "github.com/gitsync-io/gitsync/pkg/sync"
)

type runFlags struct {
	syncFlags
	interval  time.Duration
	config    string
	logFormat string
}

func newRunCommand(s Streams) *cobra.Command {
	f := &runFlags{}
	cmd := &cobra.Command{
		Use:   "run --repo URL [--interval 1m] | --config FILE",
		Short: "Keep the cluster equal to git: sync on an interval until stopped (SIGTERM stops cleanly)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runLoop(cmd.Context(), s, f)
		},
	}
	f.register(cmd.Flags())
	cmd.Flags().DurationVar(&f.interval, "interval", time.Minute, "how often to check the repository")
	cmd.Flags().StringVar(&f.config, "config", "", "config file with several sources and syncs (not available yet)")
	cmd.Flags().StringVar(&f.logFormat, "log-format", "text", "log format: text or json; each sync logs one line")
	bindEnv(cmd)
	return cmd
}

func runLoop(ctx context.Context, s Streams, f *runFlags) error {
	if f.config != "" {
		return fmt.Errorf("--config: config files are not supported yet; use --repo and --path")
	}
	if f.interval <= 0 {
		return fmt.Errorf("--interval %s: must be positive", f.interval)
	}
	if f.output == "json" {
		f.logFormat = "json"
	}
	if f.logFormat != "text" && f.logFormat != "json" {
		return fmt.Errorf("--log-format %q: want text or json", f.logFormat)
	}
	syncer, err := newSyncer(&f.syncFlags, nil)
	if err != nil {
		return err
	}
	return gsync.NewLoop(syncer, f.interval).Start(withLogger(ctx, s, f.logFormat))
}

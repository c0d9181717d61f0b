package cli

import (
	"context"
	"errors"

	"github.com/spf13/cobra"

	"github.com/gitsync-io/gitsync/pkg/notify"
	gsync "github.com/gitsync-io/gitsync/pkg/sync"
)

func newSyncCommand(s Streams) *cobra.Command {
	f := &syncFlags{}
	var now bool
	cmd := &cobra.Command{
		Use:   "sync --repo URL [--ref REF] [--path DIR] | sync --now NAME",
		Short: "Make the cluster equal to a git revision once: fetch, render, apply, prune, wait for health",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			switch {
			case now && len(args) == 1:
				return requestSync(cmd.Context(), s, &f.kube, args[0])
			case now || len(args) == 1:
				return errors.New("--now NAME asks the running instance to sync NAME now; without --now, sync takes no arguments")
			}
			return runSync(cmd.Context(), s, f)
		},
	}
	f.register(cmd.Flags())
	f.registerNotifications(cmd.Flags())
	cmd.Flags().BoolVar(&now, "now", false, "ask the running gitsync (gitsync run) to sync the sync named by the argument now")
	bindEnv(cmd)
	return cmd
}

func runSync(ctx context.Context, s Streams, f *syncFlags) error {
	p, err := newPrinter(s, f.output)
	if err != nil {
		return err
	}
	var progress *progressLine
	if !p.json {
		progress = newProgress(s.ErrOut)
	}
	notifier, err := f.notifier(ctx)
	if err != nil {
		return err
	}
	defer closeNotifier(notifier) // the events of this sync go out before it exits
	syncer, err := newSyncer(f, progress, notifier)
	if err != nil {
		return err
	}
	r, err := syncer.Once(ctx)
	if progress != nil {
		progress.clear()
	}
	if perr := p.result(r, err); perr != nil {
		return perr
	}
	if err != nil {
		return &ExitError{Code: 1} // printed above
	}
	return nil
}

// newSyncer builds a Syncer from the flags; progress may be nil.
func newSyncer(f *syncFlags, progress *progressLine, notifier *notify.Notifier) (*gsync.Syncer, error) {
	if f.repo == "" {
		return nil, errors.New("--repo is required: a git URL or a local path")
	}
	if err := f.check(); err != nil { // before connecting: bad flags fail fast
		return nil, err
	}
	cfg, ns, err := f.kube.config()
	if err != nil {
		return nil, err
	}
	opts, err := f.options(ns)
	if err != nil {
		return nil, err
	}
	if progress != nil {
		opts.Progress = progress.update
	}
	opts.Once, opts.Notifier = true, notifier
	return gsync.New(cfg, opts)
}

package cli

import (
	"context"
	"errors"

	"github.com/spf13/cobra"

	gsync "github.com/gitsync-io/gitsync/pkg/sync"
)

func newSyncCommand(s Streams) *cobra.Command {
	f := &syncFlags{}
	cmd := &cobra.Command{
		Use:   "sync --repo URL [--ref REF] [--path DIR]",
		Short: "Make the cluster equal to a git revision once: fetch, render, apply, prune, wait for health",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runSync(cmd.Context(), s, f)
		},
	}
	f.register(cmd.Flags())
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
	syncer, err := newSyncer(f, progress)
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
func newSyncer(f *syncFlags, progress *progressLine) (*gsync.Syncer, error) {
	if f.repo == "" {
		return nil, errors.New("--repo is required: a git URL or a local path")
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
	return gsync.New(cfg, opts)
}

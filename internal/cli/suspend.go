package cli

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/client-go/kubernetes"

	"github.com/gitsync-io/gitsync/pkg/sync/inventory"
)

// newSuspendCommand returns suspend (suspend=true) or resume: recorded on the
// sync's inventory ConfigMap, honoured by the running instance.
func newSuspendCommand(s Streams, suspend bool) *cobra.Command {
	kube := &kubeFlags{}
	use, short := "resume NAME", "Let a suspended sync apply again; the running instance catches up at once"
	if suspend {
		use, short = "suspend NAME", "Stop a sync from applying until gitsync resume; the running instance honours it"
	}
	cmd := &cobra.Command{
		Use:   use,
		Short: short,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			store, err := kube.store(args[0])
			if err != nil {
				return err
			}
			if err := store.Suspend(cmd.Context(), suspend); err != nil {
				return err
			}
			verb := "resumed"
			if suspend {
				verb = "suspended"
			}
			_, err = fmt.Fprintf(s.Out, "%s %s\n", verb, args[0])
			return err
		},
	}
	kube.register(cmd.Flags())
	bindEnv(cmd)
	return cmd
}

// requestSync is `gitsync sync --now NAME`: ask the running instance.
func requestSync(ctx context.Context, s Streams, kube *kubeFlags, name string) error {
	store, err := kube.store(name)
	if err != nil {
		return err
	}
	if err := store.RequestSync(ctx, time.Now()); err != nil {
		return err
	}
	_, err = fmt.Fprintf(s.Out, "requested a sync of %s now\n", name)
	return err
}

// store is the inventory store of the sync called name.
func (k *kubeFlags) store(name string) (*inventory.Store, error) {
	cfg, ns, err := k.config()
	if err != nil {
		return nil, err
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	return inventory.NewStore(cs.CoreV1(), ns, name), nil
}

package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/gitsync-io/gitsync/pkg/bootstrap"
)

// bootstrapResetFlags are bootstrap's connection flags and the nodes to reset.
type bootstrapResetFlags struct {
	bootstrapFlags
	nodes []string
}

func newBootstrapResetCommand(s Streams) *cobra.Command {
	f := &bootstrapResetFlags{}
	cmd := &cobra.Command{
		Use:   "reset --config cluster.yaml [--node NAME]... [--dry-run]",
		Short: "Tear the cluster down: kubeadm reset and what it leaves behind, on every node or the ones named",
		Long: `Tear down what gitsync bootstrap made: on each node kubeadm reset, then what kubeadm reset
leaves behind (the CNI configuration, gitsync's state in /etc/kubernetes/gitsync, root's
kubeconfig, the KUBE-* and cali-* iptables rules and chains, Calico's network links). The
packages and containerd stay. Workers go first, the first control plane last. A node reset
alone (--node) is drained before and its Node object deleted after, through the first control
plane, so the cluster goes on without it. After a reset of every node, the administrator's
kubeconfig bootstrap wrote here (<cluster name>.kubeconfig) is removed too.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runBootstrapReset(cmd.Context(), s, f)
		},
	}
	fs := cmd.Flags()
	f.registerConnection(fs)
	fs.StringSliceVar(&f.nodes, "node", nil, "reset only this node of the cluster file (repeat for more); default every node")
	bindEnv(cmd)
	return cmd
}

func runBootstrapReset(ctx context.Context, s Streams, f *bootstrapResetFlags) error {
	c, err := f.loadCluster()
	if err != nil {
		return err
	}
	nodes, err := c.NodesNamed(f.nodes)
	if err != nil {
		return fmt.Errorf("--node: %w", err)
	}
	dial, closeLog, err := f.dialer(s, c, "gitsync bootstrap reset", len(nodes))
	if err != nil {
		return err
	}
	defer closeLog()
	p := &bootstrapPrinter{out: s.Out}
	if err := bootstrap.Reset(ctx, c, dial, f.nodes, bootstrap.Options{DryRun: f.dryRun, Report: p.print}); err != nil {
		return err
	}
	if len(f.nodes) > 0 {
		return nil // the cluster may live on
	}
	return removeAdminKubeconfig(s.Out, adminKubeconfigPath(c), f.dryRun)
}

// adminKubeconfigPath is where bootstrap writes the administrator's kubeconfig unless told
// otherwise: <cluster name>.kubeconfig in the current directory.
func adminKubeconfigPath(c *bootstrap.Cluster) string { return c.Name + ".kubeconfig" }

// removeAdminKubeconfig removes the kubeconfig of a cluster that is gone, and says so.
func removeAdminKubeconfig(out io.Writer, path string, dryRun bool) error {
	_, err := os.Lstat(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		fmt.Fprintf(out, "no administrator's kubeconfig %s to remove\n", path)
		return nil
	case err != nil:
		return err
	case dryRun:
		fmt.Fprintf(out, "would remove the administrator's kubeconfig %s\n", path)
		return nil
	}
	if err := os.Remove(path); err != nil {
		return err
	}
	fmt.Fprintf(out, "removed the administrator's kubeconfig %s\n", path)
	return nil
}

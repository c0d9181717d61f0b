package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	gsync "github.com/gitsync-io/gitsync/pkg/sync"
)

type statusFlags struct {
	kube          kubeFlags
	name, output  string
	allNamespaces bool
}

func newStatusCommand(s Streams) *cobra.Command {
	f := &statusFlags{}
	cmd := &cobra.Command{
		Use:   "status [--name NAME] [-o json]",
		Short: "Show what each sync last applied, when, and its last error, as recorded in the cluster",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runStatus(cmd.Context(), s, f)
		},
	}
	f.kube.register(cmd.Flags())
	cmd.Flags().StringVar(&f.name, "name", "", "only this sync")
	cmd.Flags().BoolVarP(&f.allNamespaces, "all-namespaces", "A", false, "syncs of every namespace")
	cmd.Flags().StringVarP(&f.output, "output", "o", "", "output format: text or json")
	bindEnv(cmd)
	return cmd
}

func runStatus(ctx context.Context, s Streams, f *statusFlags) error {
	if f.output != "" && f.output != "text" && f.output != "json" {
		return fmt.Errorf("--output %q: want text or json", f.output)
	}
	cfg, ns, err := f.kube.config()
	if err != nil {
		return err
	}
	if f.allNamespaces {
		ns = ""
	}
	statuses, err := gsync.Statuses(ctx, cfg, ns, f.name)
	if err != nil {
		return err
	}
	if f.output == "json" {
		enc := json.NewEncoder(s.Out)
		enc.SetIndent("", "  ")
		if f.name != "" {
			return enc.Encode(statuses[0])
		}
		return enc.Encode(statuses)
	}
	w := tabwriter.NewWriter(s.Out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "NAMESPACE\tNAME\tSTATE\tAPPLIED\tATTEMPTED\tOBJECTS\tTIME\tREASON")
	for _, st := range statuses {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\n", st.Namespace, st.Name, st.State,
			short(st.LastAppliedRevision), short(st.LastAttemptedRevision), st.Objects, st.Time.Format("2006-01-02T15:04:05Z"), st.Reason)
	}
	return w.Flush()
}

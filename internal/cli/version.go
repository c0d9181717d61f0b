package cli

import (
	"encoding/json"
	"fmt"
	"runtime/debug"

	"github.com/spf13/cobra"

	"github.com/gitsync-io/gitsync/internal/version"
)

// VersionInfo is what `gitsync version` reports.
type VersionInfo struct {
	Version    string `json:"version"`
	Commit     string `json:"commit"`
	Kubernetes string `json:"kubernetesClient"`
}

func currentVersion() VersionInfo {
	v := VersionInfo{Version: version.Version, Commit: version.Commit, Kubernetes: "unknown"}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, dep := range bi.Deps {
			if dep.Path == "k8s.io/client-go" {
				v.Kubernetes = dep.Version
			}
		}
	}
	return v
}

func newVersionCommand(s Streams) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the gitsync version, commit and Kubernetes client version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			v := currentVersion()
			switch output {
			case "json":
				enc := json.NewEncoder(s.Out)
				enc.SetIndent("", "  ")
				return enc.Encode(v)
			case "", "text":
				_, err := fmt.Fprintf(s.Out, "gitsync %s (commit %s, kubernetes client %s)\n", v.Version, v.Commit, v.Kubernetes)
				return err
			default:
				return fmt.Errorf("--output %q: want text or json", output)
			}
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "", "output format: text or json")
	bindEnv(cmd)
	return cmd
}

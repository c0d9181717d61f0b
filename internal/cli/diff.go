package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/spf13/cobra"
)

func newDiffCommand(s Streams) *cobra.Command {
	f := &syncFlags{}
	cmd := &cobra.Command{
		Use:   "diff --repo URL [--ref REF] [--path DIR]",
		Short: "Show how a sync would change the cluster; exit 0 no difference, 1 differences, 2 error",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			err := runDiff(cmd.Context(), s, f)
			if err != nil {
				var exit *ExitError
				if !errors.As(err, &exit) {
					return &ExitError{Code: 2, Err: err}
				}
			}
			return err
		},
	}
	f.register(cmd.Flags())
	bindEnv(cmd)
	return cmd
}

// diffJSON is one object's entry in `diff -o json`.
type diffJSON struct {
	Object string `json:"object"`
	Action string `json:"action"`
	Diff   string `json:"diff,omitempty"`
	Error  string `json:"error,omitempty"`
}

func runDiff(ctx context.Context, s Streams, f *syncFlags) error {
	if _, err := newPrinter(s, f.output); err != nil {
		return err
	}
	syncer, err := newSyncer(f, nil, nil)
	if err != nil {
		return err
	}
	_, diffs, err := syncer.Diff(ctx)
	if err != nil {
		return err
	}
	failed := 0
	out := make([]diffJSON, 0, len(diffs))
	for _, d := range diffs {
		e := diffJSON{Object: d.Ref, Action: string(d.Action), Diff: d.Diff}
		if d.Err != nil {
			e.Error = d.Err.Error()
			failed++
		}
		out = append(out, e)
	}
	if f.output == "json" {
		enc := json.NewEncoder(s.Out)
		enc.SetIndent("", "  ")
		if err := enc.Encode(out); err != nil {
			return err
		}
	} else {
		for _, e := range out {
			if e.Error != "" {
				fmt.Fprintf(s.ErrOut, "error: %s\n", e.Error)
				continue
			}
			fmt.Fprintf(s.Out, "%s %s\n%s", e.Action, e.Object, e.Diff)
		}
	}
	switch {
	case failed > 0:
		return &ExitError{Code: 2}
	case len(out) > 0:
		return &ExitError{Code: 1}
	}
	return nil
}

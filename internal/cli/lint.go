package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/gitsync-io/gitsync/pkg/sync/render"
)

type lintFlags struct {
	renderFlags
	output string
}

func newLintCommand(s Streams) *cobra.Command {
	f := &lintFlags{}
	cmd := &cobra.Command{
		Use:   "lint [--repo URL --ref REF] --path DIR [-o json]",
		Short: "Check the objects a sync would apply for mistakes the API server lets through; exit 1 on errors, 0 on warnings only",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runLint(cmd.Context(), s, f)
		},
	}
	f.register(cmd.Flags())
	cmd.Flags().StringVarP(&f.output, "output", "o", "", "output format: text or json")
	bindEnv(cmd)
	return cmd
}

func runLint(ctx context.Context, s Streams, f *lintFlags) error {
	if _, err := newPrinter(s, f.output); err != nil {
		return err
	}
	res, err := f.render(ctx)
	if err != nil {
		return err
	}
	report := newLintReport(res.Lint())
	if f.output == "json" {
		err = report.printJSON(s.Out)
	} else {
		err = report.print(s.Out, len(res.Objects))
	}
	if err != nil {
		return err
	}
	if report.Errors > 0 {
		return &ExitError{Code: 1} // printed above
	}
	return nil
}

// lintReport is what `lint` prints; as JSON, {"findings":[…],"errors":N,"warnings":M}.
type lintReport struct {
	Findings []render.Finding `json:"findings"`
	Errors   int              `json:"errors"`
	Warnings int              `json:"warnings"`
}

func newLintReport(findings []render.Finding) *lintReport {
	r := &lintReport{Findings: append([]render.Finding{}, findings...)}
	for _, f := range findings {
		if f.Severity == render.SeverityError {
			r.Errors++
		} else {
			r.Warnings++
		}
	}
	return r
}

// print writes one line per finding, "error: …" or "warning: …", then a summary line.
func (r *lintReport) print(w io.Writer, objects int) error {
	for _, f := range r.Findings {
		fmt.Fprintf(w, "%s: %s\n", f.Severity, f)
	}
	_, err := fmt.Fprintf(w, "%s, %s in %s\n", plural(r.Errors, "error"), plural(r.Warnings, "warning"), plural(objects, "object"))
	return err
}

func (r *lintReport) printJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

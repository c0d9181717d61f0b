package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// Streams are where a command reads and writes; tests pass buffers.
type Streams struct {
	In          io.Reader
	Out, ErrOut io.Writer
}

// ExitError carries a specific exit code, like diff's 1 for "differences found".
type ExitError struct {
	Code int
	Err  error
}

func (e *ExitError) Error() string { return e.Err.Error() }
func (e *ExitError) Unwrap() error { return e.Err }

// Main runs gitsync with the process's arguments and streams and returns the
// exit code. SIGINT and SIGTERM cancel the command's context.
func Main() int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return Run(ctx, Streams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr}, os.Args[1:])
}

// Run executes one gitsync command line and returns its exit code: 0 when
// everything asked for succeeded, the code of an ExitError, 1 otherwise. The
// error, if any, is printed as one line on ErrOut.
func Run(ctx context.Context, s Streams, args []string) int {
	root := newRootCommand(s)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	var exit *ExitError
	if errors.As(err, &exit) && exit.Err == nil {
		return exit.Code // the command already reported
	}
	fmt.Fprintln(s.ErrOut, "error:", err)
	if errors.As(err, &exit) {
		return exit.Code
	}
	return 1
}

func newRootCommand(s Streams) *cobra.Command {
	root := &cobra.Command{
		Use:           "gitsync",
		Short:         "Keep a Kubernetes cluster equal to a git repository",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetIn(s.In)
	root.SetOut(s.Out)
	root.SetErr(s.ErrOut)
	root.AddCommand(
		newSyncCommand(s),
		newRunCommand(s),
		newRenderCommand(s),
		newLintCommand(s),
		newDiffCommand(s),
		newStatusCommand(s),
		newSuspendCommand(s, true),
		newSuspendCommand(s, false),
		newBootstrapCommand(s),
		newVersionCommand(s),
	)
	return root
}

// bindEnv lets every flag of cmd also be set as GITSYNC_<FLAG>, with dashes as
// underscores (--ssh-accept-new ↔ GITSYNC_SSH_ACCEPT_NEW). A flag given on the
// command line wins over the environment.
func bindEnv(cmd *cobra.Command) {
	prev := cmd.PreRunE
	cmd.PreRunE = func(c *cobra.Command, args []string) error {
		var errs []error
		c.Flags().VisitAll(func(f *pflag.Flag) {
			if f.Changed {
				return
			}
			name := envName(f.Name)
			if v, ok := os.LookupEnv(name); ok {
				if err := c.Flags().Set(f.Name, v); err != nil {
					errs = append(errs, fmt.Errorf("%s: %w", name, err))
				}
			}
		})
		if err := errors.Join(errs...); err != nil {
			return err
		}
		if prev != nil {
			return prev(c, args)
		}
		return nil
	}
}

func envName(flag string) string {
	return "GITSYNC_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

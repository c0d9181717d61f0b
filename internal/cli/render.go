package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/gitsync-io/gitsync/pkg/sync/render"
	"github.com/gitsync-io/gitsync/pkg/sync/source"
)

type renderFlags struct {
	repo, ref, path string
	git             gitFlags
}

func newRenderCommand(s Streams) *cobra.Command {
	f := &renderFlags{}
	cmd := &cobra.Command{
		Use:   "render [--repo URL --ref REF] --path DIR",
		Short: "Print the objects a sync would apply, as YAML, like `kustomize build`",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runRender(cmd.Context(), s, f)
		},
	}
	cmd.Flags().StringVar(&f.repo, "repo", "", "git repository to fetch first (default: render the local directory --path)")
	cmd.Flags().StringVar(&f.ref, "ref", "", "branch, tag or commit, with --repo")
	cmd.Flags().StringVar(&f.path, "path", "", "directory to render: in the repository with --repo, else on disk")
	f.git.register(cmd.Flags())
	bindEnv(cmd)
	return cmd
}

func runRender(ctx context.Context, s Streams, f *renderFlags) error {
	root, path, err := f.tree(ctx)
	if err != nil {
		return err
	}
	out, err := render.New().Render(ctx, root, path)
	if err != nil {
		return err
	}
	y, err := out.YAML()
	if err != nil {
		return err
	}
	_, err = s.Out.Write(y)
	return err
}

// tree returns the directory confining the render and the path in it: the
// fetched snapshot with --repo, else the git work tree holding --path (or
// --path itself outside git).
func (f *renderFlags) tree(ctx context.Context) (root, path string, err error) {
	if f.repo != "" {
		opts, err := f.git.source(f.repo, f.ref)
		if err != nil {
			return "", "", err
		}
		if opts.CacheDir == "" {
			if opts.CacheDir, err = source.DefaultCacheDir(); err != nil {
				return "", "", fmt.Errorf("--cache-dir: not set and %w", err)
			}
		}
		src, err := source.New(opts)
		if err != nil {
			return "", "", err
		}
		art, err := src.Fetch(ctx)
		if err != nil {
			return "", "", err
		}
		return art.Dir, f.path, nil
	}
	if f.path == "" {
		return "", "", errors.New("--path is required: the directory to render")
	}
	dir, err := filepath.Abs(f.path)
	if err != nil {
		return "", "", err
	}
	if info, err := os.Stat(dir); err != nil || !info.IsDir() {
		return "", "", fmt.Errorf("--path %s: not a directory", f.path)
	}
	root = confinement(dir)
	rel, err := filepath.Rel(root, dir)
	return root, rel, err
}

// confinement is the directory a local render may read: the git work tree
// holding dir, else the working directory if dir is inside it, else dir.
func confinement(dir string) string {
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, ".git")); err == nil {
			return d
		}
		if filepath.Dir(d) == d {
			break
		}
	}
	if wd, err := os.Getwd(); err == nil {
		if rel, err := filepath.Rel(wd, dir); err == nil && filepath.IsLocal(rel) {
			return wd
		}
	}
	return dir
}

package cli

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	gsync "github.com/gitsync-io/gitsync/pkg/sync"
	"github.com/gitsync-io/gitsync/pkg/sync/chart"
	"github.com/gitsync-io/gitsync/pkg/sync/render"
	"github.com/gitsync-io/gitsync/pkg/sync/source"
)

type renderFlags struct {
	repo, ref, path string
	showSecrets     bool
	git             gitFlags
	helm            helmFlags
	kubeVersion     string
	apiVersions     []string
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
	f.register(cmd.Flags())
	bindEnv(cmd)
	return cmd
}

func (f *renderFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&f.repo, "repo", "", "git repository to fetch first (default: render the local directory --path)")
	fs.StringVar(&f.ref, "ref", "", "branch, tag or commit, with --repo")
	fs.StringVar(&f.path, "path", "", "directory to render: in the repository with --repo, else on disk")
	fs.BoolVar(&f.showSecrets, "show-secrets", false, "print what SOPS-encrypted files hold; without it, Secret values and any value they held are *** once a file was decrypted")
	f.git.register(fs)
	f.helm.register(fs)
	fs.StringVar(&f.kubeVersion, "kube-version", "", "with a chart: the Kubernetes version .Capabilities shows (default: Helm's; sync and diff ask the cluster)")
	fs.StringArrayVar(&f.apiVersions, "api-versions", nil, "with a chart: an API version .Capabilities has besides Helm's defaults, group/version or group/version/Kind (repeatable)")
}

// runRender prints the render on Out and what lint finds in it on ErrOut,
// as warnings: they change neither the output nor the exit code.
func runRender(ctx context.Context, s Streams, f *renderFlags) error {
	out, err := f.render(ctx)
	if err != nil {
		return err
	}
	print := out.MaskedYAML
	if f.showSecrets {
		print = out.YAML
	}
	y, err := print()
	if err != nil {
		return err
	}
	if _, err := s.Out.Write(y); err != nil {
		return err
	}
	for _, finding := range out.Lint() {
		prefix := "warning: "
		if finding.Severity == render.SeverityError {
			prefix += "lint error: "
		}
		fmt.Fprintln(s.ErrOut, prefix+finding.String())
	}
	return nil
}

// render renders --path of the local directory or of the fetched --repo.
func (f *renderFlags) render(ctx context.Context) (*render.Result, error) {
	remote, err := f.git.remote()
	if err != nil {
		return nil, err
	}
	if remote.CacheDir, err = f.git.cache(); err != nil {
		return nil, err
	}
	if f.git.remoteBases {
		auth := source.Auth{KnownHostsFile: f.git.knownHosts, AcceptNewHostKeys: f.git.sshAcceptNew}
		remote.Git = gsync.RemoteBases(filepath.Join(remote.CacheDir, "bases"), auth)
	}
	remote.CacheDir = filepath.Join(remote.CacheDir, "remote")
	helm, err := f.helm.spec()
	if err != nil {
		return nil, err
	}
	root, path, err := f.tree(ctx, helm != nil)
	if err != nil {
		return nil, err
	}
	var gen *render.Generated
	if helm != nil {
		charts := chart.New(&chart.Fetcher{CacheDir: filepath.Join(filepath.Dir(remote.CacheDir), "charts"), Mirrors: remote.Mirrors, Timeout: remote.Timeout})
		out, err := charts.Render(ctx, root, *helm, chart.Capabilities{KubeVersion: f.kubeVersion, APIVersions: f.apiVersions})
		if err != nil {
			return nil, err
		}
		gen = &render.Generated{Name: "chart " + out.Chart + " (release " + out.Release + ")", Data: out.Manifests}
	}
	var keys *render.Decryptor
	if len(f.git.decryptionKeys) > 0 {
		files := map[string][]byte{}
		for _, name := range f.git.decryptionKeys {
			data, err := os.ReadFile(name)
			if err != nil {
				return nil, fmt.Errorf("--decryption-key-file: %w", err)
			}
			files[name] = data
		}
		if keys, err = render.NewDecryptor(files); err != nil {
			return nil, fmt.Errorf("--decryption-key-file: %w", err)
		}
	}
	return render.New(render.Options{Remote: &remote, Decryptor: keys}).RenderWith(ctx, root, nil, path, gen)
}

// tree returns the directory confining the render and the path in it: the
// fetched snapshot with --repo, else the git work tree holding --path (or
// --path itself outside git).
func (f *renderFlags) tree(ctx context.Context, chart bool) (root, path string, err error) {
	if f.repo != "" {
		opts, err := f.git.source(f.repo, f.ref)
		if err != nil {
			return "", "", err
		}
		if opts.CacheDir, err = f.git.cache(); err != nil {
			return "", "", err
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
	if f.path == "" && !chart {
		return "", "", errors.New("--path is required: the directory to render")
	}
	dir, err := filepath.Abs(cmp.Or(f.path, "."))
	if err != nil {
		return "", "", err
	}
	if info, err := os.Stat(dir); err != nil || !info.IsDir() {
		return "", "", fmt.Errorf("--path %s: not a directory", f.path)
	}
	root = confinement(dir)
	if f.path == "" { // the chart alone, its paths relative to the repository
		return root, "", nil
	}
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

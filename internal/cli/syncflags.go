package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/go-logr/logr"
	"github.com/spf13/pflag"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/gitsync-io/gitsync/pkg/notify"
	gsync "github.com/gitsync-io/gitsync/pkg/sync"
	"github.com/gitsync-io/gitsync/pkg/sync/render"
	"github.com/gitsync-io/gitsync/pkg/sync/source"
)

// syncFlags are the flags of sync, run and diff: what to sync and how.
type syncFlags struct {
	repo, ref, path, name string
	kube                  kubeFlags
	prune, wait           bool
	timeout               time.Duration
	dryRun, force         bool
	allowEmpty            bool
	serviceAccount        string
	concurrency           int
	output                string
	notifications         string
	git                   gitFlags
	helm                  helmFlags
}

// gitFlags are how to reach the repository. Secrets are read from files or
// the environment, never taken as flag values, so they stay out of argv.
type gitFlags struct {
	cacheDir                     string
	username, passwordFile       string
	sshKey, sshKeyPassphraseFile string
	sshAgent, sshAcceptNew       bool
	knownHosts                   string
	mirrors                      []string
	remoteTimeout                time.Duration
	remoteBases                  bool
	noRemoteFiles                bool
	semver                       string
	verifyKeys                   []string
	verifyMode                   string
	decryptionKeys               []string
}

// kubeFlags select the cluster.
type kubeFlags struct {
	kubeconfig, context, namespace string
}

func (f *syncFlags) register(fs *pflag.FlagSet) {
	def := gsync.DefaultOptions()
	fs.StringVar(&f.repo, "repo", "", "git repository: https://, ssh://, git@host:path, file:// or a local path (required)")
	fs.StringVar(&f.ref, "ref", "", "branch, tag or commit to sync (default: the remote's default branch)")
	fs.StringVar(&f.path, "path", "", "directory in the repository to render (default: the root)")
	fs.StringVar(&f.name, "name", def.Name, "name of the sync; names its inventory and labels its objects")
	fs.BoolVar(&f.prune, "prune", def.Prune, "delete objects that were removed from git")
	fs.BoolVar(&f.wait, "wait", def.Wait, "wait until applied objects are healthy")
	fs.DurationVar(&f.timeout, "timeout", def.Timeout, "how long to wait for health")
	fs.BoolVar(&f.dryRun, "dry-run", false, "change nothing; print what would change (server-side dry run)")
	fs.BoolVar(&f.force, "force", false, "take fields from other server-side appliers and recreate objects whose immutable fields changed")
	fs.BoolVar(&f.allowEmpty, "allow-empty", false, "allow a render with no objects to prune everything the sync applied before")
	fs.StringVar(&f.serviceAccount, "service-account", "", "apply, prune and read as this ServiceAccount of the inventory's namespace (impersonating it), so its RBAC bounds what the sync can change")
	fs.IntVar(&f.concurrency, "concurrency", def.Concurrency, "parallel requests within an apply stage")
	fs.StringVarP(&f.output, "output", "o", "", "output format: text or json")
	f.kube.register(fs)
	f.git.register(fs)
	f.helm.register(fs)
}

func (k *kubeFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&k.kubeconfig, "kubeconfig", "", "kubeconfig file (default: $KUBECONFIG or ~/.kube/config)")
	fs.StringVar(&k.context, "context", "", "kubeconfig context (default: the current context)")
	fs.StringVarP(&k.namespace, "namespace", "n", "", "namespace given to objects without one, and of the sync's inventory (default for the inventory: the context's, else default)")
}

func (g *gitFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&g.cacheDir, "cache-dir", "", "where git snapshots and fetched remote files are kept (default: the user cache directory)")
	fs.StringVar(&g.username, "username", "", "HTTPS user name (the password or token comes from $GITSYNC_PASSWORD or --password-file)")
	fs.StringVar(&g.passwordFile, "password-file", "", "file holding the HTTPS password or token")
	fs.StringVar(&g.sshKey, "ssh-key", "", "SSH private key file")
	fs.StringVar(&g.sshKeyPassphraseFile, "ssh-key-passphrase-file", "", "file holding the SSH key's passphrase")
	fs.BoolVar(&g.sshAgent, "ssh-agent", false, "sign with the SSH agent at $SSH_AUTH_SOCK")
	fs.StringVar(&g.knownHosts, "ssh-known-hosts", "", "known_hosts file verifying SSH host keys (default: ~/.ssh/known_hosts)")
	fs.BoolVar(&g.sshAcceptNew, "ssh-accept-new", false, "record the key of an SSH host not yet in known_hosts; a changed key is always refused")
	fs.StringArrayVar(&g.mirrors, "mirror", nil, "FROM=TO: fetch remote resource files whose URL starts with FROM from TO instead (repeatable; the longest FROM wins)")
	fs.DurationVar(&g.remoteTimeout, "remote-timeout", render.DefaultRemoteTimeout, "how long to wait for each remote resource file")
	fs.StringVar(&g.semver, "semver", "", `instead of --ref, follow the tag of the newest version in a range, such as ">=1.2.0 <2"`)
	fs.StringArrayVar(&g.verifyKeys, "verify-keys", nil, "apply only revisions signed by these keys: a file or directory of armored OpenPGP public keys and SSH allowed_signers files (repeatable)")
	fs.StringVar(&g.verifyMode, "verify-mode", string(source.VerifyHead), "with --verify-keys, what must be signed: head (the commit) or tag (the annotated tag --ref or --semver names)")
	fs.StringArrayVar(&g.decryptionKeys, "decryption-key-file", nil, "age identity file (as age-keygen writes it) that decrypts the repository's SOPS-encrypted files (repeatable)")
	fs.BoolVar(&g.noRemoteFiles, "no-remote-files", false, "refuse http(s) resource files: everything applied comes from the repository (the lockdown of a gitsync that teams share)")
	fs.BoolVar(&g.remoteBases, "allow-remote-bases", false, "fetch kustomization entries naming a directory of another git repository (without this repository's credentials)")
}

// cache is --cache-dir or its default.
func (g *gitFlags) cache() (string, error) {
	if g.cacheDir != "" {
		return g.cacheDir, nil
	}
	dir, err := source.DefaultCacheDir()
	if err != nil {
		return "", fmt.Errorf("--cache-dir: not set and %w", err)
	}
	return dir, nil
}

// remote returns how remote resource files are fetched; the cache directory
// is left to the caller.
func (g *gitFlags) remote() (render.Remote, error) {
	r := render.Remote{Timeout: g.remoteTimeout, NoFiles: g.noRemoteFiles}
	for _, m := range g.mirrors {
		mirror, err := render.ParseMirror(m)
		if err != nil {
			return r, fmt.Errorf("--mirror: %w", err)
		}
		r.Mirrors = append(r.Mirrors, mirror)
	}
	return r, nil
}

// config loads the kubeconfig and the namespace to use.
func (k *kubeFlags) config() (*rest.Config, string, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = k.kubeconfig
	cc := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: k.context})
	cfg, err := cc.ClientConfig()
	if clientcmd.IsEmptyConfig(err) {
		return nil, "", errors.New("no cluster configured: pass --kubeconfig, set $KUBECONFIG, or create ~/.kube/config")
	} else if err != nil {
		return nil, "", fmt.Errorf("kubeconfig: %w", err)
	}
	ns := k.namespace
	if ns == "" {
		if ns, _, err = cc.Namespace(); err != nil || ns == "" {
			ns = "default"
		}
	}
	return cfg, ns, nil
}

// options turns the flags into the library's options.
func (f *syncFlags) options(namespace string) (gsync.Options, error) {
	src, err := f.git.source(f.repo, f.ref)
	if err != nil {
		return gsync.Options{}, err
	}
	remote, err := f.git.remote()
	if err != nil {
		return gsync.Options{}, err
	}
	helm, err := f.helm.spec()
	if err != nil {
		return gsync.Options{}, err
	}
	return gsync.Options{
		Helm:               helm,
		Name:               f.name,
		Namespace:          namespace,
		TargetNamespace:    f.kube.namespace,
		Source:             src,
		Path:               f.path,
		Remote:             remote,
		RemoteBases:        f.git.remoteBases,
		Prune:              f.prune,
		AllowEmpty:         f.allowEmpty,
		ServiceAccountName: f.serviceAccount,
		Wait:               f.wait,
		Timeout:            f.timeout,
		DryRun:             f.dryRun,
		Force:              f.force,
		Concurrency:        f.concurrency,
		Decryption:         f.git.decryption(),
	}, nil
}

// check finds the mistakes in the flags that need no cluster to see, so
// that they fail before connecting.
func (f *syncFlags) check() error {
	if _, err := f.git.verify(f.ref); err != nil { // --semver and --verify-*
		return err
	}
	if err := gsync.CheckServiceAccountName(f.serviceAccount); err != nil {
		return fmt.Errorf("--service-account %w", err)
	}
	_, err := f.helm.spec()
	return err
}

// registerNotifications adds --notifications, for sync and run.
func (f *syncFlags) registerNotifications(fs *pflag.FlagSet) {
	fs.StringVar(&f.notifications, "notifications", "", "file with cluster: and notifications: as the config file has them: tell chat, webhooks and the forge's commit status what the sync did")
}

// notifier starts the receivers of --notifications, nil without it.
func (f *syncFlags) notifier(ctx context.Context) (*notify.Notifier, error) {
	if f.notifications == "" {
		return nil, nil
	}
	c, err := gsync.LoadNotifications(f.notifications, f.name)
	if err != nil {
		return nil, fmt.Errorf("--notifications %w", err)
	}
	n, err := c.Notifier(logr.FromContextOrDiscard(ctx).WithName("notify"))
	if err != nil {
		return nil, fmt.Errorf("--notifications %s: %w", f.notifications, err)
	}
	return n, nil
}

// decryption is --decryption-key-file as the library takes it.
func (g *gitFlags) decryption() *gsync.Decryption {
	if len(g.decryptionKeys) == 0 {
		return nil
	}
	return &gsync.Decryption{KeyFiles: g.decryptionKeys}
}

func (g *gitFlags) source(repo, ref string) (source.Options, error) {
	password := os.Getenv("GITSYNC_PASSWORD")
	if g.passwordFile != "" {
		p, err := readSecret("--password-file", g.passwordFile)
		if err != nil {
			return source.Options{}, err
		}
		password = p
	}
	var passphrase string
	if g.sshKeyPassphraseFile != "" {
		p, err := readSecret("--ssh-key-passphrase-file", g.sshKeyPassphraseFile)
		if err != nil {
			return source.Options{}, err
		}
		passphrase = p
	}
	verify, err := g.verify(ref)
	if err != nil {
		return source.Options{}, err
	}
	return source.Options{
		URL:      repo,
		Ref:      ref,
		SemVer:   g.semver,
		Verify:   verify,
		CacheDir: g.cacheDir,
		Auth: source.Auth{
			Username:          g.username,
			Password:          password,
			SSHKeyFile:        g.sshKey,
			SSHKeyPassphrase:  passphrase,
			SSHAgent:          g.sshAgent,
			KnownHostsFile:    g.knownHosts,
			AcceptNewHostKeys: g.sshAcceptNew,
		},
	}, nil
}

// verify checks --semver and the --verify flags against --ref.
func (g *gitFlags) verify(ref string) (*source.Verify, error) {
	mode := source.VerifyMode(g.verifyMode)
	switch {
	case g.semver != "" && ref != "":
		return nil, errors.New("--ref and --semver: give one, not both")
	case mode != source.VerifyHead && mode != source.VerifyTag:
		return nil, fmt.Errorf("--verify-mode %q: want head or tag", g.verifyMode)
	case len(g.verifyKeys) == 0 && mode == source.VerifyTag:
		return nil, errors.New("--verify-mode tag needs --verify-keys: the trusted keys")
	case len(g.verifyKeys) == 0:
		return nil, nil
	}
	return &source.Verify{Mode: mode, Keys: g.verifyKeys}, nil
}

func readSecret(flag, path string) (string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("%s: %w", flag, err)
	}
	return strings.TrimRight(string(data), "\r\n"), nil
}

package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"golang.org/x/term"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/gitsync-io/gitsync/pkg/bootstrap"
	"github.com/gitsync-io/gitsync/pkg/bootstrap/handover"
	"github.com/gitsync-io/gitsync/pkg/bootstrap/ssh"
)

type bootstrapFlags struct {
	config        string
	dryRun        bool
	sshAcceptNew  bool
	logFile       string
	askPass       bool
	kubeconfigOut string
	timeout       time.Duration
	// git reaches the repository the cluster is handed over to; its --ssh-accept-new is
	// the nodes' too.
	git gitFlags
}

func newBootstrapCommand(s Streams) *cobra.Command {
	f := &bootstrapFlags{}
	cmd := &cobra.Command{
		Use:   "bootstrap --config cluster.yaml [--dry-run]",
		Short: "Make a kubeadm cluster of the machines in a cluster file, over SSH, and hand it over to git",
		Long: `Take the machines of a cluster file (see cluster.example.yaml) to a kubeadm cluster over SSH:
prepare every node (hostname, hosts, time, swap, kernel, Kubernetes packages, containerd),
kubeadm init on the first control plane, join the other control planes one at a time and the
workers at once, write the administrator's kubeconfig here (mode 600), then sync Calico from
the cluster file's repository, wait for every node to be Ready, install gitsync from the same
repository and wait until it leads. Each step is check → apply → verify: --dry-run only checks,
a second run changes nothing, a failed run resumes where it stopped.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runBootstrap(cmd.Context(), s, f)
		},
	}
	fs := cmd.Flags()
	f.registerConnection(fs)
	fs.StringVar(&f.kubeconfigOut, "kubeconfig-out", "", "where the administrator's kubeconfig is written, mode 600 (default: <cluster name>.kubeconfig)")
	fs.DurationVar(&f.timeout, "timeout", 10*time.Minute, "how long to wait for Calico, for the nodes to be Ready, and for gitsync to lead")
	var git pflag.FlagSet
	f.git.register(&git)
	git.VisitAll(func(fl *pflag.Flag) {
		if fl.Name != "ssh-accept-new" && fl.Name != "allow-remote-bases" && fl.Name != "no-remote-files" {
			fl.Usage = "the gitops repository: " + fl.Usage // the nodes' SSH is the cluster file's
			fs.AddFlag(fl)
		}
	})
	bindEnv(cmd)
	cmd.AddCommand(newBootstrapResetCommand(s))
	return cmd
}

// registerConnection registers the flags bootstrap and bootstrap reset share: the cluster
// file, the dry run, and how the nodes are reached.
func (f *bootstrapFlags) registerConnection(fs *pflag.FlagSet) {
	fs.StringVar(&f.config, "config", "", "the cluster file (see cluster.example.yaml)")
	fs.BoolVar(&f.dryRun, "dry-run", false, "connect, and print per node and step what is done and what would run; change nothing")
	fs.BoolVar(&f.sshAcceptNew, "ssh-accept-new", false, "record the host key of a node (or git host) not yet in known_hosts; a changed key is always refused")
	fs.StringVar(&f.logFile, "log", "", "file receiving every remote command and its output (default: gitsync-bootstrap-<cluster>.log)")
	fs.BoolVar(&f.askPass, "ask-become-pass", false, "prompt for the sudo password of the nodes' user (never taken as a flag)")
}

// loadCluster reads --config.
func (f *bootstrapFlags) loadCluster() (*bootstrap.Cluster, error) {
	if f.config == "" {
		return nil, errors.New("--config is required: the cluster file (see cluster.example.yaml)")
	}
	return bootstrap.LoadCluster(f.config)
}

// dialer asks for the sudo password if told to, opens the log and returns how to reach the
// nodes; close closes the log. what and nodes are for the line saying where the log is.
func (f *bootstrapFlags) dialer(s Streams, c *bootstrap.Cluster, what string, nodes int) (dial bootstrap.Dialer, close func() error, err error) {
	password, err := f.sudoPassword(s)
	if err != nil {
		return nil, nil, err
	}
	logPath := f.logFile
	if logPath == "" {
		logPath = "gitsync-bootstrap-" + c.Name + ".log"
	}
	log, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, nil, fmt.Errorf("--log: %w", err)
	}
	fmt.Fprintf(s.ErrOut, "%s %s: %d nodes; every command and its output go to %s\n", what, c.Name, nodes, logPath)
	dial = func(ctx context.Context, n bootstrap.Node) (bootstrap.Runner, error) {
		return ssh.Dial(ctx, f.sshConfig(n, password, log))
	}
	return dial, log.Close, nil
}

func runBootstrap(ctx context.Context, s Streams, f *bootstrapFlags) error {
	c, err := f.loadCluster()
	if err != nil {
		return err
	}
	dial, closeLog, err := f.dialer(s, c, "gitsync bootstrap", len(c.Nodes))
	if err != nil {
		return err
	}
	defer closeLog()
	p := &bootstrapPrinter{out: s.Out}
	res, err := bootstrap.Bootstrap(ctx, c, dial, bootstrap.Options{DryRun: f.dryRun, Report: p.print})
	if err != nil {
		return err
	}
	return f.handOver(ctx, c, res, p)
}

// handOver writes the administrator's kubeconfig here, then hands the cluster over to git:
// Calico, the nodes Ready, gitsync installed and leading.
func (f *bootstrapFlags) handOver(ctx context.Context, c *bootstrap.Cluster, res bootstrap.Result, p *bootstrapPrinter) error {
	path := f.kubeconfigOut
	if path == "" {
		path = adminKubeconfigPath(c)
	}
	if f.dryRun {
		for _, step := range []struct{ name, plan string }{
			{"kubeconfig", "write " + path + " (mode 600): admin.conf of the first control plane, its server https://" + c.Endpoint()},
			{"repository", "render " + c.GitOps.Path + " of " + c.GitOps.Repo + " at " + c.GitOps.Ref + ": the gitsync it installs must sync that repository"},
			{"calico", "gitsync sync --repo " + c.GitOps.Repo + " --ref " + c.GitOps.Ref + " --path " + c.GitOps.CalicoPath + " --name calico -n " + handover.Namespace},
			{"nodes", "wait until every node is Ready"},
			{"gitsync", "gitsync sync --repo " + c.GitOps.Repo + " --ref " + c.GitOps.Ref + " --path " + c.GitOps.Path + " --name gitsync -n " + handover.Namespace},
			{"gitsync-leads", "wait until a gitsync replica in the cluster holds the Lease " + handover.Namespace + "/gitsync"},
		} {
			p.print(bootstrap.Event{Node: handover.Node, Step: step.name, Kind: bootstrap.WouldRun, Plan: []string{step.plan}})
		}
		return nil
	}
	wrote, err := handover.WriteKubeconfig(path, res.AdminConfig, c.Endpoint())
	if err != nil {
		return &bootstrap.StepError{Step: "kubeconfig", Err: err}
	}
	kind := bootstrap.AlreadyDone
	if wrote {
		kind = bootstrap.Applied
	}
	p.print(bootstrap.Event{Node: handover.Node, Step: "kubeconfig", Kind: kind, Reason: path + " (mode 600), server https://" + c.Endpoint()})
	cfg, err := clientcmd.BuildConfigFromFlags("", path)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	opts, err := f.handoverOptions(p)
	if err != nil {
		return err
	}
	return handover.Run(ctx, cfg, c, opts)
}

// handoverOptions are the flags reaching the repository, for the syncs run from here and for
// the Secret gitsync-git the gitsync in the cluster reads its credentials from.
func (f *bootstrapFlags) handoverOptions(p *bootstrapPrinter) (handover.Options, error) {
	f.git.sshAcceptNew = f.sshAcceptNew
	cache, err := f.git.cache()
	if err != nil {
		return handover.Options{}, err
	}
	src, err := f.git.source("", "")
	if err != nil {
		return handover.Options{}, err
	}
	remote, err := f.git.remote()
	if err != nil {
		return handover.Options{}, err
	}
	secret := map[string][]byte{}
	if src.Auth.Password != "" {
		secret["password"] = []byte(src.Auth.Password)
	}
	for key, file := range map[string]string{"identity": f.git.sshKey, "known_hosts": f.git.knownHosts} {
		if file == "" {
			continue
		}
		data, err := os.ReadFile(file)
		if err != nil {
			return handover.Options{}, err
		}
		secret[key] = data
	}
	return handover.Options{CacheDir: cache, Auth: src.Auth, Remote: remote, Secret: secret, Timeout: f.timeout, Report: p.print}, nil
}

// sshConfig is how to reach node n, the cluster file's SSH settings filled in from OpenSSH's
// defaults.
func (f *bootstrapFlags) sshConfig(n bootstrap.Node, password string, log io.Writer) ssh.Config {
	cfg := ssh.DefaultConfig()
	cfg.Address = n.Address + ":" + strconv.Itoa(n.SSH.Port)
	cfg.User = n.SSH.User
	cfg.KeyFile = expandHome(n.SSH.KeyFile)
	if !n.SSH.Agent {
		cfg.AgentSocket = ""
	}
	if n.SSH.KnownHostsFile != "" {
		cfg.KnownHostsFile = expandHome(n.SSH.KnownHostsFile)
	}
	cfg.AcceptNew = f.sshAcceptNew
	cfg.SudoPassword = password
	cfg.Log = log
	return cfg
}

// sudoPassword prompts on the terminal, or reads one line from stdin when it is not one.
func (f *bootstrapFlags) sudoPassword(s Streams) (string, error) {
	if !f.askPass {
		return "", nil
	}
	fmt.Fprint(s.ErrOut, "sudo password of the nodes' user: ")
	if file, ok := s.In.(*os.File); ok && term.IsTerminal(int(file.Fd())) {
		b, err := term.ReadPassword(int(file.Fd()))
		fmt.Fprintln(s.ErrOut)
		return string(b), err
	}
	var line strings.Builder
	buf := make([]byte, 1)
	for {
		n, err := s.In.Read(buf)
		if n == 1 && buf[0] != '\n' {
			line.WriteByte(buf[0])
			continue
		}
		if n == 1 || errors.Is(err, io.EOF) {
			return strings.TrimSuffix(line.String(), "\r"), nil
		}
		if err != nil {
			return "", err
		}
	}
}

func expandHome(p string) string {
	if rest, ok := strings.CutPrefix(p, "~/"); ok {
		if home, err := os.UserHomeDir(); err == nil {
			return filepath.Join(home, rest)
		}
	}
	return p
}

// bootstrapPrinter prints one line per node and step; events come from one goroutine per node.
type bootstrapPrinter struct {
	mu  sync.Mutex
	out io.Writer
}

func (p *bootstrapPrinter) print(e bootstrap.Event) {
	p.mu.Lock()
	defer p.mu.Unlock()
	line := fmt.Sprintf("%-20s %-14s %s", e.Node, e.Step, e.Kind)
	switch {
	case e.Err != nil:
		line += ": " + e.Err.Error()
	case e.Reason != "":
		line += ": " + e.Reason
	}
	fmt.Fprintln(p.out, line)
	for _, cmd := range e.Plan {
		for _, l := range strings.Split(cmd, "\n") {
			fmt.Fprintln(p.out, "    "+l)
		}
	}
}

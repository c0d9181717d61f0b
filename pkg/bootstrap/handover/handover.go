// Package handover is the end of `gitsync bootstrap`: once kubeadm has made the cluster, it
// checks that the repository's gitsync install syncs that repository, installs Calico from the repository with gitsync's own sync engine, waits for every node of
// the cluster file to be Ready, installs gitsync into the cluster from the same repository,
// and waits until that gitsync leads and syncs. From then on the cluster manages itself from
// git.
//
// The two syncs run here have the names and namespace of the in-cluster configuration's
// (overlays/cluster/config.yaml), so the gitsync in the cluster adopts what they applied.
package handover

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/wait"
	corev1apply "k8s.io/client-go/applyconfigurations/core/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/gitsync-io/gitsync/pkg/bootstrap"
	gsync "github.com/gitsync-io/gitsync/pkg/sync"
	"github.com/gitsync-io/gitsync/pkg/sync/render"
	"github.com/gitsync-io/gitsync/pkg/sync/source"
)

// Node is what the handover's events and errors name in place of a node: its steps are the
// cluster's.
const Node = "cluster"

// What the in-cluster gitsync is called: its namespace (where its syncs keep their
// inventories), its Lease, its configuration and its git credentials.
const (
	Namespace = "gitsync-system"
	lease     = "gitsync"
	configMap = "gitsync-config"
	configKey = "config.yaml"
	gitSecret = "gitsync-git"
	// webhookSecret holds the push webhooks' shared secret, which overlays/cluster's
	// configuration requires: gitsync does not start without it.
	webhookSecret = "gitsync-webhook"
	calicoSync    = "calico"
	selfSync      = "gitsync"
)

// Options steer the handover.
type Options struct {
	// CacheDir keeps git snapshots and fetched remote files; required.
	CacheDir string
	// Auth reaches the repository from this machine.
	Auth source.Auth
	// Remote fetches the upstream files manifests/calico names, through its mirrors.
	Remote render.Remote
	// Secret, if it has data, is stored as the in-cluster gitsync's git credentials (Secret
	// gitsync-git: password, identity, known_hosts), before gitsync is installed.
	Secret map[string][]byte
	// Timeout bounds each wait: Calico Ready, the nodes Ready, gitsync leading. Default 10m.
	Timeout time.Duration
	// Report hears every step.
	Report func(bootstrap.Event)
}

// Run hands the cluster cfg reaches over to git.
func Run(ctx context.Context, cfg *rest.Config, c *bootstrap.Cluster, opts Options) error {
	if opts.Timeout == 0 {
		opts.Timeout = 10 * time.Minute
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	h := &handover{cfg: cfg, cs: cs, c: c, opts: opts}
	for _, s := range []struct {
		name string
		run  func(context.Context) (outcome, error)
	}{
		{"repository", h.repository},
		{"calico", h.calico},
		{"nodes", h.nodesReady},
		{"gitsync", h.gitsync},
		{"gitsync-leads", h.leads},
	} {
		h.report(bootstrap.Event{Step: s.name, Kind: bootstrap.Checking})
		o, err := s.run(ctx)
		if err != nil {
			h.report(bootstrap.Event{Step: s.name, Kind: bootstrap.Failed, Err: err})
			return &bootstrap.StepError{Step: s.name, Err: err}
		}
		kind := bootstrap.AlreadyDone
		if o.changed {
			kind = bootstrap.Applied
		}
		h.report(bootstrap.Event{Step: s.name, Kind: kind, Reason: o.reason})
	}
	return nil
}

// outcome is what a step found: whether it had to write or wait, which makes it applied
// rather than done, and what it saw.
type outcome struct {
	reason  string
	changed bool
}

type handover struct {
	cfg  *rest.Config
	cs   kubernetes.Interface
	c    *bootstrap.Cluster
	opts Options
}

func (h *handover) report(e bootstrap.Event) {
	if h.opts.Report != nil {
		e.Node = Node
		h.opts.Report(e)
	}
}

// calico syncs the CNI, and waits until the operator reports it Available.
func (h *handover) calico(ctx context.Context) (outcome, error) {
	created, err := h.namespace(ctx)
	if err != nil {
		return outcome{}, err
	}
	o, err := h.sync(ctx, calicoSync, h.c.GitOps.CalicoPath)
	o.changed = o.changed || created
	return o, err
}

// gitsync stores the in-cluster gitsync's credentials, syncs its install, and checks that it
// syncs the repository the cluster file names.
func (h *handover) gitsync(ctx context.Context) (outcome, error) {
	stored, err := h.storeSecret(ctx)
	if err != nil {
		return outcome{}, err
	}
	made, err := h.makeWebhookSecret(ctx)
	if err != nil {
		return outcome{}, err
	}
	o, err := h.sync(ctx, selfSync, h.c.GitOps.Path)
	if err != nil {
		return outcome{}, err
	}
	o.changed = o.changed || stored || made
	if made {
		o.reason += fmt.Sprintf("; made the push webhooks' secret, which your git host's webhook needs too: "+
			"kubectl -n %s get secret %s -o jsonpath={.data.secret} | base64 -d", Namespace, webhookSecret)
	}
	return o, nil
}

// storeSecret applies the git credentials, if any, as the in-cluster gitsync's Secret, and
// reports whether that changed it.
func (h *handover) storeSecret(ctx context.Context) (bool, error) {
	if len(h.opts.Secret) == 0 {
		return false, nil
	}
	secrets := h.cs.CoreV1().Secrets(Namespace)
	var before string
	if old, err := secrets.Get(ctx, gitSecret, metav1.GetOptions{}); err == nil {
		before = old.ResourceVersion
	}
	secret := corev1apply.Secret(gitSecret, Namespace).WithType(corev1.SecretTypeOpaque).WithData(h.opts.Secret)
	applied, err := secrets.Apply(ctx, secret, metav1.ApplyOptions{FieldManager: "gitsync-bootstrap", Force: true})
	if err != nil {
		return false, fmt.Errorf("store the git credentials in Secret %s/%s: %w", Namespace, gitSecret, err)
	}
	return applied.ResourceVersion != before, nil
}

// makeWebhookSecret creates the Secret of the push webhooks' shared secret, 32 random bytes
// in hex, unless it exists: one made by hand, or by an earlier run, is never replaced (the
// git host's webhook settings hold the same value). The value is never printed; the step's
// outcome says how to read it.
func (h *handover) makeWebhookSecret(ctx context.Context) (bool, error) {
	secrets := h.cs.CoreV1().Secrets(Namespace)
	if _, err := secrets.Get(ctx, webhookSecret, metav1.GetOptions{}); err == nil {
		return false, nil
	} else if !apierrors.IsNotFound(err) {
		return false, fmt.Errorf("read Secret %s/%s: %w", Namespace, webhookSecret, err)
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return false, err
	}
	secret := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: webhookSecret, Namespace: Namespace},
		Type:       corev1.SecretTypeOpaque,
		Data:       map[string][]byte{"secret": []byte(hex.EncodeToString(key))},
	}
	if _, err := secrets.Create(ctx, secret, metav1.CreateOptions{FieldManager: "gitsync-bootstrap"}); err != nil {
		if apierrors.IsAlreadyExists(err) {
			return false, nil
		}
		return false, fmt.Errorf("create Secret %s/%s: %w", Namespace, webhookSecret, err)
	}
	return true, nil
}

// namespace creates gitsync's namespace, which holds the syncs' inventories; the sync of
// gitsync's install then takes it over.
func (h *handover) namespace(ctx context.Context) (created bool, err error) {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: Namespace}}
	_, err = h.cs.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{})
	switch {
	case apierrors.IsAlreadyExists(err):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("create namespace %s: %w", Namespace, err)
	}
	return true, nil
}

// sync applies path of the repository as the sync name, prunes and waits for health.
func (h *handover) sync(ctx context.Context, name, path string) (outcome, error) {
	opts := gsync.DefaultOptions()
	opts.Name, opts.Namespace, opts.Path, opts.Timeout = name, Namespace, path, h.opts.Timeout
	opts.Source = source.Options{URL: h.c.GitOps.Repo, Ref: h.c.GitOps.Ref, Auth: h.opts.Auth, CacheDir: h.opts.CacheDir}
	opts.Remote, opts.Once = h.opts.Remote, true
	s, err := gsync.New(h.cfg, opts)
	if err != nil {
		return outcome{}, err
	}
	// The gitsync in the cluster syncs the same names as soon as it runs, which may be while
	// this sync waits for health: when both wrote the inventory, this one runs again on the
	// newer record (unchanged objects are not written twice). Both may also create the record
	// at once, and the loser is told it already exists.
	r, err := s.Once(ctx)
	for attempt := 1; lostRace(err) && attempt < 3; attempt++ {
		r, err = s.Once(ctx)
	}
	if err != nil {
		return outcome{}, fmt.Errorf("sync %s (%s at %s): %w", name, path, h.c.GitOps.Ref, err)
	}
	if !r.Wrote() {
		return outcome{reason: fmt.Sprintf("%s at %.12s: %d objects as in git and healthy", path, r.Revision, r.Objects)}, nil
	}
	return outcome{reason: fmt.Sprintf("%s at %.12s: %d objects applied and healthy", path, r.Revision, r.Objects), changed: true}, nil
}

// lostRace reports whether err is another writer's inventory write winning over this one's.
func lostRace(err error) bool { return apierrors.IsConflict(err) || apierrors.IsAlreadyExists(err) }

// repository renders gitops.path before anything is applied and checks that the gitsync it
// installs syncs the cluster file's repository: one configured for another would take the
// cluster elsewhere the moment it runs.
func (h *handover) repository(ctx context.Context) (outcome, error) {
	dir, revision, err := source.Snapshot(ctx, h.c.GitOps.Repo, h.c.GitOps.Ref, h.opts.CacheDir, h.opts.Auth)
	if err != nil {
		return outcome{}, fmt.Errorf("fetch %s at %s: %w", h.c.GitOps.Repo, h.c.GitOps.Ref, err)
	}
	remote := h.opts.Remote
	if remote.CacheDir == "" {
		remote.CacheDir = filepath.Join(h.opts.CacheDir, "remote")
	}
	res, err := render.New(render.Options{Remote: &remote}).Render(ctx, dir, h.c.GitOps.Path)
	if err != nil {
		return outcome{}, err
	}
	i := slices.IndexFunc(res.Objects, func(u *unstructured.Unstructured) bool {
		return u.GetKind() == "ConfigMap" && u.GetNamespace() == Namespace && u.GetName() == configMap
	})
	if i < 0 {
		return outcome{}, fmt.Errorf("%s installs no ConfigMap %s/%s: it is not gitsync's install (manifests/gitsync, or overlays/cluster)",
			h.c.GitOps.Path, Namespace, configMap)
	}
	data, _, _ := unstructured.NestedString(res.Objects[i].Object, "data", configKey)
	cfg, err := gsync.ParseConfig([]byte(data))
	if err != nil {
		return outcome{}, fmt.Errorf("ConfigMap %s/%s of %s: %w", Namespace, configMap, h.c.GitOps.Path, err)
	}
	var urls []string
	for _, s := range cfg.Sources {
		if s.URL == h.c.GitOps.Repo {
			return outcome{reason: fmt.Sprintf("%s at %.12s installs a gitsync that syncs %s", h.c.GitOps.Path, revision, s.URL)}, nil
		}
		urls = append(urls, s.URL)
	}
	return outcome{}, fmt.Errorf("the gitsync %s installs syncs %s, not the cluster file's gitops.repo %s: "+
		"set sources[].url in %s/config.yaml to %s, push, and run gitsync bootstrap again",
		h.c.GitOps.Path, strings.Join(urls, ", "), h.c.GitOps.Repo, h.c.GitOps.Path, h.c.GitOps.Repo)
}

// nodesReady waits until every node of the cluster file is registered and Ready: Calico is
// what makes them so.
func (h *handover) nodesReady(ctx context.Context) (outcome, error) {
	var waiting []string
	waited, err := h.poll(ctx, func(ctx context.Context) (bool, error) {
		list, err := h.cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err
		}
		waiting = waiting[:0]
		for _, n := range h.c.Nodes {
			i := slices.IndexFunc(list.Items, func(node corev1.Node) bool { return node.Name == n.Name })
			if i < 0 {
				waiting = append(waiting, n.Name+": not registered")
			} else if ready, why := nodeReady(&list.Items[i]); !ready {
				waiting = append(waiting, n.Name+": "+why)
			}
		}
		return len(waiting) == 0, nil
	})
	if err != nil {
		return outcome{}, fmt.Errorf("nodes not Ready after %s: %s (see `kubectl describe node` and the kubelet's log, `journalctl -u kubelet`, on the node)",
			h.opts.Timeout, strings.Join(waiting, "; "))
	}
	return outcome{reason: fmt.Sprintf("%d nodes Ready", len(h.c.Nodes)), changed: waited}, nil
}

func nodeReady(n *corev1.Node) (bool, string) {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue, strings.TrimSpace(c.Reason + " " + c.Message)
		}
	}
	return false, "no Ready condition yet"
}

// leads waits until a gitsync replica in the cluster holds the Lease and renews it, then
// reports what the syncs recorded.
func (h *handover) leads(ctx context.Context) (outcome, error) {
	var holder string
	waited, err := h.poll(ctx, func(ctx context.Context) (bool, error) {
		l, err := h.cs.CoordinationV1().Leases(Namespace).Get(ctx, lease, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return false, nil
		} else if err != nil {
			return false, err
		}
		holder = leaseHolder(l)
		return holder != "", nil
	})
	if err != nil {
		return outcome{}, fmt.Errorf("no gitsync replica leads after %s: %s", h.opts.Timeout, h.whyNotRunning(context.WithoutCancel(ctx)))
	}
	statuses, err := gsync.Statuses(ctx, h.cfg, Namespace, "")
	if err != nil {
		return outcome{}, err
	}
	var syncs []string
	for _, s := range statuses {
		switch {
		case s.Ready:
			syncs = append(syncs, fmt.Sprintf("%s Ready at %.12s", s.Name, s.LastAppliedRevision))
		case s.Waiting != "":
			syncs = append(syncs, fmt.Sprintf("%s waiting (%s)", s.Name, s.Waiting))
		default:
			syncs = append(syncs, fmt.Sprintf("%s not Ready at %.12s (%s)", s.Name, s.LastAttemptedRevision, s.Error))
		}
	}
	return outcome{reason: fmt.Sprintf("%s leads; syncs: %s; see `gitsync status -n %s`", holder, strings.Join(syncs, ", "), Namespace), changed: waited}, nil
}

// leaseHolder is the Lease's holder while it renews it in time, else "".
func leaseHolder(l *coordinationv1.Lease) string {
	s := l.Spec
	if s.HolderIdentity == nil || *s.HolderIdentity == "" || s.RenewTime == nil || s.LeaseDurationSeconds == nil {
		return ""
	}
	if time.Since(s.RenewTime.Time) > time.Duration(*s.LeaseDurationSeconds)*time.Second {
		return ""
	}
	return *s.HolderIdentity
}

// whyNotRunning says what keeps gitsync's pods from running: most often an image its
// registry does not serve here.
func (h *handover) whyNotRunning(ctx context.Context) string {
	pods, err := h.cs.CoreV1().Pods(Namespace).List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/name=gitsync"})
	if err != nil {
		return err.Error()
	}
	var out []string
	for _, p := range pods.Items {
		for _, c := range p.Status.ContainerStatuses {
			if w := c.State.Waiting; w != nil {
				out = append(out, fmt.Sprintf("pod %s: %s %s", p.Name, w.Reason, w.Message))
			}
		}
	}
	if len(out) == 0 {
		return fmt.Sprintf("%d gitsync pods, none waiting for anything; see `kubectl -n %s logs deploy/gitsync`", len(pods.Items), Namespace)
	}
	return strings.Join(out, "; ") + " (behind a filtered network, point the image at a mirror with kustomize's images: in the overlay)"
}

// poll calls cond every second until it is true, up to the timeout; waited is whether the
// first call was not.
func (h *handover) poll(ctx context.Context, cond wait.ConditionWithContextFunc) (waited bool, err error) {
	calls := 0
	err = wait.PollUntilContextTimeout(ctx, time.Second, h.opts.Timeout, true, func(ctx context.Context) (bool, error) {
		calls++
		return cond(ctx)
	})
	if err != nil && ctx.Err() != nil {
		return true, errors.Join(err, ctx.Err())
	}
	return calls > 1, err
}

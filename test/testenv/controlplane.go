package testenv

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

//go:embed stages.yaml
var stagesYAML []byte

const (
	serviceIP    = "10.96.0.1" // first address of the service range below
	serviceRange = "10.96.0.0/16"
	podRange     = "10.244.0.0/16"
	// advertiseIP is what the apiserver would publish as the kubernetes
	// Service's endpoint. Nothing routes to it (TEST-NET-1) and, with the
	// endpoint reconciler off, nothing is published; it only has to be a
	// non-loopback address so start-up does not depend on a default route.
	advertiseIP = "192.0.2.1"

	// HoldAnnotation on a pod (template) keeps it Pending and unready.
	HoldAnnotation = "testenv.gitsync.io/hold"
)

// Options say what to start.
type Options struct {
	// Dir is the run directory: configuration, logs, PID files and etcd data.
	// Empty means a fresh temporary directory. Stop removes it.
	Dir string
	// BinDir holds the binaries; empty means BinDir().
	BinDir string
	// Workloads also starts kube-controller-manager, kube-scheduler and kwok,
	// and registers Nodes simulated Ready nodes, so Deployments become Available.
	Workloads bool
	// Nodes is the number of simulated nodes with Workloads; 0 means 1.
	Nodes int
	// Detach lets the components outlive the calling process; stop them with
	// StopDir. Otherwise they are killed when the caller exits.
	Detach bool
}

// Milestone is a point of the start-up, measured from its beginning.
type Milestone struct {
	Name  string
	After time.Duration
}

// ControlPlane is a running set of components.
type ControlPlane struct {
	// Dir is the run directory; Kubeconfig is the admin kubeconfig in it.
	Dir, Kubeconfig string
	// Config is the admin client configuration.
	Config *rest.Config
	// Milestones records how long start-up took to reach each stage.
	Milestones []Milestone

	opts   Options
	binDir string
	procs  []*process
}

// Start brings up a control plane and returns once it serves requests (and,
// with Workloads, once the nodes are Ready and the controllers work). On error
// everything started so far is stopped again.
func Start(ctx context.Context, opts Options) (*ControlPlane, error) {
	binDir := opts.BinDir
	if binDir == "" {
		var err error
		if binDir, err = BinDir(); err != nil {
			return nil, err
		}
	}
	if opts.Workloads && opts.Nodes == 0 {
		opts.Nodes = 1
	}
	dir := opts.Dir
	if dir == "" {
		var err error
		if dir, err = os.MkdirTemp("", runDirPrefix); err != nil {
			return nil, err
		}
	} else if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	cp := &ControlPlane{Dir: dir, Kubeconfig: filepath.Join(dir, "kubeconfig"), opts: opts, binDir: binDir}
	if err := cp.start(ctx); err != nil {
		cp.Stop()
		return nil, err
	}
	return cp, nil
}

func (cp *ControlPlane) start(ctx context.Context) error {
	began := time.Now()
	mark := func(name string) { cp.Milestones = append(cp.Milestones, Milestone{name, time.Since(began)}) }

	ports, err := freePorts(4)
	if err != nil {
		return err
	}
	etcdURL := "http://127.0.0.1:" + strconv.Itoa(ports[0])
	apiURL := "https://127.0.0.1:" + strconv.Itoa(ports[2])

	pki, err := writePKI(cp.Dir)
	if err != nil {
		return fmt.Errorf("write certificates: %w", err)
	}
	if err := cp.writeKubeconfig(apiURL, pki); err != nil {
		return err
	}

	etcd, err := cp.spawn("etcd",
		"--data-dir="+filepath.Join(cp.Dir, "etcd"),
		"--listen-client-url="+etcdURL,
		"--listen-peer-url=http://127.0.0.1:"+strconv.Itoa(ports[1]))
	if err != nil {
		return err
	}
	if err := cp.waitHTTP(ctx, etcd, http.DefaultClient, etcdURL+"/health"); err != nil {
		return err
	}
	mark("etcd healthy")

	apiserver, err := cp.spawn("kube-apiserver", cp.apiserverArgs(etcdURL, ports[2])...)
	if err != nil {
		return err
	}
	if cp.opts.Workloads {
		// These retry until the apiserver answers; starting them now overlaps
		// their start-up with the apiserver's.
		if err := cp.spawnControllers(ports[3]); err != nil {
			return err
		}
	}
	tlsClient, err := rest.HTTPClientFor(&rest.Config{TLSClientConfig: rest.TLSClientConfig{CAData: pki.caPEM}})
	if err != nil {
		return err
	}
	if err := cp.waitHTTP(ctx, apiserver, tlsClient, apiURL+"/readyz"); err != nil {
		return err
	}
	mark("apiserver ready")

	if !cp.opts.Workloads {
		return nil
	}
	cs, err := kubernetes.NewForConfig(cp.Config)
	if err != nil {
		return err
	}
	if err := cp.registerNodes(ctx, cs); err != nil {
		return err
	}
	mark("nodes Ready")
	if err := cp.poll(ctx, func() (bool, error) {
		_, err := cs.CoreV1().ServiceAccounts("default").Get(ctx, "default", metav1.GetOptions{})
		return err == nil, ignoreNotFound(err)
	}); err != nil {
		return fmt.Errorf("wait for the controller manager to create the default ServiceAccount: %w", err)
	}
	mark("controllers working")
	return nil
}

func (cp *ControlPlane) apiserverArgs(etcdURL string, port int) []string {
	f := func(name string) string { return filepath.Join(cp.Dir, name) }
	return []string{
		"--etcd-servers=" + etcdURL,
		"--bind-address=127.0.0.1",
		"--secure-port=" + strconv.Itoa(port),
		"--advertise-address=" + advertiseIP,
		"--endpoint-reconciler-type=none",
		"--tls-cert-file=" + f("apiserver.crt"),
		"--tls-private-key-file=" + f("apiserver.key"),
		"--token-auth-file=" + f("tokens.csv"),
		"--authorization-mode=RBAC",
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file=" + f("sa.pub"),
		"--service-account-signing-key-file=" + f("sa.key"),
		"--service-cluster-ip-range=" + serviceRange,
		"--allow-privileged=true",
		"--profiling=false",
	}
}

func (cp *ControlPlane) spawnControllers(kwokPort int) error {
	f := func(name string) string { return filepath.Join(cp.Dir, name) }
	if err := os.WriteFile(f("stages.yaml"), stagesYAML, 0o600); err != nil {
		return err
	}
	if _, err := cp.spawn("kube-controller-manager",
		"--kubeconfig="+cp.Kubeconfig,
		"--leader-elect=false",
		"--secure-port=0",
		"--controllers=*,-nodeipam", // kwok hands out pod IPs; no node CIDRs needed
		"--service-account-private-key-file="+f("sa.key"),
		"--root-ca-file="+f("ca.crt"),
		"--cluster-signing-cert-file="+f("ca.crt"),
		"--cluster-signing-key-file="+f("ca.key"),
		"--use-service-account-credentials=false",
		// client-go's 20 QPS would make kcm the bottleneck of every
		// test that creates many workloads; a real cluster scales this too.
		"--kube-api-qps=200", "--kube-api-burst=400",
		"--concurrent-deployment-syncs=10", "--concurrent-replicaset-syncs=10",
	); err != nil {
		return err
	}
	if _, err := cp.spawn("kube-scheduler",
		"--kubeconfig="+cp.Kubeconfig,
		"--leader-elect=false",
		"--secure-port=0",
		"--kube-api-qps=200", "--kube-api-burst=400",
	); err != nil {
		return err
	}
	_, err := cp.spawn("kwok",
		"--kubeconfig="+cp.Kubeconfig,
		"--config="+f("stages.yaml"),
		"--manage-nodes-with-label-selector=type=kwok",
		"--cidr="+podRange,
		"--node-ip=10.99.0.1",
		"--server-address=127.0.0.1:"+strconv.Itoa(kwokPort),
	)
	return err
}

// registerNodes creates the simulated nodes (kwok drives nodes but never
// creates them) and waits until kwok reports them Ready.
func (cp *ControlPlane) registerNodes(ctx context.Context, cs kubernetes.Interface) error {
	for i := range cp.opts.Nodes {
		name := fmt.Sprintf("kwok-node-%d", i)
		node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{
			Name: name,
			Labels: map[string]string{
				"type": "kwok", "kubernetes.io/hostname": name,
				"kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
			},
			Annotations: map[string]string{"kwok.x-k8s.io/node": "fake"},
		}}
		if _, err := cs.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("create Node %s: %w", name, err)
		}
		err := cp.poll(ctx, func() (bool, error) {
			n, err := cs.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return false, err
			}
			for _, c := range n.Status.Conditions {
				if c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue {
					return true, nil
				}
			}
			return false, nil
		})
		if err != nil {
			return fmt.Errorf("wait for Node %s to become Ready: %w", name, err)
		}
	}
	return nil
}

func (cp *ControlPlane) writeKubeconfig(apiURL string, p *pki) error {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["testenv"] = &clientcmdapi.Cluster{Server: apiURL, CertificateAuthority: filepath.Join(cp.Dir, "ca.crt")}
	cfg.AuthInfos["admin"] = &clientcmdapi.AuthInfo{Token: p.token}
	cfg.Contexts["testenv"] = &clientcmdapi.Context{Cluster: "testenv", AuthInfo: "admin"}
	cfg.CurrentContext = "testenv"
	if err := clientcmd.WriteToFile(*cfg, cp.Kubeconfig); err != nil {
		return err
	}
	cp.Config = &rest.Config{
		Host:            apiURL,
		BearerToken:     p.token,
		TLSClientConfig: rest.TLSClientConfig{CAData: p.caPEM},
		QPS:             200,
		Burst:           400,
	}
	return nil
}

// waitHTTP polls url until it answers 200, the process exits or ctx ends.
func (cp *ControlPlane) waitHTTP(ctx context.Context, p *process, c *http.Client, url string) error {
	return cp.poll(ctx, func() (bool, error) {
		select {
		case <-p.exited:
			return false, p.failure()
		default:
		}
		resp, err := c.Get(url)
		if err != nil {
			return false, nil
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, nil
	})
}

// poll runs cond every 50 ms until it is true or fails, any component exits,
// or ctx ends.
func (cp *ControlPlane) poll(ctx context.Context, cond func() (bool, error)) error {
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		for _, p := range cp.procs {
			select {
			case <-p.exited:
				return p.failure()
			default:
			}
		}
		done, err := cond()
		if err != nil || done {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// Stop stops every component, newest first, and removes the run directory.
func (cp *ControlPlane) Stop() {
	for i := len(cp.procs) - 1; i >= 0; i-- {
		stopPID(cp.procs[i].cmd.Process.Pid, 5*time.Second)
		<-cp.procs[i].exited
	}
	cp.procs = nil
	_ = os.RemoveAll(cp.Dir)
}

// RSS returns the resident memory of each running component, in start order.
func (cp *ControlPlane) RSS() []ProcessRSS {
	out := make([]ProcessRSS, 0, len(cp.procs))
	for _, p := range cp.procs {
		out = append(out, ProcessRSS{Name: p.name, Bytes: rssBytes(p.cmd.Process.Pid)})
	}
	return out
}

// ProcessRSS is the resident memory of one component.
type ProcessRSS struct {
	Name  string
	Bytes int64
}

// Report is a two-line summary of the start-up milestones and memory use.
func (cp *ControlPlane) Report() string {
	var b strings.Builder
	b.WriteString("start:")
	for _, m := range cp.Milestones {
		fmt.Fprintf(&b, " %s %.2fs;", m.Name, m.After.Seconds())
	}
	b.WriteString("\nrss:")
	var total int64
	for _, r := range cp.RSS() {
		total += r.Bytes
		fmt.Fprintf(&b, " %s %d MiB;", r.Name, r.Bytes>>20)
	}
	fmt.Fprintf(&b, " total %d MiB", total>>20)
	return b.String()
}

// StopDir stops the components of a detached control plane by the PID files in
// its run directory and removes the directory. A directory without a running
// plane is simply removed.
func StopDir(dir string) error {
	for i := len(componentOrder) - 1; i >= 0; i-- {
		pidFile := filepath.Join(dir, componentOrder[i]+".pid")
		data, err := os.ReadFile(pidFile)
		if errors.Is(err, os.ErrNotExist) {
			continue
		} else if err != nil {
			return err
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
		if err != nil {
			return fmt.Errorf("%s: %w", pidFile, err)
		}
		if alive(pid) && isComponent(pid, componentOrder[i]) {
			stopPID(pid, 5*time.Second)
		}
	}
	return os.RemoveAll(dir)
}

// componentOrder is the start order; StopDir stops in reverse.
var componentOrder = []string{"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok"}

// isComponent guards against a PID file outliving its process and the PID
// being reused by something else.
func isComponent(pid int, name string) bool {
	exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
	return err == nil && filepath.Base(strings.TrimSuffix(exe, " (deleted)")) == name
}

// freePorts reserves n distinct loopback ports and releases them for the
// components to bind. Another process could take one in between; Start then
// fails with the component's bind error and the caller may retry.
func freePorts(n int) ([]int, error) {
	ports := make([]int, 0, n)
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		defer l.Close()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

func ignoreNotFound(err error) error {
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

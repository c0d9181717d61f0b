package bootstrap

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"
	kjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"
)

// ClusterAPIVersion and ClusterKind identify a cluster file.
const (
	ClusterAPIVersion = "gitsync.io/v1alpha1"
	ClusterKind       = "Cluster"
)

// Defaults of the cluster file. DefaultPodSubnet is also Calico's IP pool in
// manifests/calico and kind-config.yaml's podSubnet (a test compares them):
// never Calico's sample 192.168.0.0/16, the LAN of most homes and offices.
const (
	DefaultKubernetesVersion = "v1.36.4"
	DefaultPodSubnet         = "10.244.0.0/16"
	DefaultServiceSubnet     = "10.96.0.0/12"
	DefaultContainerd        = "2.3.7" // the long-term support line, for Kubernetes 1.36 and 1.37
	DefaultImageRepository   = "registry.k8s.io"
	DefaultClusterName       = "kubernetes"
	DefaultSSHPort           = 22
	DefaultAPIServerPort     = 6443
)

// Role is what a node is in the cluster.
type Role string

const (
	ControlPlane Role = "control-plane"
	Worker       Role = "worker"
)

// Cluster is the file `gitsync bootstrap --config` reads: the machines, the
// versions and networks of the cluster to make of them, where to download
// from, and the repository the cluster then syncs itself from.
type Cluster struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	// Name is the cluster's name in kubeadm and in the kubeconfig; default kubernetes.
	Name string `json:"name,omitempty"`
	// KubernetesVersion is vMAJOR.MINOR.PATCH; its minor selects the package repository.
	KubernetesVersion string `json:"kubernetesVersion,omitempty"`
	// ControlPlaneEndpoint is host[:port], a DNS name or virtual IP in front of the
	// control planes. Required with more than one control plane; set it from day
	// one if you may add more later (kubeadm cannot add it afterwards).
	ControlPlaneEndpoint string `json:"controlPlaneEndpoint,omitempty"`
	PodSubnet            string `json:"podSubnet,omitempty"`
	ServiceSubnet        string `json:"serviceSubnet,omitempty"`
	// Containerd is the containerd 2.x release installed on every node.
	Containerd ContainerdConfig `json:"containerd,omitempty"`
	// Kubelet tunes the kubelet of every node.
	Kubelet KubeletConfig `json:"kubelet,omitempty"`
	// KubeProxy tunes kube-proxy.
	KubeProxy KubeProxyConfig `json:"kubeProxy,omitempty"`
	// ImageRepository is where kubeadm pulls the control-plane images (and the
	// pause image) from; default registry.k8s.io.
	ImageRepository string `json:"imageRepository,omitempty"`
	// Mirrors point downloads at regional or in-house mirrors.
	Mirrors Mirrors `json:"mirrors,omitempty"`
	// SSH are the defaults of every node's connection.
	SSH   SSHConfig `json:"ssh,omitempty"`
	Nodes []Node    `json:"nodes"`
	// GitOps is the repository the cluster syncs itself from once it is up.
	GitOps GitOpsConfig `json:"gitops"`
}

// ContainerdConfig pins the container runtime.
type ContainerdConfig struct {
	Version string `json:"version,omitempty"`
	// RestrictOOMScoreAdj makes containerd raise an oom_score_adj below its own to its own
	// (restrict_oom_score_adj): for nodes that cannot lower one, such as machines that are
	// themselves containers (LXC, Proxmox, rootless). runc fails every container there with
	// "failed to update /proc/self/oom_score_adj: Permission denied" without it.
	RestrictOOMScoreAdj bool `json:"restrictOOMScoreAdj,omitempty"`
}

// KubeletConfig is what gitsync puts into kubeadm's KubeletConfiguration.
type KubeletConfig struct {
	// AllowCgroupV1 runs the kubelet on machines booted with cgroup v1 (CentOS 7 and 8,
	// Rocky 8, Ubuntu before 21.10): failCgroupV1: false, and kubeadm's preflight skips
	// SystemVerification, which refuses cgroup v1 from Kubernetes 1.35. Kubernetes may remove
	// cgroup v1 support after 1.37; booting with systemd.unified_cgroup_hierarchy=1 is the
	// lasting fix.
	AllowCgroupV1 bool `json:"allowCgroupV1,omitempty"`
	// CgroupDriver is systemd (the default, as kubeadm has it) or cgroupfs; containerd's runc
	// gets the same.
	CgroupDriver string `json:"cgroupDriver,omitempty"`
	// Config holds more KubeletConfiguration fields (kubelet.config.k8s.io/v1beta1), as
	// written there: {maxPods: 250, serializeImagePulls: false}. kubeadm validates them.
	Config map[string]any `json:"config,omitempty"`
}

// KubeProxyConfig is what gitsync puts into kubeadm's KubeProxyConfiguration.
type KubeProxyConfig struct {
	// Config holds KubeProxyConfiguration fields (kubeproxy.config.k8s.io/v1alpha1), as
	// written there: {mode: nftables}. kubeadm validates them.
	Config map[string]any `json:"config,omitempty"`
}

// Mirrors replace download locations. Each is a URL prefix.
type Mirrors struct {
	// Apt replaces the Debian or Ubuntu archive in the nodes' apt sources.
	Apt string `json:"apt,omitempty"`
	// Kubernetes replaces https://pkgs.k8s.io/core:/stable: : kubeadm, kubelet and
	// kubectl come from <kubernetes>/v1.MINOR/deb/ (a flat apt repository), signed by
	// <kubernetes>/v1.MINOR/deb/Release.key. gitsync fetches that key itself, from the
	// machine it runs on, and the nodes' apt fetches the packages, so both must reach it.
	Kubernetes string `json:"kubernetes,omitempty"`
	// Containerd replaces https://github.com/containerd/containerd/releases/download
	// (<mirror>/v<version>/containerd-<version>-linux-<arch>.tar.gz and its .sha256sum).
	// runc comes from the same mirror: beside it at …/opencontainers/runc/releases/download
	// when the URL ends in /containerd/containerd/releases/download (a mirror of GitHub's
	// releases), else at <mirror>/runc/v<runc>/runc.<arch> with runc.sha256sum. gitsync
	// downloads them itself and uploads them to the nodes.
	Containerd string `json:"containerd,omitempty"`
	// Registries send image pulls to mirrors, by registry host: {docker.io:
	// https://mirror.example.cn}. containerd tries the mirror first and the registry itself
	// after it (hosts.toml in /etc/containerd/certs.d). An http:// mirror is pulled from
	// without TLS. This covers every image: kubeadm's (without changing imageRepository),
	// Calico's from quay.io and docker.io, gitsync's from ghcr.io.
	Registries map[string]string `json:"registries,omitempty"`
}

// SSHConfig is how to log in to a node.
type SSHConfig struct {
	User string `json:"user,omitempty"`
	Port int    `json:"port,omitempty"`
	// KeyFile is a private key; Agent signs with the agent at $SSH_AUTH_SOCK instead.
	KeyFile string `json:"keyFile,omitempty"`
	Agent   bool   `json:"agent,omitempty"`
	// KnownHostsFile verifies host keys; default ~/.ssh/known_hosts.
	KnownHostsFile string `json:"knownHostsFile,omitempty"`
}

// Node is one machine.
type Node struct {
	// Name becomes the node's hostname and Kubernetes node name.
	Name string `json:"name"`
	// Address is the IP the node is reached at and advertises.
	Address string `json:"address"`
	Role    Role   `json:"role"`
	// SSH overrides the cluster's SSH defaults for this node.
	SSH SSHConfig `json:"ssh,omitempty"`
}

// GitOpsConfig is what gitsync, installed into the cluster, syncs.
type GitOpsConfig struct {
	Repo string `json:"repo"`
	Ref  string `json:"ref,omitempty"`
	// Path is the cluster overlay, gitsync's install and its configuration; default
	// overlays/cluster.
	Path string `json:"path,omitempty"`
	// CalicoPath is the CNI, synced before anything else; default manifests/calico.
	CalicoPath string `json:"calicoPath,omitempty"`
}

// ownedBy names the cluster-file setting behind a configuration field gitsync sets itself.
var ownedBy = map[string]string{
	"cgroupDriver": " from kubelet.cgroupDriver",
	"failCgroupV1": " from kubelet.allowCgroupV1",
	"clusterCIDR":  " from podSubnet",
}

// registryHost is a registry's host[:port], as image names start with it.
var registryHost = regexp.MustCompile(`^[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:[0-9]{1,5})?$`)

// LoadCluster reads, defaults and validates a cluster file. Every error names
// the file and the field.
func LoadCluster(path string) (*Cluster, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	c, err := ParseCluster(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// ParseCluster decodes a cluster file strictly (unknown and repeated fields
// are errors), fills in the defaults and validates it.
func ParseCluster(data []byte) (*Cluster, error) {
	j, err := yaml.YAMLToJSONStrict(data)
	if err != nil {
		return nil, fmt.Errorf("invalid YAML: %w", err)
	}
	var c Cluster
	strict, err := kjson.UnmarshalStrict(j, &c, kjson.DisallowDuplicateFields, kjson.DisallowUnknownFields)
	if err != nil {
		return nil, fmt.Errorf("invalid cluster file: %w", err)
	}
	if err := errors.Join(strict...); err != nil {
		return nil, err
	}
	c.setDefaults()
	if err := c.validate(); err != nil {
		return nil, err
	}
	return &c, nil
}

func (c *Cluster) setDefaults() {
	def := func(s *string, v string) {
		if *s == "" {
			*s = v
		}
	}
	def(&c.Name, DefaultClusterName)
	def(&c.KubernetesVersion, DefaultKubernetesVersion)
	def(&c.PodSubnet, DefaultPodSubnet)
	def(&c.ServiceSubnet, DefaultServiceSubnet)
	def(&c.Containerd.Version, DefaultContainerd)
	def(&c.Kubelet.CgroupDriver, "systemd")
	def(&c.ImageRepository, DefaultImageRepository)
	def(&c.GitOps.Ref, "main")
	def(&c.GitOps.Path, "overlays/cluster")
	def(&c.GitOps.CalicoPath, "manifests/calico")
	if c.SSH.Port == 0 {
		c.SSH.Port = DefaultSSHPort
	}
	def(&c.SSH.User, "root")
	for i := range c.Nodes {
		n := &c.Nodes[i]
		def(&n.SSH.User, c.SSH.User)
		def(&n.SSH.KeyFile, c.SSH.KeyFile)
		def(&n.SSH.KnownHostsFile, c.SSH.KnownHostsFile)
		n.SSH.Agent = n.SSH.Agent || c.SSH.Agent
		if n.SSH.Port == 0 {
			n.SSH.Port = c.SSH.Port
		}
	}
}

var (
	kubernetesVersion = regexp.MustCompile(`^v1\.(\d+)\.(\d+)$`)
	containerdVersion = regexp.MustCompile(`^2\.\d+\.\d+$`)
)

// validate checks the defaulted file. Each message names the field and what to write.
func (c *Cluster) validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", field, fmt.Sprintf(format, args...)))
	}
	if c.APIVersion != ClusterAPIVersion || c.Kind != ClusterKind {
		bad("apiVersion/kind", "%q/%q, want %s/%s", c.APIVersion, c.Kind, ClusterAPIVersion, ClusterKind)
	}
	if m := kubernetesVersion.FindStringSubmatch(c.KubernetesVersion); m == nil {
		bad("kubernetesVersion", "%q, want vMAJOR.MINOR.PATCH, e.g. %s", c.KubernetesVersion, DefaultKubernetesVersion)
	} else if minor, _ := strconv.Atoi(m[1]); minor < 34 {
		bad("kubernetesVersion", "%s is out of support; gitsync bootstraps 1.34 and newer (kubeadm v1beta4, containerd 2)", c.KubernetesVersion)
	}
	if !containerdVersion.MatchString(c.Containerd.Version) {
		bad("containerd.version", "%q, want a containerd 2.x release such as %s (1.x is deprecated for Kubernetes 1.34+)", c.Containerd.Version, DefaultContainerd)
	}
	if d := c.Kubelet.CgroupDriver; d != "systemd" && d != "cgroupfs" {
		bad("kubelet.cgroupDriver", "%q, want systemd or cgroupfs", d)
	}
	for _, key := range []string{"apiVersion", "kind", "cgroupDriver", "failCgroupV1"} {
		if _, ok := c.Kubelet.Config[key]; ok {
			bad("kubelet.config."+key, "set by gitsync%s; remove it", ownedBy[key])
		}
	}
	for _, key := range []string{"apiVersion", "kind", "clusterCIDR"} {
		if _, ok := c.KubeProxy.Config[key]; ok {
			bad("kubeProxy.config."+key, "set by gitsync%s; remove it", ownedBy[key])
		}
	}
	pods, perr := netip.ParsePrefix(c.PodSubnet)
	if perr != nil || pods.Masked() != pods {
		bad("podSubnet", "%q is not a CIDR such as %s", c.PodSubnet, DefaultPodSubnet)
	}
	services, serr := netip.ParsePrefix(c.ServiceSubnet)
	if serr != nil || services.Masked() != services {
		bad("serviceSubnet", "%q is not a CIDR such as %s", c.ServiceSubnet, DefaultServiceSubnet)
	}
	if perr == nil && serr == nil && pods.Overlaps(services) {
		bad("serviceSubnet", "%s overlaps podSubnet %s", services, pods)
	}
	for field, u := range map[string]string{"mirrors.apt": c.Mirrors.Apt, "mirrors.kubernetes": c.Mirrors.Kubernetes, "mirrors.containerd": c.Mirrors.Containerd} {
		if u != "" && !isHTTPURL(u) {
			bad(field, "%q is not an http:// or https:// URL", u)
		}
	}
	for registry, mirror := range c.Mirrors.Registries {
		field := fmt.Sprintf("mirrors.registries[%q]", registry)
		if !registryHost.MatchString(registry) {
			bad(field, "want a registry host such as docker.io or registry.example.org:5000, without a scheme or path")
		}
		if !isHTTPURL(mirror) {
			bad(field, "%q is not an http:// or https:// URL", mirror)
		}
	}
	if c.ControlPlaneEndpoint != "" {
		if _, _, err := splitEndpoint(c.ControlPlaneEndpoint); err != nil {
			bad("controlPlaneEndpoint", "%q: %v; want host[:port], a DNS name or virtual IP", c.ControlPlaneEndpoint, err)
		}
	}
	errs = append(errs, c.validateNodes(pods, services)...)
	if c.GitOps.Repo == "" {
		bad("gitops.repo", "required: the repository the cluster syncs itself from")
	}
	return errors.Join(errs...)
}

func (c *Cluster) validateNodes(pods, services netip.Prefix) []error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", field, fmt.Sprintf(format, args...)))
	}
	if len(c.Nodes) == 0 {
		bad("nodes", "at least one control-plane node is required")
	}
	names, addresses := map[string]bool{}, map[string]bool{}
	controlPlanes := 0
	for i, n := range c.Nodes {
		field := fmt.Sprintf("nodes[%d]", i)
		if errs := validation.IsDNS1123Subdomain(n.Name); len(errs) > 0 {
			bad(field+".name", "%q: %s (it becomes the hostname and the node's name)", n.Name, errs[0])
		} else if names[n.Name] {
			bad(field+".name", "%q is used twice", n.Name)
		}
		names[n.Name] = true
		addr, err := netip.ParseAddr(n.Address)
		switch {
		case err != nil:
			bad(field+".address", "%q is not an IP address", n.Address)
		case addresses[n.Address]:
			bad(field+".address", "%s is used twice", n.Address)
		case pods.IsValid() && pods.Contains(addr):
			bad(field+".address", "%s is inside podSubnet %s: choose a podSubnet that does not overlap the nodes' network", addr, pods)
		case services.IsValid() && services.Contains(addr):
			bad(field+".address", "%s is inside serviceSubnet %s", addr, services)
		}
		addresses[n.Address] = true
		switch n.Role {
		case ControlPlane:
			controlPlanes++
		case Worker:
		default:
			bad(field+".role", "%q, want control-plane or worker", n.Role)
		}
		if n.SSH.Port < 1 || n.SSH.Port > 65535 {
			bad(field+".ssh.port", "%d is not a port", n.SSH.Port)
		}
		if n.SSH.KeyFile == "" && !n.SSH.Agent {
			bad(field+".ssh", "give keyFile or agent: true (passwords are not used for logging in)")
		}
	}
	switch {
	case len(c.Nodes) > 0 && controlPlanes == 0:
		bad("nodes", "no node has role control-plane")
	case controlPlanes > 1 && c.ControlPlaneEndpoint == "":
		bad("controlPlaneEndpoint", "required with %d control planes: a DNS name or virtual IP in front of them", controlPlanes)
	}
	return errs
}

// ControlPlanes returns the control-plane nodes, the first being the one kubeadm init runs on.
func (c *Cluster) ControlPlanes() []Node { return c.withRole(ControlPlane) }

// Workers returns the worker nodes.
func (c *Cluster) Workers() []Node { return c.withRole(Worker) }

func (c *Cluster) withRole(r Role) []Node {
	var out []Node
	for _, n := range c.Nodes {
		if n.Role == r {
			out = append(out, n)
		}
	}
	return out
}

// Endpoint is where nodes and clients reach the API server: the
// controlPlaneEndpoint, else the first control plane, with the port.
func (c *Cluster) Endpoint() string {
	if c.ControlPlaneEndpoint == "" {
		return net.JoinHostPort(c.ControlPlanes()[0].Address, strconv.Itoa(DefaultAPIServerPort))
	}
	host, port, _ := splitEndpoint(c.ControlPlaneEndpoint)
	return net.JoinHostPort(host, strconv.Itoa(port))
}

// Minor is the Kubernetes minor version, "v1.36".
func (c *Cluster) Minor() string {
	parts := strings.SplitN(c.KubernetesVersion, ".", 3)
	return parts[0] + "." + parts[1]
}

func splitEndpoint(s string) (string, int, error) {
	host, portText, err := net.SplitHostPort(s)
	if err != nil {
		host, portText = s, strconv.Itoa(DefaultAPIServerPort)
	}
	port, err := strconv.Atoi(portText)
	if err != nil || port < 1 || port > 65535 {
		return "", 0, fmt.Errorf("port %q", portText)
	}
	if _, err := netip.ParseAddr(host); err != nil && len(validation.IsDNS1123Subdomain(host)) > 0 {
		return "", 0, fmt.Errorf("host %q is neither an IP address nor a DNS name", host)
	}
	return host, port, nil
}

func isHTTPURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}

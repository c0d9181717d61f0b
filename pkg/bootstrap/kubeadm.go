package bootstrap

import (
	"bytes"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"

	"sigs.k8s.io/yaml"
)

// The kubeadm configuration gitsync writes, kubeadm.k8s.io/v1beta4 (kubeadm 1.31+). These
// are the few fields gitsync sets, with the names and JSON tags of kubeadm's own types
// (k8s.io/kubernetes/cmd/kubeadm/app/apis/kubeadm/v1beta4, Apache-2.0), which cannot be
// imported without k8s.io/kubernetes. `kubeadm config validate` on the node, and in the tests,
// is the check that they say what kubeadm reads.

const kubeadmAPIVersion = "kubeadm.k8s.io/v1beta4"

type typeMeta struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
}

type initConfiguration struct {
	typeMeta         `json:",inline"`
	BootstrapTokens  []bootstrapToken        `json:"bootstrapTokens,omitempty"`
	NodeRegistration nodeRegistrationOptions `json:"nodeRegistration"`
	LocalAPIEndpoint apiEndpoint             `json:"localAPIEndpoint"`
	CertificateKey   string                  `json:"certificateKey,omitempty"`
	Timeouts         *timeouts               `json:"timeouts,omitempty"`
}

type bootstrapToken struct {
	Token       string   `json:"token"`
	Description string   `json:"description,omitempty"`
	TTL         string   `json:"ttl,omitempty"`
	Usages      []string `json:"usages,omitempty"`
	Groups      []string `json:"groups,omitempty"`
}

type nodeRegistrationOptions struct {
	Name                  string   `json:"name"`
	CRISocket             string   `json:"criSocket"`
	ImagePullPolicy       string   `json:"imagePullPolicy,omitempty"`
	KubeletExtraArgs      []arg    `json:"kubeletExtraArgs,omitempty"`
	IgnorePreflightErrors []string `json:"ignorePreflightErrors,omitempty"`
	// Taints nil keeps kubeadm's default (control planes: NoSchedule); empty means none.
	Taints *[]taint `json:"taints,omitempty"`
}

type taint struct {
	Key    string `json:"key"`
	Effect string `json:"effect"`
}

// arg is v1beta4's form of extra arguments: a list of name/value pairs, not a map.
type arg struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

type apiEndpoint struct {
	AdvertiseAddress string `json:"advertiseAddress"`
	BindPort         int    `json:"bindPort"`
}

type timeouts struct {
	ControlPlaneComponentHealthCheck string `json:"controlPlaneComponentHealthCheck,omitempty"`
	Discovery                        string `json:"discovery,omitempty"`
	TLSBootstrap                     string `json:"tlsBootstrap,omitempty"`
}

type clusterConfiguration struct {
	typeMeta             `json:",inline"`
	ClusterName          string     `json:"clusterName"`
	KubernetesVersion    string     `json:"kubernetesVersion"`
	ControlPlaneEndpoint string     `json:"controlPlaneEndpoint"`
	ImageRepository      string     `json:"imageRepository"`
	Networking           networking `json:"networking"`
	APIServer            apiServer  `json:"apiServer"`
}

type networking struct {
	PodSubnet     string `json:"podSubnet"`
	ServiceSubnet string `json:"serviceSubnet"`
	DNSDomain     string `json:"dnsDomain"`
}

type apiServer struct {
	CertSANs []string `json:"certSANs,omitempty"`
}

// kubeletAPIVersion and kubeProxyAPIVersion are the component configurations kubeadm v1beta4
// reads beside its own.
const (
	kubeletAPIVersion   = "kubelet.config.k8s.io/v1beta1"
	kubeProxyAPIVersion = "kubeproxy.config.k8s.io/v1alpha1"
)

type joinConfiguration struct {
	typeMeta         `json:",inline"`
	Discovery        discovery               `json:"discovery"`
	NodeRegistration nodeRegistrationOptions `json:"nodeRegistration"`
	ControlPlane     *joinControlPlane       `json:"controlPlane,omitempty"`
	Timeouts         *timeouts               `json:"timeouts,omitempty"`
}

type discovery struct {
	BootstrapToken bootstrapTokenDiscovery `json:"bootstrapToken"`
}

type bootstrapTokenDiscovery struct {
	APIServerEndpoint string   `json:"apiServerEndpoint"`
	Token             string   `json:"token"`
	CACertHashes      []string `json:"caCertHashes"`
}

type joinControlPlane struct {
	LocalAPIEndpoint apiEndpoint `json:"localAPIEndpoint"`
	CertificateKey   string      `json:"certificateKey"`
}

// CRISocket is containerd's socket, where kubeadm and the kubelet find the runtime.
const CRISocket = "unix:///var/run/containerd/containerd.sock"

// Secrets are what joining the cluster takes: a bootstrap token, the hash of the cluster CA's
// public key (known once kubeadm init made the CA), and for more control planes the key that
// encrypts the certificates kubeadm uploads. gitsync makes them itself rather than parse them
// out of kubeadm's output.
type Secrets struct {
	// Token is a bootstrap token, [a-z0-9]{6}.[a-z0-9]{16}.
	Token string
	// CertificateKey is 32 random bytes, hex-encoded; set only with several control planes.
	CertificateKey string
	// CACertHash is "sha256:<hex>" of the CA certificate's SubjectPublicKeyInfo.
	CACertHash string
}

// InitConfig is the kubeadm configuration of `kubeadm init` on the first control plane.
func (c *Cluster) InitConfig(s Secrets) ([]byte, error) {
	first := c.ControlPlanes()[0]
	init := initConfiguration{
		typeMeta: typeMeta{kubeadmAPIVersion, "InitConfiguration"},
		BootstrapTokens: []bootstrapToken{{
			Token: s.Token, Description: "gitsync bootstrap: joins the nodes of the cluster file", TTL: "2h0m0s",
			Usages: []string{"signing", "authentication"}, Groups: []string{"system:bootstrappers:kubeadm:default-node-token"},
		}},
		NodeRegistration: c.registration(first),
		LocalAPIEndpoint: apiEndpoint{AdvertiseAddress: first.Address, BindPort: DefaultAPIServerPort},
		CertificateKey:   s.CertificateKey,
		Timeouts:         &timeouts{ControlPlaneComponentHealthCheck: "4m0s"},
	}
	cluster := clusterConfiguration{
		typeMeta:             typeMeta{kubeadmAPIVersion, "ClusterConfiguration"},
		ClusterName:          c.Name,
		KubernetesVersion:    c.KubernetesVersion,
		ControlPlaneEndpoint: c.Endpoint(),
		ImageRepository:      c.ImageRepository,
		Networking:           networking{PodSubnet: c.PodSubnet, ServiceSubnet: c.ServiceSubnet, DNSDomain: "cluster.local"},
		APIServer:            apiServer{CertSANs: c.certSANs()},
	}
	docs := []any{init, cluster, c.kubeletConfiguration()}
	if len(c.KubeProxy.Config) > 0 {
		docs = append(docs, component(kubeProxyAPIVersion, "KubeProxyConfiguration", c.KubeProxy.Config))
	}
	return documents(docs...)
}

// kubeletConfiguration is the cluster file's kubelet.config with the fields gitsync owns:
// the cgroup driver, and failCgroupV1 on cgroup v1 machines. kubeadm uploads it for the nodes
// that join.
func (c *Cluster) kubeletConfiguration() map[string]any {
	k := component(kubeletAPIVersion, "KubeletConfiguration", c.Kubelet.Config)
	k["cgroupDriver"] = c.Kubelet.CgroupDriver
	if c.Kubelet.AllowCgroupV1 {
		k["failCgroupV1"] = false
	}
	return k
}

// component is a component configuration document: fields under apiVersion and kind.
func component(apiVersion, kind string, fields map[string]any) map[string]any {
	doc := map[string]any{"apiVersion": apiVersion, "kind": kind}
	for k, v := range fields {
		doc[k] = v
	}
	return doc
}

// JoinConfig is the kubeadm configuration of `kubeadm join` on node: a worker, or with the
// certificate key another control plane.
func (c *Cluster) JoinConfig(node Node, s Secrets) ([]byte, error) {
	if s.CACertHash == "" {
		return nil, errors.New("join configuration: the CA certificate hash is not known yet")
	}
	join := joinConfiguration{
		typeMeta: typeMeta{kubeadmAPIVersion, "JoinConfiguration"},
		Discovery: discovery{BootstrapToken: bootstrapTokenDiscovery{
			APIServerEndpoint: c.Endpoint(), Token: s.Token, CACertHashes: []string{s.CACertHash},
		}},
		NodeRegistration: c.registration(node),
		Timeouts:         &timeouts{Discovery: "5m0s", TLSBootstrap: "5m0s"},
	}
	if node.Role == ControlPlane {
		if s.CertificateKey == "" {
			return nil, fmt.Errorf("join configuration of control plane %s: no certificate key", node.Name)
		}
		join.ControlPlane = &joinControlPlane{
			LocalAPIEndpoint: apiEndpoint{AdvertiseAddress: node.Address, BindPort: DefaultAPIServerPort},
			CertificateKey:   s.CertificateKey,
		}
	}
	return documents(join)
}

// registration names the node and pins the kubelet to the node's address: with several
// network interfaces the kubelet would otherwise pick the default route's. Without workers
// the control planes run the workloads, so they are not tainted. On cgroup v1 machines
// (kubelet.allowCgroupV1) init and join skip the preflight check that refuses them.
func (c *Cluster) registration(n Node) nodeRegistrationOptions {
	r := nodeRegistrationOptions{
		Name: n.Name, CRISocket: CRISocket, ImagePullPolicy: "IfNotPresent",
		KubeletExtraArgs: []arg{{Name: "node-ip", Value: n.Address}},
	}
	if c.Kubelet.AllowCgroupV1 {
		// The check that refuses cgroup v1 for kubelet 1.35+; its other checks go with it.
		r.IgnorePreflightErrors = []string{"SystemVerification"}
	}
	if n.Role == ControlPlane && len(c.Workers()) == 0 {
		r.Taints = &[]taint{}
	}
	return r
}

// certSANs are the names the API server's certificate holds besides kubeadm's own: every
// control plane's address and name, and the endpoint's host.
func (c *Cluster) certSANs() []string {
	var sans []string
	if c.ControlPlaneEndpoint != "" {
		host, _, _ := splitEndpoint(c.ControlPlaneEndpoint)
		sans = append(sans, host)
	}
	for _, n := range c.ControlPlanes() {
		sans = append(sans, n.Address, n.Name)
	}
	return sans
}

func documents(docs ...any) ([]byte, error) {
	var buf bytes.Buffer
	for i, d := range docs {
		y, err := yaml.Marshal(d)
		if err != nil {
			return nil, err
		}
		if i > 0 {
			buf.WriteString("---\n")
		}
		buf.Write(y)
	}
	return buf.Bytes(), nil
}

// CACertHash is the discovery hash of a CA certificate (PEM), as `kubeadm join
// --discovery-token-ca-cert-hash` takes it: sha256 of its SubjectPublicKeyInfo.
func CACertHash(caPEM []byte) (string, error) {
	block, _ := pem.Decode(caPEM)
	if block == nil || block.Type != "CERTIFICATE" {
		return "", errors.New("CA certificate: no PEM CERTIFICATE block")
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return "", fmt.Errorf("CA certificate: %w", err)
	}
	sum := sha256.Sum256(cert.RawSubjectPublicKeyInfo)
	return "sha256:" + hex.EncodeToString(sum[:]), nil
}

package bootstrap

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const minimal = `apiVersion: gitsync.io/v1alpha1
kind: Cluster
ssh: {keyFile: /keys/id}
nodes:
- {name: cp1, address: 198.18.0.10, role: control-plane}
- {name: w1, address: 198.18.0.11, role: worker}
gitops: {repo: https://git.example.org/ops/cluster.git}
`

func TestTheExampleClusterFileIsValid(t *testing.T) {
	c, err := LoadCluster("../../cluster.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	got := []string{c.Name, c.KubernetesVersion, c.Endpoint(), c.PodSubnet, c.Nodes[2].Address, c.Nodes[2].SSH.User}
	want := []string{"home", "v1.36.4", "k8s-api.home.arpa:6443", "10.244.0.0/16", "192.168.1.62", "deploy"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("example (-want +got):\n%s", diff)
	}
}

func TestClusterDefaults(t *testing.T) {
	c, err := ParseCluster([]byte(minimal))
	if err != nil {
		t.Fatal(err)
	}
	got := []any{c.Name, c.KubernetesVersion, c.PodSubnet, c.ServiceSubnet, c.Containerd.Version, c.ImageRepository,
		c.Endpoint(), c.Minor(), c.GitOps.Ref, c.GitOps.Path, c.Nodes[1].SSH.User, c.Nodes[1].SSH.Port, c.Nodes[1].SSH.KeyFile}
	want := []any{"kubernetes", DefaultKubernetesVersion, "10.244.0.0/16", "10.96.0.0/12", DefaultContainerd, "registry.k8s.io",
		"198.18.0.10:6443", "v1.36", "main", "overlays/cluster", "root", 22, "/keys/id"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("defaults (-want +got):\n%s", diff)
	}
}

// Every bad cluster file gives errors naming the field and what to write.
func TestBadClusterFiles(t *testing.T) {
	for _, tc := range []struct {
		name, replace, with string
		want                []string
	}{
		{"an unknown field", "ssh: {keyFile: /keys/id}", "ssh: {keyFile: /keys/id, keyfile: x}", []string{`unknown field "ssh.keyfile"`}},
		{"a field given twice", "kind: Cluster\n", "kind: Cluster\nkind: Cluster\n", []string{`line 3: key "kind" already set`}},
		{"a wrong kind", "kind: Cluster", "kind: Config", []string{"apiVersion/kind", "gitsync.io/v1alpha1/Cluster"}},
		{"an old Kubernetes", "kind: Cluster\n", "kind: Cluster\nkubernetesVersion: v1.29.0\n", []string{"kubernetesVersion: v1.29.0 is out of support"}},
		{"a version without v", "kind: Cluster\n", "kind: Cluster\nkubernetesVersion: 1.36.4\n", []string{`kubernetesVersion: "1.36.4", want vMAJOR.MINOR.PATCH`}},
		{"containerd 1.7", "kind: Cluster\n", "kind: Cluster\ncontainerd: {version: 1.7.24}\n", []string{"containerd.version", "2.x"}},
		{"a pod subnet that is not a CIDR", "kind: Cluster\n", "kind: Cluster\npodSubnet: 10.244.0.0\n", []string{"podSubnet", "not a CIDR"}},
		{"overlapping subnets", "kind: Cluster\n", "kind: Cluster\npodSubnet: 10.96.0.0/16\n", []string{"serviceSubnet: 10.96.0.0/12 overlaps podSubnet"}},
		{"nodes inside the pod subnet (Calico's sample pool on a home LAN)", "kind: Cluster\n", "kind: Cluster\npodSubnet: 198.18.0.0/16\n",
			[]string{"nodes[0].address: 198.18.0.10 is inside podSubnet 198.18.0.0/16", "nodes[1].address"}},
		{"a node name that cannot be a hostname", "name: w1", "name: W_1", []string{"nodes[1].name", "W_1"}},
		{"the same name twice", "name: w1", "name: cp1", []string{`nodes[1].name: "cp1" is used twice`}},
		{"the same address twice", "198.18.0.11", "198.18.0.10", []string{"nodes[1].address: 198.18.0.10 is used twice"}},
		{"an address that is not an IP", "198.18.0.11", "node1.lan", []string{`nodes[1].address: "node1.lan" is not an IP address`}},
		{"a wrong role", "role: worker", "role: master", []string{`nodes[1].role: "master", want control-plane or worker`}},
		{"no control plane", "role: control-plane", "role: worker", []string{"no node has role control-plane"}},
		{"two control planes without an endpoint", "role: worker", "role: control-plane", []string{"controlPlaneEndpoint: required with 2 control planes"}},
		{"no way to log in", "ssh: {keyFile: /keys/id}\n", "", []string{"nodes[0].ssh: give keyFile or agent: true"}},
		{"a bad port", "ssh: {keyFile: /keys/id}", "ssh: {keyFile: /keys/id, port: 70000}", []string{"nodes[0].ssh.port: 70000"}},
		{"a mirror that is not a URL", "kind: Cluster\n", "kind: Cluster\nmirrors: {apt: mirrors.example.cn/debian}\n", []string{"mirrors.apt", "not an http"}},
		{"a registry mirror keyed by a URL", "kind: Cluster\n", "kind: Cluster\nmirrors: {registries: {\"https://docker.io\": https://mirror.example.cn}}\n",
			[]string{`mirrors.registries["https://docker.io"]`, "without a scheme"}},
		{"a registry mirror that is not a URL", "kind: Cluster\n", "kind: Cluster\nmirrors: {registries: {quay.io: mirror.example.cn}}\n",
			[]string{`mirrors.registries["quay.io"]`, "not an http"}},
		{"a bad endpoint", "kind: Cluster\n", "kind: Cluster\ncontrolPlaneEndpoint: \"k8s api:6443\"\n", []string{"controlPlaneEndpoint", "k8s api"}},
		{"an unknown cgroup driver", "kind: Cluster\n", "kind: Cluster\nkubelet: {cgroupDriver: systemd-cgroup}\n", []string{`kubelet.cgroupDriver: "systemd-cgroup", want systemd or cgroupfs`}},
		{"the cgroup driver in kubelet.config", "kind: Cluster\n", "kind: Cluster\nkubelet: {config: {cgroupDriver: cgroupfs}}\n",
			[]string{"kubelet.config.cgroupDriver: set by gitsync from kubelet.cgroupDriver; remove it"}},
		{"failCgroupV1 in kubelet.config", "kind: Cluster\n", "kind: Cluster\nkubelet: {config: {failCgroupV1: false}}\n",
			[]string{"kubelet.config.failCgroupV1: set by gitsync from kubelet.allowCgroupV1"}},
		{"the pod subnet in kubeProxy.config", "kind: Cluster\n", "kind: Cluster\nkubeProxy: {config: {clusterCIDR: 10.0.0.0/8}}\n",
			[]string{"kubeProxy.config.clusterCIDR: set by gitsync from podSubnet"}},
		{"no repository", "gitops: {repo: https://git.example.org/ops/cluster.git}", "gitops: {path: overlays/cluster}", []string{"gitops.repo: required"}},
	} {
		t.Run("refuses "+tc.name, func(t *testing.T) {
			data := strings.Replace(minimal, tc.replace, tc.with, 1)
			if data == minimal {
				t.Fatalf("the case changes nothing: %q not in the file", tc.replace)
			}
			_, err := ParseCluster([]byte(data))
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
}

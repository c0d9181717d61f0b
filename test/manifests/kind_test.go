package manifests

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/kind/pkg/apis/config/v1alpha4"
	"sigs.k8s.io/yaml"
)

// TestKindConfig reads kind-config.yaml the way `kind create cluster` does
// (strictly, so a misspelt field fails here rather than being ignored, then
// defaulted) and checks it builds the cluster the manifests expect.
func TestKindConfig(t *testing.T) {
	cfg := kindConfig(t)
	t.Run("is a kind v1alpha4 Cluster", func(t *testing.T) {
		if cfg.APIVersion != "kind.x-k8s.io/v1alpha4" || cfg.Kind != "Cluster" {
			t.Errorf("apiVersion %q kind %q, want kind.x-k8s.io/v1alpha4 Cluster", cfg.APIVersion, cfg.Kind)
		}
	})
	t.Run("has one control plane and two workers", func(t *testing.T) {
		var roles []v1alpha4.NodeRole
		for _, n := range cfg.Nodes {
			roles = append(roles, n.Role)
		}
		want := []v1alpha4.NodeRole{v1alpha4.ControlPlaneRole, v1alpha4.WorkerRole, v1alpha4.WorkerRole}
		if diff := cmp.Diff(want, roles); diff != "" {
			t.Errorf("node roles (-want +got):\n%s", diff)
		}
	})
	t.Run("leaves pod networking to Calico on the kubeadm subnets", func(t *testing.T) {
		want := v1alpha4.Networking{
			IPFamily:          v1alpha4.IPv4Family,
			APIServerAddress:  "127.0.0.1",
			PodSubnet:         "10.244.0.0/16",
			ServiceSubnet:     "10.96.0.0/12",
			DisableDefaultCNI: true,
			KubeProxyMode:     v1alpha4.IPTablesProxyMode,
		}
		if diff := cmp.Diff(want, cfg.Networking); diff != "" {
			t.Errorf("networking after kind's defaults (-want +got):\n%s", diff)
		}
	})
	t.Run("maps each overlay's node port to the same port of the host", func(t *testing.T) {
		var mapped []v1alpha4.PortMapping
		for _, n := range cfg.Nodes {
			if n.Role == v1alpha4.ControlPlaneRole {
				mapped = append(mapped, n.ExtraPortMappings...)
			} else if len(n.ExtraPortMappings) > 0 {
				t.Errorf("a %s node maps ports %v; only the control plane does", n.Role, n.ExtraPortMappings)
			}
		}
		var want []v1alpha4.PortMapping
		for _, tc := range []struct {
			dir       string
			namespace string
			nodePort  int32
		}{
			{"manifests/nginx-http", "", 30080},
			{"overlays/dev", "dev", 30080},
			{"overlays/prod", "prod", 30081},
			{"overlays/canary", "canary", 30082},
		} {
			svc := typed[corev1.Service](t, find(t, renderPath(t, repoRoot(t), tc.dir), "Service", tc.namespace, "nginx-http"))
			if svc.Spec.Type != corev1.ServiceTypeNodePort || len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].NodePort != tc.nodePort {
				t.Errorf("%s: Service nginx-http is %s on %+v, want NodePort on node port %d", tc.dir, svc.Spec.Type, svc.Spec.Ports, tc.nodePort)
				continue
			}
			if tc.dir != "manifests/nginx-http" { // the base's port is dev's
				want = append(want, v1alpha4.PortMapping{ContainerPort: tc.nodePort, HostPort: tc.nodePort})
			}
		}
		if diff := cmp.Diff(want, mapped); diff != "" {
			t.Errorf("control plane extraPortMappings (-want +got):\n%s", diff)
		}
	})
}

// kindConfig decodes kind-config.yaml strictly and applies kind's defaults.
func kindConfig(t *testing.T) *v1alpha4.Cluster {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot(t), "kind-config.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var cfg v1alpha4.Cluster
	if err := yaml.UnmarshalStrict(data, &cfg); err != nil {
		t.Fatalf("kind-config.yaml: %v", err)
	}
	v1alpha4.SetDefaultsCluster(&cfg)
	return &cfg
}

package handover

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// adminConf is a kubeconfig shaped like kubeadm's admin.conf: one cluster, at the first control
// plane's address, and a client certificate.
func adminConf(t *testing.T, ca, cert string) []byte {
	t.Helper()
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["lab"] = &clientcmdapi.Cluster{Server: "https://198.18.0.10:6443", CertificateAuthorityData: []byte(ca)}
	cfg.AuthInfos["kubernetes-admin"] = &clientcmdapi.AuthInfo{ClientCertificateData: []byte(cert), ClientKeyData: []byte("key of " + cert)}
	cfg.Contexts["kubernetes-admin@lab"] = &clientcmdapi.Context{Cluster: "lab", AuthInfo: "kubernetes-admin"}
	cfg.CurrentContext = "kubernetes-admin@lab"
	data, err := clientcmd.Write(*cfg)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestWriteKubeconfig(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lab.kubeconfig")
	read := func() *clientcmdapi.Config {
		t.Helper()
		cfg, err := clientcmd.LoadFromFile(path)
		if err != nil {
			t.Fatal(err)
		}
		return cfg
	}

	wrote, err := WriteKubeconfig(path, adminConf(t, "CA one", "cert one"), "k8s-api.lab.internal:6443")
	if err != nil || !wrote {
		t.Fatalf("first write: %v, %v", wrote, err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v (%v), want 0600", fi.Mode(), err)
	}
	cfg := read()
	if got := cfg.Clusters["lab"].Server; got != "https://k8s-api.lab.internal:6443" {
		t.Errorf("server %q, want the cluster's endpoint", got)
	}
	if got := string(cfg.AuthInfos["kubernetes-admin"].ClientCertificateData); got != "cert one" {
		t.Errorf("client certificate %q, want admin.conf's", got)
	}

	if wrote, err := WriteKubeconfig(path, adminConf(t, "CA one", "cert one"), "k8s-api.lab.internal:6443"); err != nil || wrote {
		t.Errorf("the same kubeconfig again: wrote %v, %v; want nothing written", wrote, err)
	}
	if wrote, err := WriteKubeconfig(path, adminConf(t, "CA one", "cert two"), "k8s-api.lab.internal:6443"); err != nil || !wrote {
		t.Errorf("renewed certificates of the same cluster: wrote %v, %v; want it replaced", wrote, err)
	}
	if got := string(read().AuthInfos["kubernetes-admin"].ClientCertificateData); got != "cert two" {
		t.Errorf("client certificate %q after the renewal", got)
	}

	before, _ := os.ReadFile(path)
	_, err = WriteKubeconfig(path, adminConf(t, "CA of another cluster", "cert"), "k8s-api.lab.internal:6443")
	if err == nil || !strings.Contains(err.Error(), "is not this cluster's kubeconfig") || !strings.Contains(err.Error(), "--kubeconfig-out") {
		t.Errorf("another cluster's kubeconfig at the path: %v, want a refusal naming the way out", err)
	}
	if after, _ := os.ReadFile(path); string(after) != string(before) {
		t.Error("another cluster's kubeconfig was overwritten")
	}
}

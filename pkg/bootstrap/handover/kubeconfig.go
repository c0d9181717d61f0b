package handover

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/gitsync-io/gitsync/pkg/atomicfile"
)

// WriteKubeconfig writes the administrator's kubeconfig kubeadm made (admin.conf) to path on
// this machine, mode 0600, with its server set to the cluster's endpoint: admin.conf names
// the first control plane's address, which a load balancer in front of several may replace.
// A file already at path is replaced only if it belongs to the same cluster (the same CA),
// so another cluster's credentials are never overwritten. It reports whether it wrote.
func WriteKubeconfig(path string, admin []byte, endpoint string) (bool, error) {
	cfg, err := clientcmd.Load(admin)
	if err != nil {
		return false, fmt.Errorf("admin.conf from the control plane: %w", err)
	}
	if len(cfg.Clusters) != 1 {
		return false, fmt.Errorf("admin.conf from the control plane names %d clusters, want 1", len(cfg.Clusters))
	}
	var cluster *clientcmdapi.Cluster
	for _, c := range cfg.Clusters {
		c.Server, cluster = "https://"+endpoint, c
	}
	data, err := clientcmd.Write(*cfg)
	if err != nil {
		return false, err
	}
	old, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return false, err
	case bytes.Equal(old, data):
		return false, os.Chmod(path, 0o600)
	default:
		mine, err := sameCA(old, cluster.CertificateAuthorityData)
		if err != nil {
			return false, fmt.Errorf("%s exists and is not a kubeconfig (%v): move it away, or pass --kubeconfig-out", path, err)
		} else if !mine {
			return false, fmt.Errorf("%s exists and is not this cluster's kubeconfig (it trusts another CA): move it away, or pass --kubeconfig-out", path)
		}
	}
	return true, atomicfile.Write(path, data, 0o600)
}

// sameCA reports whether the kubeconfig old trusts the CA ca for every cluster it names.
func sameCA(old, ca []byte) (bool, error) {
	cfg, err := clientcmd.Load(old)
	if err != nil {
		return false, err
	}
	for _, c := range cfg.Clusters {
		if !bytes.Equal(c.CertificateAuthorityData, ca) {
			return false, nil
		}
	}
	return len(cfg.Clusters) > 0, nil
}

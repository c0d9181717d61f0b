package bootstrap

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"

	tokenutil "k8s.io/cluster-bootstrap/token/util"
)

// NewSecrets makes a bootstrap token and, for a cluster with several control planes, a
// certificate key. The CA hash is filled in once kubeadm init has made the CA.
func (c *Cluster) NewSecrets() (Secrets, error) {
	token, err := tokenutil.GenerateBootstrapToken()
	if err != nil {
		return Secrets{}, fmt.Errorf("bootstrap token: %w", err)
	}
	s := Secrets{Token: token}
	if len(c.ControlPlanes()) > 1 {
		key := make([]byte, 32) // AES-256, as `kubeadm certs certificate-key` makes
		if _, err := rand.Read(key); err != nil {
			return Secrets{}, fmt.Errorf("certificate key: %w", err)
		}
		s.CertificateKey = hex.EncodeToString(key)
	}
	return s, nil
}

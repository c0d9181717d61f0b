package ssh

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"

	xssh "golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
)

// dialAuthMethods are the credentials offered during one handshake.
type dialAuthMethods struct {
	methods []xssh.AuthMethod
	offered []string // for the error when the server takes none
	agent   net.Conn
}

// dialAuth loads the key file, then connects to the agent: the key the
// user named is offered first, before the server's MaxAuthTries runs out
// on the agent's keys.
func dialAuth(ctx context.Context, cfg Config) (*dialAuthMethods, error) {
	auth := &dialAuthMethods{}
	if cfg.KeyFile != "" {
		signer, err := loadKey(cfg.KeyFile, cfg.KeyPassphrase)
		if err != nil {
			return nil, err
		}
		auth.methods = append(auth.methods, xssh.PublicKeys(signer))
		auth.offered = append(auth.offered, fmt.Sprintf("key file %s (%s %s)",
			cfg.KeyFile, signer.PublicKey().Type(), xssh.FingerprintSHA256(signer.PublicKey())))
	}
	if cfg.AgentSocket != "" {
		if err := auth.addAgent(ctx, cfg.AgentSocket); err != nil {
			auth.close()
			return nil, err
		}
	}
	return auth, nil
}

func loadKey(file, passphrase string) (xssh.Signer, error) {
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("SSH key: %w", err)
	}
	signer, err := xssh.ParsePrivateKey(pem)
	var missing *xssh.PassphraseMissingError
	if errors.As(err, &missing) && passphrase != "" {
		signer, err = xssh.ParsePrivateKeyWithPassphrase(pem, []byte(passphrase))
	}
	switch {
	case errors.As(err, &missing):
		return nil, fmt.Errorf("SSH key %s is encrypted: give its passphrase, or load it into ssh-agent", file)
	case errors.Is(err, x509.IncorrectPasswordError):
		return nil, fmt.Errorf("SSH key %s: wrong passphrase", file)
	case err != nil:
		return nil, fmt.Errorf("SSH key %s: %w", file, err)
	}
	return signer, nil
}

func (a *dialAuthMethods) addAgent(ctx context.Context, socket string) error {
	var dialer net.Dialer
	conn, err := dialer.DialContext(ctx, "unix", socket)
	if err != nil {
		return fmt.Errorf("ssh-agent (SSH_AUTH_SOCK=%s): %w", socket, err)
	}
	client := agent.NewClient(conn)
	a.agent = conn
	a.methods = append(a.methods, xssh.PublicKeysCallback(client.Signers))
	keys, err := client.List()
	if err != nil {
		return fmt.Errorf("ssh-agent (SSH_AUTH_SOCK=%s): %w", socket, err)
	}
	a.offered = append(a.offered, fmt.Sprintf("%d key(s) from ssh-agent %s", len(keys), socket))
	return nil
}

func (a *dialAuthMethods) close() {
	if a.agent != nil {
		_ = a.agent.Close()
	}
}

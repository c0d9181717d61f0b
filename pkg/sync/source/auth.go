package source

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/go-git/go-git/v5/plumbing/transport"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	gitssh "github.com/go-git/go-git/v5/plumbing/transport/ssh"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"

	"github.com/gitsync-io/gitsync/pkg/knownhosts"
)

// defaultDialTimeout bounds an SSH connection when the context has no
// deadline: go-git dials SSH without the context.
const defaultDialTimeout = 30 * time.Second

// resolveAuth applies defaults, moves the URL's credentials into Auth, and
// rejects combinations that cannot work. It returns the agent socket to use.
func resolveAuth(a Auth, remote endpoint) (Auth, string, error) {
	if a.Username == "" && a.Password == "" {
		a.Username, a.Password = remote.user, remote.password
	}
	if remote.protocol != "ssh" {
		return a, "", nil
	}
	return resolveSSHAuth(a)
}

func resolveSSHAuth(a Auth) (Auth, string, error) {
	switch {
	case a.Password != "":
		return a, "", errors.New("Auth.Password cannot be used with SSH: use Auth.SSHKeyFile or Auth.SSHAgent")
	case a.SSHKeyFile != "" && a.SSHAgent:
		return a, "", errors.New("Auth.SSHKeyFile and Auth.SSHAgent are exclusive: choose one")
	case a.SSHKeyFile == "" && !a.SSHAgent:
		return a, "", errors.New("an SSH URL needs Auth.SSHKeyFile or Auth.SSHAgent")
	}
	socket := os.Getenv("SSH_AUTH_SOCK")
	if a.SSHAgent && socket == "" {
		return a, "", errors.New("Auth.SSHAgent needs $SSH_AUTH_SOCK, which is not set")
	}
	var err error
	a.KnownHostsFile, err = knownHostsPath(a.KnownHostsFile)
	return a, socket, err
}

func knownHostsPath(file string) (string, error) {
	if file != "" {
		return filepath.Abs(file)
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", errors.New("Auth.KnownHostsFile is not set and there is no home directory for ~/.ssh/known_hosts")
	}
	return filepath.Join(home, ".ssh", "known_hosts"), nil
}

// authMethod builds go-git's credentials for one fetch; the caller calls
// release when the fetch is done.
func (s *Source) authMethod(ctx context.Context) (auth transport.AuthMethod, release func(), err error) {
	switch {
	case s.remote.protocol == "ssh":
		return s.sshAuth(ctx)
	case s.remote.protocol != "file" && (s.auth.Username != "" || s.auth.Password != ""):
		return &githttp.BasicAuth{Username: orGit(s.auth.Username), Password: s.auth.Password}, func() {}, nil
	}
	return nil, func() {}, nil
}

func orGit(user string) string {
	if user == "" {
		return "git"
	}
	return user
}

func (s *Source) sshAuth(ctx context.Context) (transport.AuthMethod, func(), error) {
	signer, release, err := s.sshSigner(ctx)
	if err != nil {
		return nil, nil, err
	}
	return &sshAuth{PublicKeysCallback: signer, knownHosts: s.auth.KnownHostsFile, acceptNew: s.auth.AcceptNewHostKeys,
		hostPort: s.remote.hostPort, timeout: dialTimeout(ctx)}, release, nil
}

// sshSigner loads the key file, or connects to the agent.
func (s *Source) sshSigner(ctx context.Context) (*gitssh.PublicKeysCallback, func(), error) {
	login := orGit(s.auth.Username)
	if s.auth.SSHAgent {
		return s.agentSigner(ctx, login)
	}
	keys, err := gitssh.NewPublicKeysFromFile(login, s.auth.SSHKeyFile, s.auth.SSHKeyPassphrase)
	if err != nil {
		return nil, nil, s.fail(ctx, "read SSH key", withKind(AuthFailed, err))
	}
	return &gitssh.PublicKeysCallback{User: login, Callback: signers(keys.Signer)}, func() {}, nil
}

func signers(signer ssh.Signer) func() ([]ssh.Signer, error) {
	return func() ([]ssh.Signer, error) { return []ssh.Signer{signer}, nil }
}

// agentSigner connects to the agent itself (go-git's NewSSHAgentAuth never
// closes its connection) and releases it after the fetch.
func (s *Source) agentSigner(ctx context.Context, login string) (*gitssh.PublicKeysCallback, func(), error) {
	conn, err := (&net.Dialer{}).DialContext(ctx, "unix", s.agentSocket)
	if err != nil {
		return nil, nil, s.fail(ctx, "connect to SSH agent", withKind(AuthFailed, err))
	}
	client := agent.NewClient(conn)
	return &gitssh.PublicKeysCallback{User: login, Callback: client.Signers}, func() { conn.Close() }, nil
}

func dialTimeout(ctx context.Context) time.Duration {
	if deadline, ok := ctx.Deadline(); ok {
		return max(time.Until(deadline), time.Millisecond)
	}
	return defaultDialTimeout
}

// sshAuth is go-git's SSH public key auth, plus host key verification that
// reads known_hosts afresh for every connection (a fetch makes two, and the
// first may record a new host) and a dial timeout, as go-git dials SSH
// without the context.
type sshAuth struct {
	*gitssh.PublicKeysCallback
	knownHosts string
	acceptNew  bool
	hostPort   string
	timeout    time.Duration
}

var _ gitssh.AuthMethod = (*sshAuth)(nil)

// ClientConfig is called by go-git for each connection.
func (a *sshAuth) ClientConfig() (*ssh.ClientConfig, error) {
	hosts, err := knownhosts.Open(a.knownHosts, a.acceptNew)
	if err != nil {
		return nil, withKind(InvalidOptions, err)
	}
	return &ssh.ClientConfig{
		User:              a.User,
		Auth:              []ssh.AuthMethod{ssh.PublicKeysCallback(a.Callback)},
		HostKeyCallback:   hosts.Check,
		HostKeyAlgorithms: hosts.Algorithms(a.hostPort),
		Timeout:           a.timeout,
	}, nil
}

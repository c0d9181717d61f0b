package ssh

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"

	xssh "golang.org/x/crypto/ssh"

	"github.com/gitsync-io/gitsync/pkg/knownhosts"
)

// Client is an authenticated SSH connection to one host. It is safe for
// concurrent use: each Run opens its own session.
type Client struct {
	cfg    Config
	host   string // user@address, the log's and errors' prefix
	conn   *xssh.Client
	redact *redactor
	log    *transcript

	sudoMu    sync.Mutex
	sudoKnown bool
	sudo      sudoMode
}

// Dial connects to cfg.Address, verifies the host key against
// cfg.KnownHostsFile (recording an unknown one only with cfg.AcceptNew)
// and authenticates with the key file and/or the agent. The handshake is
// bounded by ctx and cfg.ConnectTimeout.
func Dial(ctx context.Context, cfg Config) (*Client, error) {
	cfg, err := cfg.normalize()
	if err != nil {
		return nil, err
	}
	host := cfg.User + "@" + cfg.Address
	hostKeys, err := knownhosts.Open(cfg.KnownHostsFile, cfg.AcceptNew)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", host, err)
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.ConnectTimeout)
	defer cancel()
	auth, err := dialAuth(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", host, err)
	}
	defer auth.close()
	conn, err := connect(ctx, cfg.Address, &xssh.ClientConfig{
		User:              cfg.User,
		Auth:              auth.methods,
		HostKeyCallback:   hostKeys.Check,
		HostKeyAlgorithms: hostKeys.Algorithms(cfg.Address),
	})
	if err != nil {
		return nil, dialError(host, cfg, auth, err)
	}
	redact := &redactor{}
	redact.add(cfg.secrets()...)
	return &Client{
		cfg:    cfg,
		host:   host,
		conn:   conn,
		redact: redact,
		log:    &transcript{w: cfg.Log, host: host, redact: redact},
	}, nil
}

// connect opens the TCP connection and runs the SSH handshake; when ctx
// ends first, the connection is closed and ctx's error returned.
func connect(ctx context.Context, address string, config *xssh.ClientConfig) (*xssh.Client, error) {
	var dialer net.Dialer
	tcp, err := dialer.DialContext(ctx, "tcp", address)
	if err != nil {
		return nil, err
	}
	stop := context.AfterFunc(ctx, func() { _ = tcp.Close() })
	conn, chans, reqs, err := xssh.NewClientConn(tcp, address, config)
	if !stop() {
		if err == nil {
			_ = conn.Close()
		}
		return nil, fmt.Errorf("ssh handshake: %w", context.Cause(ctx))
	}
	if err != nil {
		return nil, err
	}
	return xssh.NewClient(conn, chans, reqs), nil
}

// dialError turns a failed handshake into the typed error the user can act
// on: a host key problem, rejected credentials, or the network error.
func dialError(host string, cfg Config, auth *dialAuthMethods, err error) error {
	var unknown *knownhosts.UnknownHostError
	var changed *knownhosts.ChangedKeyError
	switch {
	case errors.As(err, &unknown):
		return fmt.Errorf("%s: %w (--ssh-accept-new)", host, unknown)
	case errors.As(err, &changed):
		return fmt.Errorf("%s: %w", host, changed)
	case strings.Contains(err.Error(), "unable to authenticate"):
		return &AuthError{User: cfg.User, Address: cfg.Address, Offered: auth.offered, Err: err}
	}
	return fmt.Errorf("%s: %w", host, err)
}

// Close closes the connection. Commands still running lose their session
// (use Run's context to stop them).
func (c *Client) Close() error { return c.conn.Close() }

// Host is user@host:port, the prefix of this client's log lines and errors.
func (c *Client) Host() string { return c.host }

// Redact adds secrets learnt after Dial (a join token, a certificate key)
// to those kept out of the log and out of errors.
func (c *Client) Redact(secrets ...string) { c.redact.add(secrets...) }

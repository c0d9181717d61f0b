package ssh

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Config says how to reach and authenticate to one host.
type Config struct {
	// Address is host:port; a bare host or IP means port 22.
	Address string
	// User is the login user. Commands with Sudo run as root through sudo
	// unless the user is root already.
	User string

	// KeyFile is a private key in OpenSSH or PEM format; KeyPassphrase
	// decrypts it when it is encrypted.
	KeyFile       string
	KeyPassphrase string
	// AgentSocket is the ssh-agent socket ($SSH_AUTH_SOCK); empty disables
	// the agent. The key file, when set, is offered before the agent's keys.
	AgentSocket string

	// KnownHostsFile lists the trusted host keys (OpenSSH format). It may be
	// missing: then every host is unknown.
	KnownHostsFile string
	// AcceptNew records the key of a host that KnownHostsFile does not list
	// (OpenSSH StrictHostKeyChecking=accept-new). A changed key is refused
	// regardless.
	AcceptNew bool

	// ConnectTimeout bounds the TCP connect plus the SSH handshake.
	ConnectTimeout time.Duration

	// SudoPassword is fed to `sudo -S` on stdin when the user needs a
	// password for sudo. The caller reads it from a prompt, never from argv.
	// It is never put on a command line and is redacted from the log.
	SudoPassword string
	// Secrets are redacted from the log and from errors, like SudoPassword
	// and KeyPassphrase.
	Secrets []string

	// Log receives every command and its output, one header line per
	// command followed by its output lines, prefixed with the host. Each
	// line is one Write; a writer shared by several Clients must accept
	// concurrent Writes (os.Stderr does). Nil discards the log.
	Log io.Writer
}

// DefaultConfig returns a Config with the usual OpenSSH places filled in:
// ~/.ssh/known_hosts, the agent in $SSH_AUTH_SOCK, the current user, and a
// 10 s connect timeout. Address and the key file are left to the caller.
func DefaultConfig() Config {
	cfg := Config{
		User:           os.Getenv("USER"),
		AgentSocket:    os.Getenv("SSH_AUTH_SOCK"),
		ConnectTimeout: 10 * time.Second,
	}
	if home, err := os.UserHomeDir(); err == nil {
		cfg.KnownHostsFile = filepath.Join(home, ".ssh", "known_hosts")
	}
	return cfg
}

// normalize validates cfg and fills in the port and the timeout.
func (cfg Config) normalize() (Config, error) {
	if cfg.Address == "" {
		return cfg, errors.New("ssh: no address: set the host (host or host:port)")
	}
	cfg.Address = withDefaultPort(cfg.Address)
	if cfg.User == "" {
		return cfg, fmt.Errorf("ssh %s: no user: set the SSH user", cfg.Address)
	}
	if cfg.KeyFile == "" && cfg.AgentSocket == "" {
		return cfg, fmt.Errorf("ssh %s@%s: no credentials: set an SSH key file or run an ssh-agent (SSH_AUTH_SOCK)", cfg.User, cfg.Address)
	}
	if cfg.KnownHostsFile == "" {
		return cfg, fmt.Errorf("ssh %s@%s: no known_hosts file: host keys are always verified", cfg.User, cfg.Address)
	}
	if cfg.ConnectTimeout <= 0 {
		cfg.ConnectTimeout = DefaultConfig().ConnectTimeout
	}
	if cfg.Log == nil {
		cfg.Log = io.Discard
	}
	return cfg, nil
}

// withDefaultPort returns address as host:port, adding port 22 to a bare
// host name, IPv4 or IPv6 address.
func withDefaultPort(address string) string {
	if _, _, err := net.SplitHostPort(address); err == nil {
		return address
	}
	return net.JoinHostPort(strings.Trim(address, "[]"), "22")
}

// secrets lists the strings that must never reach the log.
func (cfg Config) secrets() []string {
	return append([]string{cfg.SudoPassword, cfg.KeyPassphrase}, cfg.Secrets...)
}

package source

import (
	"errors"
	"net"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/go-git/go-git/v5/plumbing/transport"
)

// endpoint is a repository address split into what go-git dials, which never
// carries a password or token, what may be shown, and the credentials the
// address carried.
type endpoint struct {
	protocol       string // http, https, ssh or file
	dial           string // the address handed to go-git
	display        string // the address shown in errors and artifacts
	user, password string // userinfo taken out of an http(s) or ssh URL
	hostPort       string // ssh only: host:port, as known_hosts sees it
}

// parseEndpoint accepts http(s)://, ssh://, scp-like user@host:path,
// file:// and local paths (relative ones become absolute). Its errors never
// quote the address, which may hold a credential.
func parseEndpoint(raw string) (endpoint, error) {
	if raw == "" {
		return endpoint{}, errors.New("is empty")
	}
	ep, err := transport.NewEndpoint(raw)
	if err != nil {
		return endpoint{}, errors.New("is neither a URL, an scp-like address nor a path")
	}
	switch {
	case ep.Protocol == "file":
		return fileEndpoint(ep.Path)
	case ep.Protocol == "ssh" && !strings.Contains(raw, "://"):
		return scpEndpoint(raw, ep)
	case ep.Protocol == "ssh", ep.Protocol == "http", ep.Protocol == "https":
		return urlEndpoint(raw)
	}
	return endpoint{}, errors.New("has an unsupported scheme: use https://, http://, ssh://, user@host:path, file:// or a path")
}

func fileEndpoint(path string) (endpoint, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return endpoint{}, errors.New("is a path that cannot be made absolute")
	}
	u := (&url.URL{Scheme: "file", Path: abs}).String()
	return endpoint{protocol: "file", dial: u, display: u}, nil
}

// scpEndpoint keeps the address as written: its path is relative to the
// server's home directory, which an ssh:// URL cannot express.
func scpEndpoint(raw string, ep *transport.Endpoint) (endpoint, error) {
	if strings.Contains(ep.User, ":") {
		return endpoint{}, errors.New("is an scp-like address with a password: SSH needs a key")
	}
	return endpoint{
		protocol: "ssh",
		dial:     raw,
		display:  raw,
		user:     ep.User,
		hostPort: net.JoinHostPort(ep.Host, strconv.Itoa(ep.Port)),
	}, nil
}

func urlEndpoint(raw string) (endpoint, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return endpoint{}, errors.New("is not a valid URL")
	}
	e := endpoint{protocol: u.Scheme, user: u.User.Username()}
	e.password, _ = u.User.Password()
	u.User = nil
	if e.protocol == "ssh" {
		e.hostPort = net.JoinHostPort(u.Hostname(), portOr(u.Port(), "22"))
		u.User = url.User(sshUser(e.user))
	}
	e.dial, e.display = u.String(), u.String()
	return e, nil
}

func portOr(port, fallback string) string {
	if port == "" {
		return fallback
	}
	return port
}

// sshUser is the SSH login: git hosting services all use "git".
func sshUser(user string) string {
	if user == "" {
		return "git"
	}
	return user
}

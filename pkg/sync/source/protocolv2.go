package source

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"

	"github.com/go-git/go-git/v5/plumbing/protocol/packp/capability"
	"github.com/go-git/go-git/v5/plumbing/transport"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	"golang.org/x/crypto/ssh"
)

// A Source speaks version 2 of git's wire protocol
// (git-scm.com/docs/protocol-v2) to a server that does: it lists only the
// refs its Ref or SemVer can name (lsrefs.go), and fetches without the list
// of every ref (fetchv2.go). go-git v5 speaks only version 0, in which the
// server advertises every ref it has before anything else: on a hosting
// service that is a head and a merge ref for every pull request ever
// opened, megabytes that each poll downloaded to learn where one branch
// points. Where the server does not speak version 2, go-git lists and
// fetches as before.

// protocol is what a Source knows of its remote's wire protocol.
type protocol int

const (
	protocolUnknown protocol = iota // ask for version 2 and see
	protocolV2                      // the server answered in version 2: over HTTP, send commands without asking again
	protocolV0                      // the server answered version 0, or cannot be asked: go-git lists and fetches
)

var (
	// errV0 is a server that speaks only version 0, or cannot be asked for
	// version 2: go-git lists its refs from then on.
	errV0 = errors.New("the server speaks git protocol version 0 only")
	// errAskGoGit is an answer that is not version 2's, such as none at
	// all: go-git lists the refs this time, and classifies what fails.
	errAskGoGit = errors.New("the server gave no protocol version 2 answer")
)

// capabilities are what a version 2 server said it can do, of what a
// Source uses.
type capabilities struct {
	lsRefs       bool // the ls-refs command
	shallowFetch bool // the fetch command, with deepen
}

// covers reports whether c has every capability need has.
func (c capabilities) covers(need capabilities) bool {
	return (c.lsRefs || !need.lsRefs) && (c.shallowFetch || !need.shallowFetch)
}

// errLacks is a version 2 server without a capability the command needs:
// go-git does the work instead, as for errAskGoGit.
var errLacks = fmt.Errorf("%w: the server cannot run the command in version 2", errAskGoGit)

// mayAskForV2 reports whether the remote may speak version 2: it has not
// answered version 0, and is not a local path, where there is no network
// to save.
func (s *Source) mayAskForV2() bool {
	return s.protocol != protocolV0 && s.remote.protocol != "file"
}

// exchange sends one version 2 command to a server that has the
// capabilities it needs, and hands the answer to read. It returns errV0,
// errAskGoGit or errLacks where go-git should do the work instead; other
// errors are the remote's (unreachable, credentials refused, no such
// repository) or read's.
func (s *Source) exchange(ctx context.Context, auth transport.AuthMethod, request []byte, need capabilities, read func(io.Reader) error) error {
	switch s.remote.protocol {
	case "http", "https":
		return s.exchangeHTTP(ctx, auth, request, need, read)
	case "ssh":
		return s.exchangeSSH(ctx, auth, request, need, read)
	}
	return errV0
}

// httpClient sends the version 2 requests. It uses the transport go-git's
// requests use (proxies from the environment, the system's CAs) and follows
// no redirect: a moved repository is left to go-git, which follows one
// without carrying the credentials to another host.
var httpClient = &http.Client{
	Transport:     http.DefaultTransport,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

// exchangeHTTP asks the server for version 2 once (GET info/refs), then
// sends the command (POST git-upload-pack). Once a server has answered, a
// command is the POST alone: one small request per poll. A server that
// answers otherwise than before is asked again.
func (s *Source) exchangeHTTP(ctx context.Context, auth transport.AuthMethod, request []byte, need capabilities, read func(io.Reader) error) error {
	asked := s.protocol != protocolV2
	if asked {
		if err := s.askForV2(ctx, auth); err != nil {
			return err
		}
	}
	err := s.post(ctx, auth, request, need, read)
	if asked || !errors.Is(err, errAskGoGit) {
		return err
	}
	if err := s.askForV2(ctx, auth); err != nil {
		return err
	}
	return s.post(ctx, auth, request, need, read)
}

// askForV2 reads the server's version 2 capabilities into s.capabilities.
func (s *Source) askForV2(ctx context.Context, auth transport.AuthMethod) error {
	body, err := s.httpRequest(ctx, auth, http.MethodGet, "/info/refs?service=git-upload-pack", nil)
	if err != nil {
		return err
	}
	defer body.Close() // a version 0 advertisement is not read further
	s.capabilities, err = readCapabilities(body)
	return asAnswer(ctx, err)
}

func (s *Source) post(ctx context.Context, auth transport.AuthMethod, request []byte, need capabilities, read func(io.Reader) error) error {
	if !s.capabilities.covers(need) {
		return errLacks
	}
	body, err := s.httpRequest(ctx, auth, http.MethodPost, "/git-upload-pack", request)
	if err != nil {
		return err
	}
	defer body.Close()
	return read(body)
}

// httpRequest sends one version 2 request and returns the body of a 200
// answer. Refused credentials and a missing repository are the errors go-git
// gives for them, and final; a redirect is errV0, any other answer
// errAskGoGit.
func (s *Source) httpRequest(ctx context.Context, auth transport.AuthMethod, method, path string, content []byte) (io.ReadCloser, error) {
	req, err := http.NewRequestWithContext(ctx, method, s.remote.dial+path, bytes.NewReader(content))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Git-Protocol", "version=2")
	req.Header.Set("User-Agent", capability.DefaultAgent()) // as go-git's own requests say
	if content != nil {
		req.Header.Set("Content-Type", "application/x-git-upload-pack-request")
		req.Header.Set("Accept", "application/x-git-upload-pack-result")
	}
	if a, ok := auth.(githttp.AuthMethod); ok {
		a.SetAuth(req)
	}
	res, err := httpClient.Do(req)
	if err != nil {
		return nil, err
	}
	switch code := res.StatusCode; {
	case code == http.StatusOK:
		return res.Body, nil
	case code == http.StatusUnauthorized, code == http.StatusForbidden, code == http.StatusNotFound:
		return nil, githttp.NewErr(res)
	case code >= 300 && code < 400:
		res.Body.Close()
		return nil, fmt.Errorf("%w: the repository moved", errV0)
	}
	res.Body.Close()
	return nil, fmt.Errorf("%w: %s %s: %s", errAskGoGit, method, path, res.Status)
}

// exchangeSSH sends the command on the Source's git-upload-pack stream,
// which it opens first if there is none. The stream takes one command after
// another: a Fetch's listing and its fetch share one SSH connection. A stream
// that served a command before and fails on the next (its server took one
// command only) is replaced once.
func (s *Source) exchangeSSH(ctx context.Context, auth transport.AuthMethod, request []byte, need capabilities, read func(io.Reader) error) error {
	reused := s.stream != nil
	if !reused {
		st, err := openStream(ctx, auth, s.remote)
		if err != nil {
			return err
		}
		s.stream = st
	}
	if !s.stream.caps.covers(need) {
		return errLacks
	}
	_, err := s.stream.stdin.Write(request)
	if err == nil {
		err = read(s.stream.stdout)
	}
	if err == nil {
		return nil
	}
	s.closeStream() // where it stopped in the answer is unknown
	if reused && ctx.Err() == nil {
		return s.exchangeSSH(ctx, auth, request, need, read)
	}
	return asAnswer(ctx, err)
}

// sshStream is git-upload-pack running in version 2 on an SSH connection,
// after its capability advertisement.
type sshStream struct {
	client *ssh.Client
	stdin  io.WriteCloser
	stdout io.Reader
	caps   capabilities
	stop   func() bool // of closing the connection when the context ends
}

// openStream runs git-upload-pack with GIT_PROTOCOL=version=2 in its
// environment, as git does, and reads its capabilities. Hosting services
// accept the variable, and OpenSSH passes it on where sshd_config has
// "AcceptEnv GIT_PROTOCOL"; a server that refuses it is errV0.
func openStream(ctx context.Context, auth transport.AuthMethod, remote endpoint) (*sshStream, error) {
	a, ok := auth.(*sshAuth)
	if !ok {
		return nil, errV0
	}
	ep, err := transport.NewEndpoint(remote.dial)
	if err != nil {
		return nil, err
	}
	client, err := a.dial(ctx, remote.hostPort)
	if err != nil {
		return nil, err
	}
	st := &sshStream{client: client, stop: context.AfterFunc(ctx, func() { client.Close() })}
	if err := st.start(ctx, ep.Path); err != nil {
		st.close()
		return nil, err
	}
	return st, nil
}

// start runs git-upload-pack for the repository at path and reads its
// capabilities.
func (st *sshStream) start(ctx context.Context, path string) error {
	session, err := st.client.NewSession()
	if err != nil {
		return err
	}
	if err := session.Setenv("GIT_PROTOCOL", "version=2"); err != nil {
		return errV0
	}
	if st.stdin, err = session.StdinPipe(); err != nil {
		return err
	}
	if st.stdout, err = session.StdoutPipe(); err != nil {
		return err
	}
	if err := session.Start("git-upload-pack " + shellQuote(path)); err != nil {
		return err
	}
	// No answer at all is left to go-git, which reads the server's reason
	// (such as "does not appear to be a git repository") and classifies it.
	st.caps, err = readCapabilities(st.stdout)
	return asAnswer(ctx, err)
}

func (st *sshStream) close() {
	st.stop()
	st.client.Close() // ends the session, and git-upload-pack with it
}

// closeStream closes the Source's git-upload-pack stream, if it has one.
func (s *Source) closeStream() {
	if s.stream != nil {
		s.stream.close()
		s.stream = nil
	}
}

// dial opens an SSH connection as go-git would, and closes it if ctx ends
// first.
func (a *sshAuth) dial(ctx context.Context, hostPort string) (*ssh.Client, error) {
	cfg, err := a.ClientConfig()
	if err != nil {
		return nil, err
	}
	conn, err := (&net.Dialer{Timeout: cfg.Timeout}).DialContext(ctx, "tcp", hostPort)
	if err != nil {
		return nil, err
	}
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	c, chans, reqs, err := ssh.NewClientConn(conn, hostPort, cfg)
	if err != nil {
		conn.Close()
		return nil, err
	}
	return ssh.NewClient(c, chans, reqs), nil
}

// shellQuote quotes a repository path for the remote shell as git does:
// in single quotes, with ' and ! closed, escaped and reopened.
func shellQuote(path string) string {
	return "'" + strings.NewReplacer(`'`, `'\''`, `!`, `'\!'`).Replace(path) + "'"
}

// readCapabilities reads a version 2 capability advertisement up to its
// flush-pkt, after the "# service=" line smart HTTP may put first. It returns
// errV0 if the server advertised refs instead (version 0), or no ls-refs.
func readCapabilities(r io.Reader) (capabilities, error) {
	line, err := readPkt(r)
	if err == nil && strings.HasPrefix(line, "# service=") {
		if line, err = readPkt(r); err == nil && line == flushPkt {
			line, err = readPkt(r)
		}
	}
	if err != nil {
		return capabilities{}, err
	}
	if line != "version 2" {
		return capabilities{}, errV0
	}
	var caps capabilities
	for {
		line, err := readPkt(r)
		switch {
		case err != nil:
			return capabilities{}, err
		case line == flushPkt && !caps.lsRefs:
			return capabilities{}, errV0
		case line == flushPkt:
			return caps, nil
		case line == "ls-refs" || strings.HasPrefix(line, "ls-refs="):
			caps.lsRefs = true
		case strings.HasPrefix(line, "fetch="):
			caps.shallowFetch = strings.Contains(" "+line[len("fetch="):]+" ", " shallow ")
		}
	}
}

// The special pkt-lines of version 2 (git-scm.com/docs/gitprotocol-common).
const (
	flushPkt = "0000"
	delimPkt = "0001" // ends a command's capabilities, and a section of an answer
)

// readPkt reads one pkt-line without reading past it: its payload without
// the newline, or flushPkt, or delimPkt (which go-git's pktline.Scanner
// refuses). A server's ERR line is an error.
func readPkt(r io.Reader) (string, error) {
	var size [4]byte
	if _, err := io.ReadFull(r, size[:]); err != nil {
		return "", err
	}
	n, err := strconv.ParseUint(string(size[:]), 16, 16)
	switch {
	case err != nil:
		return "", fmt.Errorf("%w: bad pkt-line length %q", errAskGoGit, size[:])
	case n == 0 || n == 1:
		return string(size[:]), nil
	case n < 4:
		return "", fmt.Errorf("unexpected pkt-line %q", size[:])
	}
	payload := make([]byte, n-4)
	if _, err := io.ReadFull(r, payload); err != nil {
		return "", err
	}
	line := strings.TrimSuffix(string(payload), "\n")
	if msg, ok := strings.CutPrefix(line, "ERR "); ok {
		return "", fmt.Errorf("the server said: %s", msg)
	}
	return line, nil
}

// asAnswer makes a failure to read the server's answer errAskGoGit, unless
// the context ended.
func asAnswer(ctx context.Context, err error) error {
	if err == nil || errors.Is(err, errV0) || errors.Is(err, errAskGoGit) || ctx.Err() != nil {
		return err
	}
	return fmt.Errorf("%w: %w", errAskGoGit, err)
}

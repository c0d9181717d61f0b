package source

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/format/pktline"
	"github.com/go-git/go-git/v5/plumbing/transport"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	"golang.org/x/crypto/ssh"
)

// A Source lists the remote's refs with the ls-refs command of git's wire
// protocol version 2 (git-scm.com/docs/protocol-v2), asking only for the
// refs its Ref or SemVer can name. go-git v5 speaks only version 0, in which
// the server advertises every ref it has before anything else: on a hosting
// service that is a head and a merge ref for every pull request ever opened,
// megabytes that each poll downloads to learn where one branch points.
// Where the server does not speak version 2, go-git lists the refs.

// protocol is what a Source knows of its remote's wire protocol.
type protocol int

const (
	protocolUnknown protocol = iota // ask for version 2 and see
	protocolV2                      // the server answered ls-refs: over HTTP, send it without asking again
	protocolV0                      // the server answered version 0, or cannot be asked: let go-git list
)

var (
	// errV0 is a server that speaks only version 0, or cannot be asked for
	// version 2: go-git lists its refs from then on.
	errV0 = errors.New("the server speaks git protocol version 0 only")
	// errAskGoGit is an answer that is not version 2's, such as none at
	// all: go-git lists the refs this time, and classifies what fails.
	errAskGoGit = errors.New("the server gave no protocol version 2 answer")
)

// lsRefs lists the refs the Source can use with protocol version 2. It
// returns errV0 or errAskGoGit when the caller should list with go-git
// instead; other errors are the remote's (unreachable, credentials refused,
// no such repository) and are final.
func (s *Source) lsRefs(ctx context.Context, auth transport.AuthMethod) (remoteRefs, error) {
	if s.protocol == protocolV0 {
		return nil, errV0
	}
	var refs remoteRefs
	var err error
	switch s.remote.protocol {
	case "http", "https":
		refs, err = s.lsRefsHTTP(ctx, auth)
	case "ssh":
		refs, err = s.lsRefsSSH(ctx, auth)
	default: // file: no network to save
		err = errV0
	}
	switch {
	case err == nil:
		s.protocol = protocolV2
	case errors.Is(err, errV0):
		s.protocol = protocolV0
	case errors.Is(err, errAskGoGit):
		s.protocol = protocolUnknown
	}
	return refs, err
}

// refPrefixes are the ref-prefix arguments of ls-refs that list every ref
// resolve may need: nil lists them all, for a commit SHA, which any ref may
// point to.
func (s *Source) refPrefixes() []string {
	switch {
	case s.semver != nil:
		return []string{"refs/tags/"}
	case isCommitSHA(s.ref):
		return nil
	}
	names := candidates(s.ref)
	prefixes := make([]string, len(names))
	for i, name := range names {
		prefixes[i] = name.String()
	}
	return prefixes
}

// lsRefsRequest is the ls-refs command: peeled tags and symbolic refs
// (HEAD → its branch), limited to prefixes.
func lsRefsRequest(prefixes []string) []byte {
	var buf bytes.Buffer
	e := pktline.NewEncoder(&buf)
	e.EncodeString("command=ls-refs\n")
	buf.WriteString("0001") // delim-pkt: the arguments follow
	e.EncodeString("peel\n", "symrefs\n")
	for _, p := range prefixes {
		e.EncodeString("ref-prefix " + p + "\n")
	}
	e.Flush()
	return buf.Bytes()
}

// readCapabilities reads a version 2 capability advertisement up to its
// flush-pkt, after the "# service=" line smart HTTP may put first. It returns
// errV0 if the server advertised refs instead (version 0), or no ls-refs.
func readCapabilities(sc *pktline.Scanner) error {
	line, err := nextLine(sc)
	if err == nil && strings.HasPrefix(line, "# service=") {
		if line, err = nextLine(sc); err == nil && line == "" { // the flush after it
			line, err = nextLine(sc)
		}
	}
	if err != nil {
		return err
	}
	if line != "version 2" {
		return errV0
	}
	lsRefs := false
	for {
		line, err := nextLine(sc)
		switch {
		case err != nil:
			return err
		case line == "" && !lsRefs:
			return errV0
		case line == "":
			return nil
		case line == "ls-refs" || strings.HasPrefix(line, "ls-refs="):
			lsRefs = true
		}
	}
}

// readRefs reads the answer to ls-refs: "<oid> <name>[ symref-target:<ref>]
// [ peeled:<oid>]" lines up to a flush-pkt. A symbolic ref also gives its
// target's hash, which the prefixes may not have listed.
func readRefs(sc *pktline.Scanner) (remoteRefs, error) {
	refs := remoteRefs{}
	for {
		line, err := nextLine(sc)
		if err != nil {
			return nil, err
		}
		if line == "" {
			return refs, nil
		}
		fields := strings.Split(line, " ")
		if len(fields) < 2 || !plumbing.IsHash(fields[0]) {
			return nil, fmt.Errorf("%w: unexpected line %q", errAskGoGit, line)
		}
		hash, name := plumbing.NewHash(fields[0]), plumbing.ReferenceName(fields[1])
		refs[name] = plumbing.NewHashReference(name, hash)
		for _, attr := range fields[2:] {
			key, value, _ := strings.Cut(attr, ":")
			switch key {
			case "symref-target":
				target := plumbing.ReferenceName(value)
				refs[name] = plumbing.NewSymbolicReference(name, target)
				if _, ok := refs[target]; !ok {
					refs[target] = plumbing.NewHashReference(target, hash)
				}
			case "peeled":
				refs[name+"^{}"] = plumbing.NewHashReference(name+"^{}", plumbing.NewHash(value))
			}
		}
	}
}

// nextLine scans one pkt-line: its payload without the newline, "" for a
// flush-pkt. A server's ERR line is an error; so is the end of the stream.
func nextLine(sc *pktline.Scanner) (string, error) {
	if !sc.Scan() {
		if err := sc.Err(); err != nil {
			return "", err
		}
		return "", io.ErrUnexpectedEOF
	}
	return strings.TrimSuffix(string(sc.Bytes()), "\n"), nil
}

// httpClient sends the ls-refs requests. It uses the transport go-git's
// requests use (proxies from the environment, the system's CAs) and follows
// no redirect: a moved repository is left to go-git, which follows one
// without carrying the credentials to another host.
var httpClient = &http.Client{
	Transport:     http.DefaultTransport,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

// lsRefsHTTP asks the server for version 2 once (GET info/refs), then sends
// ls-refs (POST git-upload-pack). Once a server has answered, every later
// listing is the POST alone: one small request per poll.
func (s *Source) lsRefsHTTP(ctx context.Context, auth transport.AuthMethod) (remoteRefs, error) {
	if s.protocol == protocolV2 {
		refs, err := s.postLsRefs(ctx, auth)
		if !errors.Is(err, errAskGoGit) {
			return refs, err
		}
		// The server answered otherwise than before: ask it again.
	}
	if err := s.askForV2(ctx, auth); err != nil {
		return nil, err
	}
	return s.postLsRefs(ctx, auth)
}

func (s *Source) askForV2(ctx context.Context, auth transport.AuthMethod) error {
	body, err := s.httpRequest(ctx, auth, http.MethodGet, "/info/refs?service=git-upload-pack", nil)
	if err != nil {
		return err
	}
	defer body.Close() // a version 0 advertisement is not read further
	return asAnswer(ctx, readCapabilities(pktline.NewScanner(body)))
}

func (s *Source) postLsRefs(ctx context.Context, auth transport.AuthMethod) (remoteRefs, error) {
	body, err := s.httpRequest(ctx, auth, http.MethodPost, "/git-upload-pack", lsRefsRequest(s.refPrefixes()))
	if err != nil {
		return nil, err
	}
	defer body.Close()
	refs, err := readRefs(pktline.NewScanner(body))
	return refs, asAnswer(ctx, err)
}

// asAnswer makes a failure to read the server's answer errAskGoGit, unless
// the context ended.
func asAnswer(ctx context.Context, err error) error {
	if err == nil || errors.Is(err, errV0) || errors.Is(err, errAskGoGit) || ctx.Err() != nil {
		return err
	}
	return fmt.Errorf("%w: %w", errAskGoGit, err)
}

// httpRequest sends one protocol version 2 request and returns the body of
// a 200 answer. Refused credentials and a missing repository are the errors
// go-git gives for them, and final; a redirect is errV0, any other answer
// errAskGoGit.
func (s *Source) httpRequest(ctx context.Context, auth transport.AuthMethod, method, path string, content []byte) (io.ReadCloser, error) {
	req, err := http.NewRequestWithContext(ctx, method, s.remote.dial+path, bytes.NewReader(content))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Git-Protocol", "version=2")
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

// lsRefsSSH runs git-upload-pack with GIT_PROTOCOL=version=2 in its
// environment, which hosting services accept and OpenSSH passes on where
// sshd_config has "AcceptEnv GIT_PROTOCOL". A server that refuses it, or
// answers version 0, is listed by go-git from then on.
func (s *Source) lsRefsSSH(ctx context.Context, auth transport.AuthMethod) (remoteRefs, error) {
	a, ok := auth.(*sshAuth)
	if !ok {
		return nil, errV0
	}
	client, err := a.dial(ctx, s.remote.hostPort)
	if err != nil {
		return nil, err
	}
	defer client.Close()
	stop := context.AfterFunc(ctx, func() { client.Close() })
	defer stop()
	session, err := client.NewSession()
	if err != nil {
		return nil, err
	}
	defer session.Close()
	if err := session.Setenv("GIT_PROTOCOL", "version=2"); err != nil {
		return nil, errV0
	}
	stdin, err := session.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := session.StdoutPipe()
	if err != nil {
		return nil, err
	}
	ep, err := transport.NewEndpoint(s.remote.dial)
	if err != nil {
		return nil, err
	}
	if err := session.Start("git-upload-pack " + shellQuote(ep.Path)); err != nil {
		return nil, err
	}
	// No answer at all is left to go-git, which reads the server's reason
	// (such as "does not appear to be a git repository") and classifies it.
	sc := pktline.NewScanner(stdout)
	if err := readCapabilities(sc); err != nil {
		return nil, asAnswer(ctx, err)
	}
	if _, err := stdin.Write(lsRefsRequest(s.refPrefixes())); err != nil {
		return nil, asAnswer(ctx, err)
	}
	refs, err := readRefs(sc)
	stdin.Close()
	return refs, asAnswer(ctx, err)
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

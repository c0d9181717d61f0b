package gitserver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"golang.org/x/crypto/ssh"
)

// SSHServer serves every repository under a root directory over SSH on
// 127.0.0.1, like a git hosting service: it accepts only its client key and
// runs the real git-upload-pack (or git-receive-pack) for exec requests,
// confined to the root. A repository Root()/name is at URL + "/" + name.
type SSHServer struct {
	URL           string // ssh://git@127.0.0.1:PORT
	ClientKeyFile string // unencrypted OpenSSH private key the server accepts

	root      string
	addr      string // 127.0.0.1:PORT
	clientKey *keyPair
	sessions  atomic.Int64
	sent      atomic.Int64
	refuseEnv atomic.Bool

	mu       sync.Mutex
	hostKeys []*keyPair
}

// StartSSH serves the repositories under root over SSH with fresh ed25519 and
// ECDSA host keys and a fresh client key. The server stops when the test ends.
func StartSSH(t testing.TB, root string) *SSHServer {
	t.Helper()
	requireGit(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("gitserver: listen: %v", err)
	}
	s := &SSHServer{root: root, addr: ln.Addr().String(), clientKey: newEd25519(t), hostKeys: newHostKeys(t)}
	s.URL = "ssh://git@" + s.addr
	s.ClientKeyFile = s.EncryptedClientKeyFile(t, "")
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { s.serve(ctx, ln, &wg) })
	t.Cleanup(func() { cancel(); ln.Close(); wg.Wait() })
	return s
}

// Sessions is how many git commands the server has run so far.
func (s *SSHServer) Sessions() int { return int(s.sessions.Load()) }

// BytesSent is how many bytes the git commands the server ran have written
// to their clients so far.
func (s *SSHServer) BytesSent() int64 { return s.sent.Load() }

// RefuseEnv makes the server refuse every environment request from now on,
// GIT_PROTOCOL included, as OpenSSH does unless sshd_config names it in
// AcceptEnv: clients then speak git protocol version 0. By default the
// server accepts GIT_PROTOCOL, as hosting services do.
func (s *SSHServer) RefuseEnv() { s.refuseEnv.Store(true) }

func (s *SSHServer) serve(ctx context.Context, ln net.Listener, wg *sync.WaitGroup) {
	for {
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		stop := context.AfterFunc(ctx, func() { conn.Close() })
		wg.Go(func() { defer stop(); s.serveConn(ctx, conn, wg) })
	}
}

func (s *SSHServer) serveConn(ctx context.Context, conn net.Conn, wg *sync.WaitGroup) {
	sconn, channels, reqs, err := ssh.NewServerConn(conn, s.config())
	if err != nil {
		conn.Close()
		return
	}
	defer sconn.Close()
	go ssh.DiscardRequests(reqs)
	for nc := range channels {
		if nc.ChannelType() != "session" {
			nc.Reject(ssh.UnknownChannelType, "only session channels are served")
			continue
		}
		ch, chReqs, err := nc.Accept()
		if err == nil {
			wg.Go(func() { s.session(ctx, ch, chReqs) })
		}
	}
}

// config builds the server configuration from the current host keys, so
// RotateHostKeys takes effect for the next connection.
func (s *SSHServer) config() *ssh.ServerConfig {
	cfg := &ssh.ServerConfig{PublicKeyCallback: s.checkClientKey}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, k := range s.hostKeys {
		cfg.AddHostKey(k.signer)
	}
	return cfg
}

func (s *SSHServer) checkClientKey(_ ssh.ConnMetadata, key ssh.PublicKey) (*ssh.Permissions, error) {
	if string(key.Marshal()) != string(s.clientKey.signer.PublicKey().Marshal()) {
		return nil, errors.New("unknown public key")
	}
	return &ssh.Permissions{}, nil
}

// session runs the session's one exec request, with GIT_PROTOCOL if an env
// request set it; it refuses other env requests, and pty requests.
func (s *SSHServer) session(ctx context.Context, ch ssh.Channel, reqs <-chan *ssh.Request) {
	defer ch.Close()
	var env []string
	for req := range reqs {
		var payload struct{ Command string }
		var variable struct{ Name, Value string }
		switch {
		case req.Type == "env" && ssh.Unmarshal(req.Payload, &variable) == nil:
			ok := variable.Name == "GIT_PROTOCOL" && !s.refuseEnv.Load()
			if ok {
				env = append(env, "GIT_PROTOCOL="+variable.Value)
			}
			req.Reply(ok, nil)
			continue
		case req.Type != "exec" || ssh.Unmarshal(req.Payload, &payload) != nil:
			req.Reply(false, nil)
			continue
		}
		cmd, err := s.command(ctx, payload.Command)
		req.Reply(err == nil, nil)
		if err == nil {
			s.sessions.Add(1)
			cmd.Env = append(cmd.Env, env...)
			exit(ch, s.run(cmd, ch))
		}
		return
	}
}

// command turns an exec request such as "git-upload-pack '/repo.git'" into
// the git command to run, refusing anything but git's two pack services.
func (s *SSHServer) command(ctx context.Context, line string) (*exec.Cmd, error) {
	verb, arg, _ := strings.Cut(line, " ")
	if verb != "git-upload-pack" && verb != "git-receive-pack" {
		return nil, fmt.Errorf("command %q is not served", verb)
	}
	path := strings.TrimPrefix(unquote(arg), "/")
	dir := filepath.Join(s.root, path)
	if !filepath.IsLocal(path) {
		dir = "/dev/null/outside-root" // git says it "does not appear to be a git repository"
	}
	cmd := exec.CommandContext(ctx, "git", strings.TrimPrefix(verb, "git-"), dir)
	cmd.Env = append(os.Environ(), gitEnv()...)
	return cmd, nil
}

// unquote undoes the single quoting git and go-git put around the path.
func unquote(arg string) string {
	if len(arg) < 2 || arg[0] != '\'' || arg[len(arg)-1] != '\'' {
		return arg
	}
	return strings.NewReplacer(`'\''`, `'`, `'\!'`, `!`).Replace(arg[1 : len(arg)-1])
}

// run wires the command to the channel and returns its exit status.
func (s *SSHServer) run(cmd *exec.Cmd, ch ssh.Channel) uint32 {
	cmd.Stdout, cmd.Stderr = sentCounter{ch, &s.sent}, ch.Stderr()
	stdin, err := cmd.StdinPipe()
	if err == nil {
		err = cmd.Start()
	}
	if err != nil {
		fmt.Fprintf(ch.Stderr(), "fatal: %v\n", err)
		return 128
	}
	go func() { io.Copy(stdin, ch); stdin.Close() }()
	var exitErr *exec.ExitError
	if err := cmd.Wait(); errors.As(err, &exitErr) {
		return uint32(exitErr.ExitCode())
	}
	return 0
}

// sentCounter adds the size of everything written to n.
type sentCounter struct {
	w io.Writer
	n *atomic.Int64
}

func (c sentCounter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n.Add(int64(n))
	return n, err
}

func exit(ch ssh.Channel, status uint32) {
	ch.CloseWrite()
	ch.SendRequest("exit-status", false, ssh.Marshal(struct{ Status uint32 }{status}))
}

package ssh_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	xssh "golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/gitsync-io/gitsync/pkg/bootstrap/ssh"
)

const sshdPath = "/usr/sbin/sshd"

// TestMain fails (never skips) the package's tests when OpenSSH's server,
// which they run as the remote host, is missing.
func TestMain(m *testing.M) {
	if _, err := os.Stat(sshdPath); err != nil {
		fmt.Fprintf(os.Stderr, "%s is missing: the tests run a real sshd; install it with: apt-get install -y openssh-server\n", sshdPath)
		os.Exit(1)
	}
	os.Exit(m.Run())
}

// sshd is a real OpenSSH server on 127.0.0.1 with its own host keys and
// authorized_keys, stopped at test cleanup.
type sshd struct {
	t              *testing.T
	dir            string
	addr           string
	user           string
	authorizedKeys string
	hostKeys       []xssh.Signer
	cmd            *exec.Cmd
	exited         chan struct{}
	log            *syncBuffer
}

// startSSHD starts sshd on a free port, authorizing clientKey for the
// current user.
func startSSHD(t *testing.T, clientKey xssh.PublicKey) *sshd {
	t.Helper()
	me, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	if os.Geteuid() == 0 {
		// sshd's privilege separation directory, made by its systemd unit.
		if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
			t.Fatal(err)
		}
	}
	s := &sshd{t: t, dir: t.TempDir(), user: me.Username, log: &syncBuffer{}}
	s.authorizedKeys = filepath.Join(s.dir, "authorized_keys")
	writeFile(t, s.authorizedKeys, xssh.MarshalAuthorizedKey(clientKey), 0o600)
	s.newHostKeys()
	for attempt := 0; ; attempt++ {
		s.addr = freeAddr(t)
		if err := s.start(); err == nil {
			break
		} else if attempt == 2 {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		s.stop()
		if t.Failed() {
			t.Logf("sshd log:\n%s", s.log.String())
		}
	})
	return s
}

// restartWithNewHostKeys replaces the host's keys on the same address, as
// a reinstalled machine (or a man in the middle) would present.
func (s *sshd) restartWithNewHostKeys() {
	s.t.Helper()
	s.stop()
	s.newHostKeys()
	if err := s.start(); err != nil {
		s.t.Fatal(err)
	}
}

func (s *sshd) newHostKeys() {
	s.t.Helper()
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		s.t.Fatal(err)
	}
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		s.t.Fatal(err)
	}
	_, edKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		s.t.Fatal(err)
	}
	s.hostKeys = nil
	for name, key := range map[string]any{"rsa": rsaKey, "ecdsa": ecKey, "ed25519": edKey} {
		writeFile(s.t, filepath.Join(s.dir, "ssh_host_"+name+"_key"), marshalPrivateKey(s.t, key, ""), 0o600)
		signer, err := xssh.NewSignerFromKey(key)
		if err != nil {
			s.t.Fatal(err)
		}
		s.hostKeys = append(s.hostKeys, signer)
	}
}

func (s *sshd) start() error {
	config := filepath.Join(s.dir, "sshd_config")
	writeFile(s.t, config, []byte(strings.Join([]string{
		"ListenAddress " + s.addr,
		"HostKey " + filepath.Join(s.dir, "ssh_host_ed25519_key"),
		"HostKey " + filepath.Join(s.dir, "ssh_host_ecdsa_key"),
		"HostKey " + filepath.Join(s.dir, "ssh_host_rsa_key"),
		"PidFile none",
		"UsePAM no",
		"StrictModes no",
		"AuthorizedKeysFile " + s.authorizedKeys,
		"PermitRootLogin prohibit-password",
		"PasswordAuthentication no",
		"KbdInteractiveAuthentication no",
		"PubkeyAuthentication yes",
		"PrintMotd no",
		"PrintLastLog no",
		"MaxStartups 100",
		"LogLevel VERBOSE",
	}, "\n")+"\n"), 0o600)
	s.cmd = exec.Command(sshdPath, "-D", "-e", "-f", config)
	s.cmd.Stdout, s.cmd.Stderr = s.log, s.log
	logged := len(s.log.String())
	if err := s.cmd.Start(); err != nil {
		return err
	}
	s.exited = make(chan struct{})
	go func() { _ = s.cmd.Wait(); close(s.exited) }()
	// Ready once it says so: a connection to the port proves nothing, since
	// the port, free when chosen, may be another test's by then (a client
	// of this one then met a stranger's reset, while its sshd was starting).
	host, port, err := net.SplitHostPort(s.addr)
	if err != nil {
		return err
	}
	listening := fmt.Sprintf("Server listening on %s port %s.", host, port)
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		select {
		case <-s.exited:
			return fmt.Errorf("sshd on %s exited: %s", s.addr, s.log.String())
		default:
		}
		if strings.Contains(s.log.String()[logged:], listening) {
			return nil
		}
	}
	s.stop()
	return fmt.Errorf("sshd on %s did not listen within 10s: %s", s.addr, s.log.String())
}

func (s *sshd) stop() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(5 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.exited
	}
	s.cmd = nil
}

// knownHosts writes a known_hosts file listing the host's keys of the given
// types (all when none is given).
func (s *sshd) knownHosts(t *testing.T, keyTypes ...string) string {
	t.Helper()
	var lines []string
	for _, k := range s.hostKeys {
		if len(keyTypes) == 0 || slices.Contains(keyTypes, k.PublicKey().Type()) {
			lines = append(lines, knownhosts.Line([]string{knownhosts.Normalize(s.addr)}, k.PublicKey()))
		}
	}
	file := filepath.Join(t.TempDir(), "known_hosts")
	writeFile(t, file, []byte(strings.Join(lines, "\n")+"\n"), 0o600)
	return file
}

// fingerprints lists the SHA256 fingerprints of the host's keys.
func (s *sshd) fingerprints() []string {
	var fps []string
	for _, k := range s.hostKeys {
		fps = append(fps, xssh.FingerprintSHA256(k.PublicKey()))
	}
	return fps
}

// testHost is a running sshd plus a client config that trusts it and
// authenticates with a key file, logging to Log.
type testHost struct {
	*sshd
	cfg ssh.Config
	log *syncBuffer
}

func newTestHost(t *testing.T) *testHost {
	t.Helper()
	key, keyFile := newClientKey(t, "")
	s := startSSHD(t, key.PublicKey())
	log := &syncBuffer{}
	return &testHost{sshd: s, log: log, cfg: ssh.Config{
		Address:        s.addr,
		User:           s.user,
		KeyFile:        keyFile,
		KnownHostsFile: s.knownHosts(t),
		ConnectTimeout: 10 * time.Second,
		Log:            log,
	}}
}

// dial connects with h.cfg and closes the client at cleanup.
func (h *testHost) dial(t *testing.T) *ssh.Client {
	t.Helper()
	return dial(t, h.cfg)
}

func dial(t *testing.T, cfg ssh.Config) *ssh.Client {
	t.Helper()
	c, err := ssh.Dial(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// newClientKey writes a new ed25519 private key (encrypted when passphrase
// is set) to a 0600 file.
func newClientKey(t *testing.T, passphrase string) (xssh.Signer, string) {
	t.Helper()
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := xssh.NewSignerFromKey(key)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "id_ed25519")
	writeFile(t, file, marshalPrivateKey(t, key, passphrase), 0o600)
	return signer, file
}

func marshalPrivateKey(t *testing.T, key any, passphrase string) []byte {
	t.Helper()
	var block *pem.Block
	var err error
	if passphrase == "" {
		block, err = xssh.MarshalPrivateKey(key, "")
	} else {
		block, err = xssh.MarshalPrivateKeyWithPassphrase(key, "", []byte(passphrase))
	}
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(block)
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func writeFile(t *testing.T, name string, data []byte, mode os.FileMode) {
	t.Helper()
	if err := os.WriteFile(name, data, mode); err != nil {
		t.Fatal(err)
	}
}

// syncBuffer is a bytes.Buffer safe for the concurrent writes of sshd's
// output and of the client's log.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

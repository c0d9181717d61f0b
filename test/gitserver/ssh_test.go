package gitserver_test

import (
	"os/exec"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"

	"github.com/gitsync-io/gitsync/test/gitserver"
)

// sshEnv makes the git CLI use OpenSSH with exactly this key and known_hosts.
func sshEnv(t *testing.T, keyFile, knownHosts string) []string {
	t.Helper()
	if _, err := exec.LookPath("ssh"); err != nil {
		t.Fatal("the OpenSSH client is not installed: run `apt-get install -y openssh-client`")
	}
	return []string{"GIT_SSH_COMMAND=ssh -F /dev/null -o BatchMode=yes -o IdentitiesOnly=yes -o StrictHostKeyChecking=yes" +
		" -o UserKnownHostsFile=" + knownHosts + " -i " + keyFile}
}

func TestStartSSH(t *testing.T) {
	repo := gitserver.NewRepo(t)
	sha := repo.Commit(t, "first", map[string]string{"app.yaml": "kind: ConfigMap"})
	srv := gitserver.StartSSH(t, repo.Root())
	url := srv.URL + "/" + repo.Name()
	knownHosts := srv.KnownHostsFile(t)

	t.Run("lets the git CLI clone with the client key and known host keys", func(t *testing.T) {
		files := clone(t, sshEnv(t, srv.ClientKeyFile, knownHosts), url, "main")
		if files["app.yaml"] != "kind: ConfigMap" {
			t.Errorf("files = %v", files)
		}
	})
	t.Run("accepts the client key encrypted with a passphrase", func(t *testing.T) {
		keyFile := srv.EncryptedClientKeyFile(t, "pass phrase")
		key := mustReadFile(t, keyFile)
		if _, err := ssh.ParseRawPrivateKeyWithPassphrase(key, []byte("pass phrase")); err != nil {
			t.Errorf("parse the encrypted key: %v", err)
		}
	})
	t.Run("refuses a key it does not know", func(t *testing.T) {
		other := gitserver.StartSSH(t, t.TempDir())
		out, err := run(t, sshEnv(t, other.ClientKeyFile, knownHosts), "git", "ls-remote", url)
		if err == nil || !strings.Contains(out, "Permission denied") {
			t.Errorf("ls-remote with a foreign key = %v, %q; want permission denied", err, out)
		}
	})
	t.Run("refuses paths outside its root", func(t *testing.T) {
		out, err := run(t, sshEnv(t, srv.ClientKeyFile, knownHosts), "git", "ls-remote", srv.URL+"/../"+repo.Name())
		if err == nil || !strings.Contains(out, "does not appear to be a git repository") {
			t.Errorf("ls-remote outside the root = %v, %q; want not a repository", err, out)
		}
	})
	t.Run("counts one session per git command", func(t *testing.T) {
		before := srv.Sessions()
		out := mustRun(t, sshEnv(t, srv.ClientKeyFile, knownHosts), "git", "ls-remote", url, "refs/heads/main")
		if !strings.HasPrefix(out, sha) || srv.Sessions()-before != 1 {
			t.Errorf("ls-remote = %q after %d sessions; want %s after 1", out, srv.Sessions()-before, sha)
		}
	})
	t.Run("presents new host keys after a rotation", func(t *testing.T) {
		srv.RotateHostKeys(t)
		out, err := run(t, sshEnv(t, srv.ClientKeyFile, knownHosts), "git", "ls-remote", url)
		if err == nil || !strings.Contains(out, "Host key verification failed") {
			t.Errorf("ls-remote after rotation = %v, %q; want host key verification failure", err, out)
		}
		mustRun(t, sshEnv(t, srv.ClientKeyFile, srv.KnownHostsFile(t)), "git", "ls-remote", url)
	})
}

func TestKnownHostsFile(t *testing.T) {
	srv := gitserver.StartSSH(t, t.TempDir())
	port := srv.URL[strings.LastIndex(srv.URL, ":")+1:]
	for _, tc := range []struct {
		name     string
		keyTypes []string
		want     []string
	}{
		{"lists every host key by default", nil, []string{ssh.KeyAlgoED25519, ssh.KeyAlgoECDSA256}},
		{"lists only the key types asked for", []string{ssh.KeyAlgoED25519}, []string{ssh.KeyAlgoED25519}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lines := strings.Split(strings.TrimSpace(string(mustReadFile(t, srv.KnownHostsFile(t, tc.keyTypes...)))), "\n")
			if len(lines) != len(tc.want) {
				t.Fatalf("lines = %q, want %d", lines, len(tc.want))
			}
			for i, line := range lines {
				if fields := strings.Fields(line); fields[0] != "[127.0.0.1]:"+port || fields[1] != tc.want[i] {
					t.Errorf("line %d = %q, want [127.0.0.1]:%s %s", i, line, port, tc.want[i])
				}
			}
		})
	}
}

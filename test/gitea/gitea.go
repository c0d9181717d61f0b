// Package gitea runs a real Gitea server for tests: built from its released
// module by tools/build.sh (make tools-all), on loopback, with SQLite in a
// temporary directory, one admin user and an API token.
package gitea

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gitsync-io/gitsync/test/testenv"
)

// Server is a running Gitea.
type Server struct {
	URL   string // http://127.0.0.1:PORT
	User  string // the admin user
	Token string // an API token of User with every scope

	bin, config string
	env         []string
}

// Start runs a Gitea server until the test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	bin, err := testenv.Binary("gitea")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	me, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{URL: fmt.Sprintf("http://127.0.0.1:%d", port), User: "gitsync", bin: bin,
		config: filepath.Join(dir, "custom", "conf", "app.ini"),
		env:    []string{"GITEA_WORK_DIR=" + dir, "GITEA_I_AM_BEING_UNSAFE_RUNNING_AS_ROOT=true", "HOME=" + dir}}
	secret := func(kind string) string { return s.run(t, "generate", "secret", kind) }
	ini := fmt.Sprintf(`RUN_USER = %[1]s
WORK_PATH = %[2]s
[server]
HTTP_ADDR = 127.0.0.1
HTTP_PORT = %[3]d
ROOT_URL = %[4]s/
APP_DATA_PATH = %[2]s/data
DISABLE_SSH = true
START_SSH_SERVER = false
OFFLINE_MODE = true
LFS_START_SERVER = false
[database]
DB_TYPE = sqlite3
PATH = %[2]s/data/gitea.db
[repository]
ROOT = %[2]s/repos
[security]
INSTALL_LOCK = true
SECRET_KEY = %[5]s
INTERNAL_TOKEN = %[6]s
[oauth2]
JWT_SECRET = %[7]s
[log]
MODE = console
LEVEL = warn
ROOT_PATH = %[2]s/log
`, me.Username, dir, port, s.URL, secret("SECRET_KEY"), secret("INTERNAL_TOKEN"), secret("JWT_SECRET"))
	if err := os.MkdirAll(filepath.Dir(s.config), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(s.config, []byte(ini), 0o600); err != nil {
		t.Fatal(err)
	}
	s.run(t, "--config", s.config, "migrate")
	s.run(t, "--config", s.config, "admin", "user", "create", "--admin", "--username", s.User,
		"--password", "gitea-Pa55-word", "--email", "gitsync@example.com", "--must-change-password=false")
	out := s.run(t, "--config", s.config, "admin", "user", "generate-access-token", "--username", s.User,
		"--token-name", "test", "--scopes", "all", "--raw")
	s.Token = out[strings.LastIndex(out, "\n")+1:]

	var logs bytes.Buffer
	web := exec.Command(bin, "--config", s.config, "web")
	web.Env, web.Stdout, web.Stderr = append(os.Environ(), s.env...), &logs, &logs
	if err := web.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = web.Process.Kill()
		_ = web.Wait()
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(s.URL + "/api/v1/version")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("gitea: not serving after 30 s: %v\n%s", err, logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// run runs a gitea command and returns its trimmed standard output.
func (s *Server) run(t testing.TB, args ...string) string {
	t.Helper()
	cmd := exec.Command(s.bin, args...)
	cmd.Env = append(os.Environ(), s.env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("gitea %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return strings.TrimSpace(string(out))
}

// CreateRepo creates an empty repository of the admin user and returns its
// clone URL, without credentials (User and Token are they).
func (s *Server) CreateRepo(t testing.TB, name string) string {
	t.Helper()
	s.api(t, http.MethodPost, "/user/repos", map[string]any{"name": name, "default_branch": "main"}, nil)
	return s.URL + "/" + s.User + "/" + name + ".git"
}

// Push pushes the main branch of the git repository at dir to the
// repository name of the admin user.
func (s *Server) Push(t testing.TB, dir, name string) {
	t.Helper()
	u := strings.Replace(s.URL, "http://", "http://"+s.User+":"+s.Token+"@", 1) + "/" + s.User + "/" + name + ".git"
	cmd := exec.Command("git", "push", "--quiet", "--force", u, "refs/heads/main:refs/heads/main")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null", "GIT_TERMINAL_PROMPT=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("gitea: git push: %v\n%s", err, out)
	}
}

// Status is one commit status, as Gitea's API returns it.
type Status struct {
	State       string `json:"status"`
	Context     string `json:"context"`
	Description string `json:"description"`
	TargetURL   string `json:"target_url"`
}

// Statuses returns the commit statuses of sha in the admin user's
// repository name, oldest first.
func (s *Server) Statuses(t testing.TB, name, sha string) []Status {
	t.Helper()
	var out []Status
	s.api(t, http.MethodGet, "/repos/"+s.User+"/"+name+"/commits/"+sha+"/statuses?sort=oldest", nil, &out)
	return out
}

func (s *Server) api(t testing.TB, method, path string, body, out any) {
	t.Helper()
	var in io.Reader
	if body != nil {
		data, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		in = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, s.URL+"/api/v1"+path, in)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "token "+s.Token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		t.Fatalf("gitea: %s %s: %s: %s", method, path, resp.Status, data)
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			t.Fatalf("gitea: %s %s: %v: %s", method, path, err, data)
		}
	}
}

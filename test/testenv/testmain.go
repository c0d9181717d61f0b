package testenv

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

const (
	// supervisorEnv carries the Options to the re-executed test binary that
	// owns the control plane.
	supervisorEnv = "GITSYNC_TESTENV_SUPERVISOR"
	runDirPrefix  = "gitsync-testenv-"
	ownerFile     = "owner.pid"
)

// shared is the one control plane of the running test package, set by Main
// before any test runs and read-only afterwards.
var shared struct {
	dir, kubeconfig string
}

// handshake is the supervisor's one-line answer once the plane is up.
type handshake struct {
	Dir        string `json:"dir"`
	Kubeconfig string `json:"kubeconfig"`
	Report     string `json:"report"`
	Error      string `json:"error,omitempty"`
}

// Main starts one control plane for the test package, runs its tests and
// stops the plane. Call it from TestMain:
//
//	func TestMain(m *testing.M) { testenv.Main(m, testenv.Options{Workloads: true}) }
//
// The plane belongs to a supervisor, this same test binary re-executed, which
// stops it and deletes its directory as soon as the test binary's end of a
// pipe closes: after the tests, or when the binary panics, times out or is
// killed. If the plane cannot start (a binary is missing, say) Main prints
// why and exits non-zero; it never skips.
func Main(m *testing.M, opts Options) {
	if spec, ok := os.LookupEnv(supervisorEnv); ok {
		os.Exit(supervise(spec))
	}
	os.Exit(runWithSupervisor(m, opts))
}

func runWithSupervisor(m *testing.M, opts Options) int {
	spec, err := json.Marshal(opts)
	if err != nil {
		fmt.Fprintln(os.Stderr, "testenv:", err)
		return 1
	}
	exe, err := os.Executable()
	if err != nil {
		fmt.Fprintln(os.Stderr, "testenv:", err)
		return 1
	}
	sup := exec.Command(exe)
	sup.Env = append(os.Environ(), supervisorEnv+"="+string(spec))
	sup.Stderr = os.Stderr
	lifeline, err := sup.StdinPipe()
	if err != nil {
		fmt.Fprintln(os.Stderr, "testenv:", err)
		return 1
	}
	out, err := sup.StdoutPipe()
	if err != nil {
		fmt.Fprintln(os.Stderr, "testenv:", err)
		return 1
	}
	if err := sup.Start(); err != nil {
		fmt.Fprintln(os.Stderr, "testenv: start supervisor:", err)
		return 1
	}
	var hs handshake
	line, _ := bufio.NewReader(out).ReadBytes('\n')
	if err := json.Unmarshal(line, &hs); err != nil || hs.Error != "" {
		lifeline.Close()
		_ = sup.Wait()
		if hs.Error == "" {
			hs.Error = fmt.Sprintf("supervisor answered %q", line)
		}
		fmt.Fprintln(os.Stderr, "testenv: the control plane did not start:", hs.Error)
		return 1
	}
	fmt.Fprintln(os.Stderr, "testenv:", strings.ReplaceAll(hs.Report, "\n", "\ntestenv: "))
	shared.dir, shared.kubeconfig = hs.Dir, hs.Kubeconfig

	code := m.Run()

	lifeline.Close() // the supervisor stops the plane and exits
	if err := sup.Wait(); err != nil {
		fmt.Fprintln(os.Stderr, "testenv: supervisor:", err)
		if code == 0 {
			code = 1
		}
	}
	return code
}

// supervise runs in the re-executed test binary: start the plane, answer with
// a handshake line, then hold the plane until stdin closes or a signal comes.
func supervise(spec string) int {
	var opts Options
	if err := json.Unmarshal([]byte(spec), &opts); err != nil {
		return answer(handshake{Error: err.Error()})
	}
	sweepStale()
	ctx, cancel := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer cancel()
	startCtx, cancelStart := context.WithTimeout(ctx, 2*time.Minute)
	defer cancelStart()

	cp, err := startWithRetry(startCtx, opts)
	if err != nil {
		return answer(handshake{Error: err.Error()})
	}
	defer cp.Stop()
	if err := os.WriteFile(filepath.Join(cp.Dir, ownerFile), []byte(strconv.Itoa(os.Getpid())), 0o600); err != nil {
		return answer(handshake{Error: err.Error()})
	}
	answer(handshake{Dir: cp.Dir, Kubeconfig: cp.Kubeconfig, Report: cp.Report()})

	eof := make(chan struct{})
	go func() { _, _ = io.Copy(io.Discard, os.Stdin); close(eof) }()
	select {
	case <-eof:
	case <-ctx.Done():
	}
	return 0
}

func answer(hs handshake) int {
	data, _ := json.Marshal(hs)
	fmt.Println(string(data))
	if hs.Error != "" {
		return 1
	}
	return 0
}

// startWithRetry retries a start that lost a race for its ports.
func startWithRetry(ctx context.Context, opts Options) (*ControlPlane, error) {
	var err error
	for range 3 {
		var cp *ControlPlane
		if cp, err = Start(ctx, opts); err == nil {
			return cp, nil
		}
		if !strings.Contains(err.Error(), "address already in use") {
			break
		}
	}
	return nil, err
}

// sweepStale removes run directories whose supervisor is gone (killed with
// SIGKILL, so it could not clean up; its components died with it).
func sweepStale() {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), runDirPrefix+"*"))
	for _, dir := range dirs {
		data, err := os.ReadFile(filepath.Join(dir, ownerFile))
		if err != nil {
			continue // still starting, or not ours
		}
		if pid, err := strconv.Atoi(string(data)); err == nil && !alive(pid) {
			_ = StopDir(dir)
		}
	}
}

func mustBeStarted(t testing.TB) {
	t.Helper()
	if shared.kubeconfig == "" {
		t.Fatal("testenv: no control plane; call testenv.Main(m, opts) from TestMain")
	}
}

// Kubeconfig returns the path of the shared plane's admin kubeconfig.
func Kubeconfig(t testing.TB) string {
	mustBeStarted(t)
	return shared.kubeconfig
}

// Config returns a fresh admin client configuration for the shared plane.
func Config(t testing.TB) *rest.Config {
	mustBeStarted(t)
	cfg, err := clientcmd.BuildConfigFromFlags("", shared.kubeconfig)
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	cfg.QPS, cfg.Burst = 200, 400
	return cfg
}

var clientsetOnce = sync.OnceValues(func() (*kubernetes.Clientset, error) {
	cfg, err := clientcmd.BuildConfigFromFlags("", shared.kubeconfig)
	if err != nil {
		return nil, err
	}
	return kubernetes.NewForConfig(cfg)
})

// Namespace creates a namespace for one test and deletes it when the test ends,
// without waiting for the deletion to finish (that takes at least 5 s).
func Namespace(t testing.TB) string {
	t.Helper()
	mustBeStarted(t)
	cs, err := clientsetOnce()
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	name := namespaceName(t.Name())
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if _, err := cs.CoreV1().Namespaces().Create(t.Context(), ns, metav1.CreateOptions{}); err != nil {
		t.Fatalf("testenv: create namespace %s: %v", name, err)
	}
	t.Cleanup(func() {
		_ = cs.CoreV1().Namespaces().Delete(context.Background(), name, metav1.DeleteOptions{})
	})
	return name
}

// namespaceName turns a test name into a valid, unique namespace name.
func namespaceName(testName string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(testName) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b.WriteRune(r)
		case b.Len() > 0 && !strings.HasSuffix(b.String(), "-"):
			b.WriteByte('-')
		}
	}
	base := strings.Trim(b.String(), "-")
	if len(base) > 50 {
		base = strings.TrimRight(base[:50], "-")
	}
	return base + "-" + rand.String(5)
}

package nodes

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gitsync-io/gitsync/test/internal/filelock"
)

const (
	suite   = "bookworm"
	variant = "minbase"
	include = "openssh-server,systemd,systemd-sysv,dbus,iproute2,sudo,ca-certificates,iptables,kmod,procps"
	// recipe names what prepareRootfs does to the bootstrapped tree; change
	// it with prepareRootfs so cached trees are rebuilt.
	recipe = "users-deploy-operator,networkd,no-apt-timers,no-dns,no-identity/1"

	// OperatorPassword is the password of the node user "operator", whose
	// sudo asks for it; "deploy" has passwordless sudo.
	OperatorPassword = "op-pass"
)

// Rootfs returns the cached Debian bookworm root file system the nodes boot
// from, building it on first use (debootstrap from the Debian mirror of the
// host's apt configuration; about two minutes and 240 MB). It lives under
// the user's cache directory, in gitsync/rootfs/, named after what it
// contains; a lock file keeps concurrent test processes from building it
// twice. Never write to it: nodes overlay it.
func Rootfs(t testing.TB) string {
	t.Helper()
	if err := checkHost(); err != nil {
		t.Fatalf("nodes: %v", err)
	}
	dir, built, err := rootfs(t.Context())
	if err != nil {
		t.Fatalf("nodes: %v", err)
	}
	if built > 0 {
		t.Logf("nodes: built the %s rootfs %s in %s", suite, dir, built.Round(time.Second))
	}
	return dir
}

// rootfs returns the cached tree, building it if it is missing; built is how
// long the build took, zero when the cache had it.
func rootfs(ctx context.Context) (dir string, built time.Duration, err error) {
	cache, err := os.UserCacheDir()
	if err != nil {
		return "", 0, err
	}
	sum := sha256.Sum256([]byte(strings.Join([]string{suite, variant, include, recipe, runtime.GOARCH}, "\n")))
	dir = filepath.Join(cache, "gitsync", "rootfs", suite+"-"+hex.EncodeToString(sum[:6]))
	if exists(dir) {
		return dir, 0, nil
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return "", 0, err
	}
	unlock, err := filelock.Lock(dir + ".lock")
	if err != nil {
		return "", 0, err
	}
	defer unlock()
	if exists(dir) { // built by another process while this one waited
		return dir, 0, nil
	}
	began := time.Now()
	if err := buildRootfs(ctx, dir); err != nil {
		return "", 0, fmt.Errorf("build rootfs %s: %w", dir, err)
	}
	return dir, time.Since(began), nil
}

// buildRootfs bootstraps into a temporary sibling of dir, prepares it and
// renames it to dir, so dir exists only complete.
func buildRootfs(ctx context.Context, dir string) error {
	stale, _ := filepath.Glob(dir + ".tmp-*") // left by a killed build; the lock is ours
	for _, s := range stale {
		if err := os.RemoveAll(s); err != nil {
			return err
		}
	}
	mirror, err := debianMirror("/", suite)
	if err != nil {
		return err
	}
	tmp := dir + ".tmp-" + randomHex(4)
	logPath := dir + ".log"
	if err := debootstrap(ctx, tmp, mirror, logPath); err != nil {
		_ = os.RemoveAll(tmp)
		return err
	}
	if err := prepareRootfs(ctx, tmp); err != nil {
		_ = os.RemoveAll(tmp)
		return err
	}
	return os.Rename(tmp, dir)
}

// debootstrap runs in private mount and PID namespaces: the file systems it
// mounts in the target vanish with it, and it dies with this process.
func debootstrap(ctx context.Context, target, mirror, logPath string) error {
	logf, err := os.Create(logPath)
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd := exec.CommandContext(ctx, "unshare", "--mount", "--propagation=private", "--pid", "--fork", "--kill-child", "--mount-proc",
		"debootstrap", "--variant="+variant, "--include="+include, suite, target, mirror)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("debootstrap %s from %s: %w; last lines of %s:\n%s", suite, mirror, err, logPath, tail(logPath, 20))
	}
	return nil
}

// prepareRootfs makes the bootstrapped tree a template for test nodes: the
// users deploy (passwordless sudo) and operator (sudo with
// OperatorPassword), systemd-networkd on, nothing that reaches out on its
// own (apt timers masked, no DNS server), and no per-machine identity (host
// keys, machine ID, hostname: each node gets its own).
func prepareRootfs(ctx context.Context, root string) error {
	for _, args := range [][]string{
		{"useradd", "--create-home", "--shell", "/bin/bash", "deploy"},
		// Debian has a group "operator" already.
		{"useradd", "--create-home", "--shell", "/bin/bash", "--gid", "operator", "operator"},
		{"usermod", "--password", "*", "deploy"}, // not locked, no password: keys only
		{"systemctl", "enable", "systemd-networkd.service"},
		{"systemctl", "mask", "apt-daily.timer", "apt-daily-upgrade.timer"},
	} {
		if out, err := exec.CommandContext(ctx, "chroot", append([]string{root}, args...)...).CombinedOutput(); err != nil {
			return fmt.Errorf("chroot %s: %w\n%s", strings.Join(args, " "), err, out)
		}
	}
	chpasswd := exec.CommandContext(ctx, "chroot", root, "chpasswd")
	chpasswd.Stdin = strings.NewReader("operator:" + OperatorPassword + "\n")
	if out, err := chpasswd.CombinedOutput(); err != nil {
		return fmt.Errorf("chroot chpasswd: %w\n%s", err, out)
	}
	files := []struct {
		path, content string
		mode          os.FileMode
	}{
		{"etc/sudoers.d/deploy", "deploy ALL=(ALL:ALL) NOPASSWD: ALL\n", 0o440},
		{"etc/sudoers.d/operator", "Defaults:operator lecture=never\noperator ALL=(ALL:ALL) ALL\n", 0o440},
		{"etc/resolv.conf", "# Test nodes have no DNS server: they talk only to their own subnet.\n", 0o644},
		{"etc/machine-id", "", 0o444},
	}
	for _, f := range files {
		if err := os.WriteFile(filepath.Join(root, f.path), []byte(f.content), f.mode); err != nil {
			return err
		}
	}
	identity, _ := filepath.Glob(filepath.Join(root, "etc/ssh/ssh_host_*"))
	debs, _ := filepath.Glob(filepath.Join(root, "var/cache/apt/archives/*.deb"))
	for _, path := range append(append(identity, debs...),
		filepath.Join(root, "etc/hostname"), filepath.Join(root, "var/lib/dbus/machine-id")) {
		if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	// D-Bus reads the machine ID from here too.
	return os.Symlink("/etc/machine-id", filepath.Join(root, "var/lib/dbus/machine-id"))
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// tail returns the last n lines of the file at path.
func tail(path string, n int) string {
	data, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

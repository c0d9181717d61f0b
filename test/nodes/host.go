package nodes

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
)

// requirement is a host program (or file) the package needs and the Debian
// package that provides it.
type requirement struct{ path, pkg string }

// requirements are checked in this order, so the fix reads the same each time.
func requirements() []requirement {
	return []requirement{
		{"debootstrap", "debootstrap"},
		{"systemd-nspawn", "systemd-container"},
		{"/usr/share/keyrings/debian-archive-keyring.gpg", "debian-archive-keyring"},
		{"ssh-keygen", "openssh-client"},
		{"ip", "iproute2"},
		{"nsenter", "util-linux"},
		{"unshare", "util-linux"},
	}
}

// checkHost fails with the one command that fixes the host: it must run as
// root and have every program of requirements.
func checkHost() error {
	if os.Geteuid() != 0 {
		return errors.New("test nodes need root (network namespaces, overlay mounts, systemd-nspawn): run the tests as root")
	}
	var missing, pkgs []string
	for _, r := range requirements() {
		if present(r.path) {
			continue
		}
		missing = append(missing, r.path)
		if !slices.Contains(pkgs, r.pkg) {
			pkgs = append(pkgs, r.pkg)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("%s not found; install with: apt-get install -y %s",
			strings.Join(missing, ", "), strings.Join(pkgs, " "))
	}
	return nil
}

func present(path string) bool {
	if strings.HasPrefix(path, "/") {
		_, err := os.Stat(path)
		return err == nil
	}
	_, err := exec.LookPath(path)
	return err == nil
}

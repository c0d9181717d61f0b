package bootstrap

import (
	"context"
	"fmt"
	"net"
	"strings"
)

// The steps that prepare the operating system of every node, in order.
func osSteps() []Step {
	return []Step{hostnameStep(), hostsStep(), timeStep(), swapStep(), kernelStep()}
}

// hostnameStep names the node as the cluster file does: kubelet registers the node under
// its hostname, and kubeadm's preflight checks it.
func hostnameStep() Step {
	return Step{
		Name: "hostname",
		Check: func(ctx context.Context, h *Host) (Status, error) {
			name, err := h.sh(ctx, "hostname")
			if err != nil || name == h.Node.Name {
				return Status{Done: err == nil}, err
			}
			return notDone(fmt.Sprintf("hostname is %q", name))
		},
		Apply: func(ctx context.Context, h *Host) error {
			_, err := h.sh(ctx, hostnameScript(h.Node.Name))
			return err
		},
		Plan: func(h *Host) []string { return []string{hostnameScript(h.Node.Name)} },
	}
}

// hostnameScript sets the hostname now and across reboots, and keeps cloud-init from
// resetting it.
func hostnameScript(name string) string {
	return fmt.Sprintf(`hostnamectl set-hostname %[1]s 2>/dev/null || { echo %[1]s > /etc/hostname; hostname %[1]s; }
if [ -d /etc/cloud/cloud.cfg.d ]; then echo 'preserve_hostname: true' > /etc/cloud/cloud.cfg.d/99-gitsync.cfg; fi`, quote(name))
}

const (
	hostsBegin = "# gitsync BEGIN: the nodes of the cluster, written by gitsync bootstrap"
	hostsEnd   = "# gitsync END"
)

// hostsStep writes every node's name, and the control-plane endpoint's name, into
// /etc/hosts between markers, so the nodes find each other without DNS. The rest of the file
// is left as it is.
func hostsStep() Step {
	return Step{
		Name: "hosts",
		Check: func(ctx context.Context, h *Host) (Status, error) {
			current, err := h.sh(ctx, fmt.Sprintf("sed -n '/^%s/,/^%s/p' /etc/hosts", hostsBegin, hostsEnd))
			if err != nil || current == strings.TrimSpace(hostsBlock(h.Cluster)) {
				return Status{Done: err == nil}, err
			}
			return notDone("/etc/hosts lacks the cluster's nodes")
		},
		Apply: func(ctx context.Context, h *Host) error {
			_, err := h.sh(ctx, hostsScript(h.Cluster))
			return err
		},
		Plan: func(h *Host) []string { return []string{hostsScript(h.Cluster)} },
	}
}

func hostsBlock(c *Cluster) string {
	var b strings.Builder
	b.WriteString(hostsBegin + "\n")
	for _, n := range c.Nodes {
		fmt.Fprintf(&b, "%s %s\n", n.Address, n.Name)
	}
	if c.ControlPlaneEndpoint != "" {
		host, _, _ := splitEndpoint(c.ControlPlaneEndpoint)
		if net.ParseIP(host) == nil { // a name the nodes must resolve: the first control plane for now
			fmt.Fprintf(&b, "%s %s\n", c.ControlPlanes()[0].Address, host)
		}
	}
	b.WriteString(hostsEnd + "\n")
	return b.String()
}

func hostsScript(c *Cluster) string {
	return fmt.Sprintf("sed -i '/^%s/,/^%s/d' /etc/hosts && printf '%%s' %s >> /etc/hosts", hostsBegin, hostsEnd, quote(hostsBlock(c)))
}

// timeStep makes sure the clock is kept in sync: certificates and tokens depend on it.
func timeStep() Step {
	return Step{
		Name: "time",
		Check: func(ctx context.Context, h *Host) (Status, error) {
			if h.Facts.Container != "" {
				return doneBecause("a " + h.Facts.Container + " container keeps its host's clock")
			}
			ok, err := h.test(ctx, `[ "$(timedatectl show -p NTP --value)" = yes ] || systemctl is-active -q chrony`)
			if err != nil || ok {
				return Status{Done: ok}, err
			}
			return notDone("no NTP client is active")
		},
		Apply: func(ctx context.Context, h *Host) error {
			_, err := h.sh(ctx, timeScript)
			return err
		},
		Plan: func(*Host) []string { return []string{timeScript} },
	}
}

const timeScript = `command -v timedatectl >/dev/null && systemctl list-unit-files -q systemd-timesyncd.service >/dev/null 2>&1 ||
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q systemd-timesyncd
timedatectl set-ntp true`

// swapStep turns swap off now and for good: the kubelet refuses to start with swap on
// unless configured otherwise.
func swapStep() Step {
	return Step{
		Name: "swap",
		Check: func(ctx context.Context, h *Host) (Status, error) {
			ok, err := h.test(ctx, `[ -z "$(swapon --noheadings --show 2>/dev/null)" ] && ! grep -qE '^[^#].*[[:space:]]swap[[:space:]]' /etc/fstab`)
			if err != nil || ok {
				return Status{Done: ok}, err
			}
			return notDone("swap is on, or /etc/fstab turns it on at boot")
		},
		Apply: func(ctx context.Context, h *Host) error {
			_, err := h.sh(ctx, swapScript)
			return err
		},
		Plan: func(*Host) []string { return []string{swapScript} },
	}
}

const swapScript = `swapoff -a
sed -ri.gitsync-backup '/^[^#].*[[:space:]]swap[[:space:]]/s/^/# disabled by gitsync bootstrap: /' /etc/fstab
for unit in $(systemctl list-units --type swap --all --plain --no-legend 2>/dev/null | awk '{print $1}'); do systemctl mask "$unit"; done`

// The kernel settings Kubernetes networking needs: IP forwarding (kubeadm checks it), and
// the overlay and br_netfilter modules (containerd's snapshotter; Calico's policy on bridges).
var (
	modulesFile = File{Path: "/etc/modules-load.d/kubernetes.conf", Mode: 0o644, Content: "# written by gitsync bootstrap\noverlay\nbr_netfilter\n"}
	sysctlFile  = File{Path: "/etc/sysctl.d/99-kubernetes.conf", Mode: 0o644, Content: "# written by gitsync bootstrap\n" +
		"net.ipv4.ip_forward = 1\nnet.bridge.bridge-nf-call-iptables = 1\nnet.bridge.bridge-nf-call-ip6tables = 1\n"}
)

// kernelCheck prints what is missing and exits 1, or exits 0. A module counts when the kernel
// has its feature, loaded or built in: a kernel without loadable modules (or a container)
// cannot modprobe, and lsmod does not list what is built in.
var kernelCheck = sameFiles(modulesFile, sysctlFile) + ` || { echo "` + modulesFile.Path + ` or ` + sysctlFile.Path + ` differs"; exit 1; }
grep -qw overlay /proc/filesystems || { echo "the kernel has no overlay file system"; exit 1; }
[ -d /proc/sys/net/bridge ] || { echo "br_netfilter is not loaded"; exit 1; }
for key in net.ipv4.ip_forward net.bridge.bridge-nf-call-iptables net.bridge.bridge-nf-call-ip6tables; do
  [ "$(sysctl -n $key)" = 1 ] || { echo "$key is not 1"; exit 1; }
done`

func kernelStep() Step {
	return Step{
		Name: "kernel",
		Check: func(ctx context.Context, h *Host) (Status, error) {
			ok, missing, err := h.probe(ctx, kernelCheck)
			if err != nil || ok {
				return Status{Done: ok}, err
			}
			return notDone(missing)
		},
		Apply: func(ctx context.Context, h *Host) error {
			if err := h.write(ctx, modulesFile, sysctlFile); err != nil {
				return err
			}
			_, err := h.sh(ctx, kernelScript)
			return err
		},
		Plan: func(*Host) []string { return append(filePlans(modulesFile, sysctlFile), kernelScript) },
	}
}

// kernelScript loads the modules (a failure is fine when the kernel has them built in:
// the check says) and applies every sysctl file; keys the kernel lacks in this network
// namespace (bridge-nf without br_netfilter) are reported by sysctl and do not fail it.
const kernelScript = `modprobe overlay 2>/dev/null || true
modprobe br_netfilter 2>/dev/null || true
sysctl -q -p ` + "/etc/sysctl.d/99-kubernetes.conf"

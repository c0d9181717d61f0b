package bootstrap

import (
	"bufio"
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Facts are what gitsync learns about a node before changing anything.
type Facts struct {
	OS, Version string // os-release ID and VERSION_ID: debian 12, ubuntu 24.04
	Arch        string // dpkg's: amd64, arm64
	CgroupV2    bool
	// Container names the container the node runs in (systemd-detect-virt -c), "" for none.
	Container   string
	Hostname    string
	ProductUUID string
	CPUs        int
	MemoryMiB   int
	// HasAddress reports that the node's address from the cluster file is on one of its interfaces.
	HasAddress bool
	// LowersOOMScoreAdj reports that root can lower an oom_score_adj (CAP_SYS_RESOURCE), as
	// runc does for every container unless containerd restricts it.
	LowersOOMScoreAdj bool
}

// supportedOS are the releases gitsync bootstraps.
var supportedOS = []string{"debian 12", "debian 13", "ubuntu 22.04", "ubuntu 24.04"}

// factsScript prints key=value lines; it changes nothing.
const factsScript = `. /etc/os-release
echo "os=$ID"
echo "version=$VERSION_ID"
echo "arch=$(dpkg --print-architecture)"
echo "cgroup=$(stat -fc %T /sys/fs/cgroup)"
echo "container=$(systemd-detect-virt -c 2>/dev/null || true)"
echo "hostname=$(hostname)"
echo "uuid=$(cat /sys/class/dmi/id/product_uuid 2>/dev/null || cat /etc/machine-id)"
echo "cpus=$(nproc)"
echo "memory=$(awk '/^MemTotal:/ {print int($2/1024)}' /proc/meminfo)"
ip -o addr show | awk '{split($4, a, "/"); print "address=" a[1]}'
# A subshell lowers its own score and exits: nothing else changes.
if (echo -999 >/proc/self/oom_score_adj) 2>/dev/null; then echo lowers-oom-score=yes; else echo lowers-oom-score=no; fi
`

// GatherFacts reads the facts of h (as root: it also proves sudo works).
func (h *Host) GatherFacts(ctx context.Context) error {
	out, err := h.sh(ctx, factsScript)
	if err != nil {
		return err
	}
	f := Facts{}
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		k, v, _ := strings.Cut(sc.Text(), "=")
		switch k {
		case "os":
			f.OS = v
		case "version":
			f.Version = v
		case "arch":
			f.Arch = v
		case "cgroup":
			f.CgroupV2 = v == "cgroup2fs"
		case "container":
			if v != "none" {
				f.Container = v
			}
		case "hostname":
			f.Hostname = v
		case "uuid":
			f.ProductUUID = v
		case "cpus":
			f.CPUs, _ = strconv.Atoi(v)
		case "memory":
			f.MemoryMiB, _ = strconv.Atoi(v)
		case "address":
			f.HasAddress = f.HasAddress || v == h.Node.Address
		case "lowers-oom-score":
			f.LowersOOMScoreAdj = v == "yes"
		}
	}
	h.Facts = f
	return nil
}

// Problems are what rules a node out, each naming the fact and the fix. Warnings are printed
// and do not stop the run.
func (h *Host) Problems() (problems, warnings []error) {
	f, n := h.Facts, h.Node
	bad := func(format string, args ...any) { problems = append(problems, fmt.Errorf(format, args...)) }
	if os := f.OS + " " + f.Version; !slices.Contains(supportedOS, os) {
		bad("%s is not one of %s", os, strings.Join(supportedOS, ", "))
	}
	if f.Arch != "amd64" && f.Arch != "arm64" {
		bad("architecture %s: Kubernetes packages exist for amd64 and arm64", f.Arch)
	}
	if !f.HasAddress {
		bad("address %s is on none of its interfaces: correct nodes[].address in the cluster file", n.Address)
	}
	if !f.CgroupV2 && !h.Cluster.Kubelet.AllowCgroupV1 {
		bad("the machine boots cgroup v1, which the kubelet of Kubernetes 1.35 and newer refuses: boot it with the kernel parameter " +
			"systemd.unified_cgroup_hierarchy=1 (cgroup v2), or set kubelet: {allowCgroupV1: true} in the cluster file")
	}
	if !f.LowersOOMScoreAdj && !h.Cluster.Containerd.RestrictOOMScoreAdj {
		bad("root cannot lower an oom_score_adj here (no CAP_SYS_RESOURCE: the machine is itself a container?), so runc would fail " +
			"every container: set containerd: {restrictOOMScoreAdj: true} in the cluster file")
	}
	if n.Role == ControlPlane && f.CPUs < 2 {
		bad("%d CPU: a control plane needs at least 2 (kubeadm preflight NumCPU)", f.CPUs)
	}
	if f.MemoryMiB > 0 && f.MemoryMiB < 1700 {
		warnings = append(warnings, fmt.Errorf("%d MiB of memory: kubeadm wants about 2 GiB", f.MemoryMiB))
	}
	return problems, warnings
}

// cgroupV1Warning is said once per run when nodes boot cgroup v1 and the cluster file allows it.
func cgroupV1Warning(hosts []*Host) error {
	var names []string
	for _, h := range hosts {
		if !h.Facts.CgroupV2 {
			names = append(names, h.Node.Name)
		}
	}
	if len(names) == 0 || !hosts[0].Cluster.Kubelet.AllowCgroupV1 {
		return nil
	}
	return fmt.Errorf("%s boot cgroup v1 (kubelet.allowCgroupV1): Kubernetes may remove cgroup v1 support after 1.37; "+
		"boot with systemd.unified_cgroup_hierarchy=1 before upgrading", strings.Join(names, ", "))
}

// uniqueness finds facts that must differ between nodes and do not.
func uniqueness(hosts []*Host) []error {
	var errs []error
	seen := map[string]string{}
	for _, h := range hosts {
		if other, ok := seen[h.Facts.ProductUUID]; ok && h.Facts.ProductUUID != "" {
			errs = append(errs, fmt.Errorf("nodes %s and %s have the same product_uuid %s (cloned machines): kubeadm requires them to differ",
				other, h.Node.Name, h.Facts.ProductUUID))
		}
		seen[h.Facts.ProductUUID] = h.Node.Name
	}
	return errs
}

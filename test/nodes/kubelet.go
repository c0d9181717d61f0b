package nodes

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// What a node that runs a real kubelet and containerd needs beyond a plain one
// (NodeOptions.Kubelet). Each item stands in for something a real machine has,
// and none changes the host: the nodes share its kernel.
//
//   - Every capability the host has, and the keyring system calls runc makes
//     (--capability=all, --system-call-filter=@keyring); /dev/kmsg, which the
//     kubelet reads, bound read-only.
//   - /var/lib/containerd on a directory of the host's own file system: the
//     overlayfs snapshotter cannot stack on the node's overlay root.
//   - The node has its own cgroup in every hierarchy (see cgroupRoots), which its
//     cgroup namespace shows as the root; nspawn mounts the v1 controllers
//     read-only, so kubeletPrep remounts them writable (the node's subtree only).
//   - The kubelet sets vm.overcommit_memory, vm.panic_on_oom, kernel.panic,
//     kernel.panic_on_oops and kernel.keys.root_max{keys,bytes} unless they
//     already hold its values, and fails if it cannot: they belong to the
//     host's kernel, so kubeletPrep binds files with those values over them,
//     inside the node's mount namespace only.
//   - / is a shared mount, for the kubelet's mount propagation.
//   - A name server in /etc/resolv.conf, which CoreDNS forwards to: the gateway,
//     where serveDNS refuses every query.
var kubeletNspawnArgs = []string{"--capability=all", "--system-call-filter=@keyring", "--bind-ro=/dev/kmsg"}

// kubeletSysctls are the kubelet's values (pkg/kubelet/cm: setupKernelTunables).
var kubeletSysctls = [][2]string{
	{"vm.overcommit_memory", "1"}, {"vm.panic_on_oom", "0"}, {"kernel.panic", "10"}, {"kernel.panic_on_oops", "1"},
	{"kernel.keys.root_maxkeys", "1000000"}, {"kernel.keys.root_maxbytes", "25000000"},
}

const kubeletPrepPath = "/usr/local/sbin/gitsync-test-kubelet-prep"

// kubeletPrep runs early at every boot of the node (kubeletPrepUnit).
func kubeletPrep() string {
	var b strings.Builder
	b.WriteString(`#!/bin/sh
# Written by the gitsync test nodes (test/nodes/kubelet.go): what a kubelet needs from a
# real machine, inside this node only.
set -eu
for d in /sys/fs/cgroup/*; do
	case "$d" in */systemd | */unified) continue ;; esac
	mountpoint -q "$d" && mount -o remount,bind,rw "$d"
done
mount --make-rshared /
mkdir -p /run/kubelet-sysctl
`)
	for _, kv := range kubeletSysctls {
		fmt.Fprintf(&b, "echo %s >/run/kubelet-sysctl/%s && mount --bind /run/kubelet-sysctl/%s /proc/sys/%s\n",
			kv[1], kv[0], kv[0], strings.ReplaceAll(kv[0], ".", "/"))
	}
	return b.String()
}

const kubeletPrepUnit = `# Written by the gitsync test nodes (test/nodes/kubelet.go).
[Unit]
Description=What a kubelet needs from a real machine, for a test node
DefaultDependencies=no
After=local-fs.target
Before=sysinit.target

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=` + kubeletPrepPath + `

[Install]
WantedBy=sysinit.target
`

// prepareKubelet writes the boot-time preparation into the node's root and makes the
// directory bound at /var/lib/containerd; it returns the nspawn arguments.
func (n *Node) prepareKubelet(root *rootDir) ([]string, error) {
	if err := root.writeFile(kubeletPrepPath, kubeletPrep(), 0o755, 0, 0); err != nil {
		return nil, err
	}
	const unit = "/etc/systemd/system/gitsync-test-kubelet-prep.service"
	if err := root.writeFile(unit, kubeletPrepUnit, 0o644, 0, 0); err != nil {
		return nil, err
	}
	if err := root.symlink("/etc/systemd/system/sysinit.target.wants/gitsync-test-kubelet-prep.service", unit); err != nil {
		return nil, err
	}
	if err := root.writeFile("/etc/resolv.conf", "# The test cluster's name server: it refuses every query (test/nodes/dns.go).\nnameserver "+n.gateway.String()+"\n", 0o644, 0, 0); err != nil {
		return nil, err
	}
	containerd := filepath.Join(n.dir, "containerd")
	if err := os.MkdirAll(n.sup.path(containerd), 0o711); err != nil {
		return nil, err
	}
	return append(kubeletNspawnArgs, "--bind="+containerd+":/var/lib/containerd"), nil
}

// KubeletSettings are the cluster-file settings (gitsync bootstrap) that Kubelet nodes need
// and real machines do not: the nodes boot cgroup v1 and are containers without
// CAP_SYS_RESOURCE; they share the host's kernel, swap and disk, so the kubelet must not
// refuse swap or evict for the host's disk and memory use, and kube-proxy must not size the
// host's conntrack table.
const KubeletSettings = `kubelet:
  allowCgroupV1: true
  cgroupDriver: cgroupfs
  config:
    failSwapOn: false
    imageGCHighThresholdPercent: 100
    evictionHard: {memory.available: "0%", nodefs.available: "0%", imagefs.available: "0%"}
    localStorageCapacityIsolation: false
kubeProxy:
  config:
    conntrack: {maxPerCore: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s}
`

// Package nodes gives tests real Debian machines to take over SSH: each node
// is a systemd-nspawn container booting systemd and sshd, with its own root
// file system (an overlay on a cached debootstrap rootfs), network namespace,
// hostname and cgroup, on a bridge that the host reaches at the subnet's
// first address. Start boots them; Exec, ReadFile and FileTree inspect them.
//
// A cluster lives in namespaces of its own, held by a small supervisor
// process: when the test ends in any way (pass, failure, panic, timeout,
// SIGKILL), the kernel kills every node and drops their mounts and network,
// and the supervisor removes the cluster's cgroups and files. Tests send
// traffic only to the cluster's own subnet, taken from the benchmark range
// 198.18.0.0/15; only building the cached rootfs downloads, from the Debian
// mirror in the host's apt configuration.
//
// It does not fake anything and never skips: it needs root and a few
// packages, and a test on a host without them fails with the command that
// installs them. It does not configure nodes for Kubernetes (kubelet and
// containerd need more systemd-nspawn options, see NodeOptions.NspawnArgs).
package nodes

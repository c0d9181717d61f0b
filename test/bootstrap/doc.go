// Package bootstrap tests `gitsync bootstrap` against real Debian hosts: systemd-nspawn nodes
// with their own root file systems, network namespaces and sshd (test/nodes). The built binary
// runs whole bootstraps; the step tests run one step alone through the library.
//
// The Kubernetes packages come from a signed apt repository of debs built from source
// (test/aptrepo), served on the nodes' gateway; containerd and runc, built from source by
// tools/build.sh, from a release mirror on loopback, which gitsync downloads from and uploads
// to the nodes over SSH.
//
// containerd 2.x and all its CRI plugins start in a plain node, on this cgroup v1 host. Running
// a container takes more, found by hand: /var/lib/containerd on a host directory (the
// overlayfs snapshotter cannot mount over the node's overlay root: EINVAL), the keyring
// system calls (--system-call-filter=@keyring, else runc fails to create a session key), and
// writable cgroup v1 controllers (mount -o remount,bind,rw inside the node). The tests do not
// run containers: nspawn gives a node the host's own controller hierarchies (test/nodes makes
// a cgroup per node only for name=systemd and cgroup2), so runc would write cgroups into the
// build machine's.
package bootstrap

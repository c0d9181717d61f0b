// Package bootstrap tests `gitsync bootstrap` against real Debian hosts: systemd-nspawn nodes
// with their own root file systems, network namespaces and sshd (test/nodes). The built binary
// runs whole bootstraps; the step tests run one step alone through the library.
//
// The Kubernetes packages come from a signed apt repository of debs built from source
// (test/aptrepo), served on the nodes' gateway; containerd and runc, built from source by
// tools/build.sh, from a release mirror on loopback, which gitsync downloads from and uploads
// to the nodes over SSH.
//
// The whole-bootstrap tests run on Kubelet nodes (nodes.NodeOptions.Kubelet) with the
// cluster-file settings such nodes need (nodes.KubeletSettings) and kubeadm's images built from
// source (test/images): kubeadm init and join run for real, and a run stops at the handover,
// whose repository the fixture leaves unreachable. test/realcluster goes on to the end.
package bootstrap

// Package realcluster runs `gitsync bootstrap` to the end on test nodes: real kubeadm init
// and join, kubelets and containerd running pods, kube-proxy, CoreDNS, a pod network, and
// the handover to gitsync running in the cluster.
//
//	go test ./test/realcluster -run TestRealCluster -v
//
// The nodes are systemd-nspawn containers on one bridge (test/nodes, with
// NodeOptions.Kubelet); every image comes from source (test/images) through a registry
// mirror on the nodes' gateway; the Kubernetes packages from a signed apt repository of debs
// built from source (test/aptrepo); containerd and runc from a release mirror. Nothing is
// pulled from anywhere else.
package realcluster

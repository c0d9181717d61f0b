// Package coredns pins CoreDNS, the cluster DNS kubeadm installs, for the
// image the real-cluster test pushes to its registry (tools/build.sh cluster).
package coredns

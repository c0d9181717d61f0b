// Package aptrepo gives tests a Kubernetes package repository laid out as
// pkgs.k8s.io's: real .deb packages of kubeadm, kubelet and kubectl built
// from the binaries `make tools-all` builds, a Packages index, and a
// Release signed with an OpenPGP key made in the test, served over HTTP on an
// address the test chooses (a test cluster's gateway, which its nodes reach).
// It does not fetch anything: test nodes have no internet, and neither do
// the packages' dependencies.
package aptrepo

// Package images makes the container images a real cluster on the test nodes
// runs, without Docker and without pulling anything: kubeadm's control-plane
// images, kube-proxy, CoreDNS and pause from the binaries tools/build.sh builds
// from source (make tools-all), kube-proxy's iptables and nginx from Debian
// packages. Each image is named as upstream names it (registry.k8s.io/…,
// docker.io/library/nginx:…), so nodes pull them through a registry mirror
// exactly as a user behind a filtered network would.
//
// Built images are cached as one OCI layout under the user's cache directory
// (gitsync/images/), keyed by a digest of every file they hold and of the
// recipe; a warm run only pushes the cached blobs to the test's registry.
package images

// Package bootstrap takes plain Debian and Ubuntu machines to a kubeadm
// cluster: the cluster file (Cluster), the kubeadm configuration rendered
// from it, and the plan of steps (check → apply → verify) run on each node
// over SSH (package bootstrap/ssh). It does not sync anything: once the
// cluster is up, the sync engine (pkg/sync) takes over from git.
package bootstrap

// Package testenv runs a real, throw-away Kubernetes control plane on loopback:
// etcd and kube-apiserver, and on request kube-controller-manager,
// kube-scheduler and kwok with simulated Ready nodes, so workloads truly become
// Available. The binaries are built from source by `make tools`.
//
// A test package starts one control plane for all its tests with Main in its
// TestMain and reaches it with Config, Kubeconfig and Namespace. The plane is
// owned by a supervisor process that tears it down and removes its files when
// the test binary exits in any way, including a panic or a timeout.
//
// It does not fake anything: there is no kubelet and no container runtime, so
// pods never run; kwok marks them Running and Ready.
package testenv

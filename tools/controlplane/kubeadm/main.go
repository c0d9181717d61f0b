// Command kubeadm is upstream's kubeadm, built from the k8s.io/kubernetes
// module so the tests check the configuration gitsync bootstrap renders with
// the real `kubeadm config validate`.
package main

import (
	"k8s.io/kubernetes/cmd/kubeadm/app"
	utilerrors "k8s.io/kubernetes/cmd/kubeadm/app/util/errors"
)

func main() { utilerrors.HandleError(app.Run()) }

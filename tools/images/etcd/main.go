// Command etcd-server is upstream's etcd server with its whole flag set, as
// kubeadm's static pod runs it; the etcd command beside it is the small
// embedded one the local control plane uses.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }

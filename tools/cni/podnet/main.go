// Command podnet is the node agent of the small pod network the real-cluster
// test installs where a user's cluster has Calico (gitops.calicoPath). On every
// node it installs the CNI reference plugins, writes a bridge network over the
// node's podCIDR, and routes each other node's podCIDR to that node's address:
// the test nodes share one layer-2 network, so that is all that traffic between
// pods on different nodes needs. Pods reach beyond the pod network masqueraded
// (the bridge plugin's ipMasq).
//
//	podnet --plugins /opt/podnet/bin --bin-dir /host/opt/cni/bin --conf-dir /host/etc/cni/net.d
//
// NODE_NAME (the downward API's spec.nodeName) names the node it runs on.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/vishvananda/netlink"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// confName is the network's configuration file; the container runtime takes the first
// file of the configuration directory in lexical order.
const confName = "10-podnet.conflist"

func main() {
	plugins := flag.String("plugins", "/opt/podnet/bin", "the CNI plugins to install")
	binDir := flag.String("bin-dir", "/host/opt/cni/bin", "where the container runtime looks for CNI plugins")
	confDir := flag.String("conf-dir", "/host/etc/cni/net.d", "where the container runtime looks for CNI networks")
	interval := flag.Duration("interval", 10*time.Second, "how often the routes are brought up to date")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *plugins, *binDir, *confDir, *interval); err != nil && !errors.Is(err, context.Canceled) {
		log.Fatalf("podnet: %v", err)
	}
}

func run(ctx context.Context, plugins, binDir, confDir string, interval time.Duration) error {
	node := os.Getenv("NODE_NAME")
	if node == "" {
		return errors.New("NODE_NAME is not set: give it spec.nodeName through the downward API")
	}
	if err := installPlugins(plugins, binDir); err != nil {
		return err
	}
	cfg, err := rest.InClusterConfig()
	if err != nil {
		return err
	}
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	routes := map[string]netlink.Route{} // by node name: the routes this agent added
	for {
		if err := sync(ctx, client, node, confDir, routes); err != nil {
			log.Printf("podnet: %v (again in %s)", err, interval)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(interval):
		}
	}
}

// installPlugins copies every plugin into binDir, each replaced in one rename so that a
// runtime calling it never runs half a file.
func installPlugins(from, binDir string) error {
	entries, err := os.ReadDir(from)
	if err != nil {
		return err
	}
	for _, e := range entries {
		data, err := os.ReadFile(filepath.Join(from, e.Name()))
		if err != nil {
			return err
		}
		if err := writeAtomic(filepath.Join(binDir, e.Name()), data, 0o755); err != nil {
			return err
		}
	}
	log.Printf("podnet: installed %d CNI plugins into %s", len(entries), binDir)
	return nil
}

// sync writes this node's network configuration once its podCIDR is known and routes the
// other nodes' podCIDRs to them.
func sync(ctx context.Context, client kubernetes.Interface, self, confDir string, routes map[string]netlink.Route) error {
	list, err := client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	var errs []error
	seen := map[string]bool{}
	for _, n := range list.Items {
		if n.Spec.PodCIDR == "" {
			continue
		}
		if n.Name == self {
			errs = append(errs, writeConf(confDir, n.Spec.PodCIDR))
			continue
		}
		_, dst, err := net.ParseCIDR(n.Spec.PodCIDR)
		gw := internalIP(n)
		if err != nil || gw == nil {
			continue
		}
		r := netlink.Route{Dst: dst, Gw: gw}
		if old, ok := routes[n.Name]; !ok || old.Dst.String() != dst.String() || !old.Gw.Equal(gw) {
			if err := netlink.RouteReplace(&r); err != nil {
				errs = append(errs, fmt.Errorf("route %s via %s (node %s): %w", dst, gw, n.Name, err))
				continue
			}
			log.Printf("podnet: route %s via %s (node %s)", dst, gw, n.Name)
		}
		routes[n.Name] = r
		seen[n.Name] = true
	}
	for name, r := range routes {
		if !seen[name] {
			if err := netlink.RouteDel(&r); err != nil {
				errs = append(errs, fmt.Errorf("route %s of the deleted node %s: %w", r.Dst, name, err))
				continue
			}
			delete(routes, name)
			log.Printf("podnet: node %s is gone: route %s deleted", name, r.Dst)
		}
	}
	return errors.Join(errs...)
}

func internalIP(n corev1.Node) net.IP {
	for _, a := range n.Status.Addresses {
		if a.Type == corev1.NodeInternalIP {
			return net.ParseIP(a.Address)
		}
	}
	return nil
}

// writeConf writes the bridge network over podCIDR, unless the file already says so.
func writeConf(dir, podCIDR string) error {
	conf := map[string]any{
		"cniVersion": "1.0.0",
		"name":       "podnet",
		"plugins": []any{
			map[string]any{
				"type": "bridge", "bridge": "cni0", "isGateway": true, "ipMasq": true, "hairpinMode": true,
				"ipam": map[string]any{
					"type":   "host-local",
					"ranges": [][]map[string]string{{{"subnet": podCIDR}}},
					"routes": []map[string]string{{"dst": "0.0.0.0/0"}},
				},
			},
			map[string]any{"type": "portmap", "capabilities": map[string]bool{"portMappings": true}},
		},
	}
	data, err := json.MarshalIndent(conf, "", "  ")
	if err != nil {
		return err
	}
	path := filepath.Join(dir, confName)
	if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, data) {
		return nil
	}
	if err := writeAtomic(path, data, 0o644); err != nil {
		return err
	}
	log.Printf("podnet: wrote %s for podCIDR %s", path, podCIDR)
	return nil
}

func writeAtomic(path string, data []byte, mode os.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

package realcluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gitsync-io/gitsync/test/nodes"
)

// TestHighAvailability bootstraps three control planes (stacked etcd) behind
// controlPlaneEndpoint and a worker, then stops the first control plane's machine: the API
// keeps answering, reads and writes, through the endpoint. The endpoint is a TCP load
// balancer the test runs on the nodes' gateway, as a user's haproxy or cloud load balancer
// would be, passing each connection to a control plane that accepts it.
func TestHighAvailability(t *testing.T) {
	roles := []string{"control-plane", "control-plane", "control-plane", "worker"}
	f := newFixtureWith(t, roles, func(c *nodes.Cluster) string {
		lb := startBalancer(t, c.Gateway, c.Nodes[:3])
		return "controlPlaneEndpoint: " + lb + "\n"
	})
	r := f.bootstrap()
	f.phase("bootstrap")
	if r.Code != 0 {
		t.Fatalf("gitsync bootstrap: want exit 0\n%s\nthe cluster:\n%s", r, f.describe())
	}
	cs := f.client()
	f.checkSystem(t, cs)
	f.checkGitsync(t, cs)
	f.phase("checks")

	f.nodes.Nodes[0].Stop(t)
	f.phase("stop cp-1")
	f.eventually(t, 2*time.Minute, "the API answers through the endpoint without cp-1", func() (bool, string) {
		// A connection the balancer had passed to cp-1 hangs: each try has its own deadline.
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		if _, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{}); err != nil {
			return false, "list nodes: " + err.Error()
		}
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{GenerateName: "ha-", Namespace: "default"}}
		if _, err := cs.CoreV1().ConfigMaps("default").Create(ctx, cm, metav1.CreateOptions{}); err != nil {
			return false, "write: " + err.Error()
		}
		return true, ""
	})
	f.phase("API without cp-1")
	f.eventually(t, 2*time.Minute, "cp-1 NotReady, the others Ready", func() (bool, string) {
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		list, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err.Error()
		}
		ready := map[string]bool{}
		for _, n := range list.Items {
			for _, c := range n.Status.Conditions {
				if c.Type == corev1.NodeReady {
					ready[n.Name] = c.Status == corev1.ConditionTrue
				}
			}
		}
		return !ready["cp-1"] && ready["cp-2"] && ready["cp-3"] && ready["worker-3"], fmt.Sprintf("Ready: %v", ready)
	})
	peak, err := f.nodes.PeakMemory()
	if err != nil {
		t.Error(err)
	}
	t.Logf("phases: %v; peak memory of the four nodes together: %d MiB", f.phases, peak>>20)
}

// startBalancer listens on addr and passes each connection to the first of backends (port
// 6443), in turn, that accepts it within a second; it returns its host:port.
func startBalancer(t *testing.T, addr netip.Addr, backends []*nodes.Node) string {
	t.Helper()
	l, err := net.Listen("tcp", netip.AddrPortFrom(addr, 0).String())
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { l.Close(); wg.Wait() })
	var next atomic.Uint32
	wg.Go(func() {
		for {
			conn, err := l.Accept()
			if errors.Is(err, net.ErrClosed) {
				return
			}
			if err != nil {
				continue
			}
			start := int(next.Add(1))
			go func() {
				defer conn.Close()
				for i := range backends {
					b := backends[(start+i)%len(backends)]
					up, err := net.DialTimeout("tcp", netip.AddrPortFrom(b.Address, 6443).String(), time.Second)
					if err != nil {
						continue
					}
					defer up.Close()
					done := make(chan struct{}, 2)
					go func() { _, _ = io.Copy(up, conn); done <- struct{}{} }()
					go func() { _, _ = io.Copy(conn, up); done <- struct{}{} }()
					<-done
					return
				}
			}()
		}
	})
	return l.Addr().String()
}

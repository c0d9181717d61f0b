// Command cluster starts and stops the development control plane behind
// `make cluster-up` and `make cluster-down`: the same components the tests
// use, left running in the background with their state in one directory.
//
//	go run ./test/cluster up   [--dir .cache/cluster] [--nodes 1]
//	go run ./test/cluster down [--dir .cache/cluster]
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"k8s.io/client-go/tools/clientcmd"

	"github.com/gitsync-io/gitsync/test/testenv"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "cluster:", err)
		os.Exit(1)
	}
}

func run() error {
	if len(os.Args) < 2 {
		return errors.New("usage: cluster up|down [--dir DIR] [--nodes N]")
	}
	fs := flag.NewFlagSet(os.Args[1], flag.ContinueOnError)
	dir := fs.String("dir", ".cache/cluster", "run directory; the kubeconfig is DIR/kubeconfig")
	nodes := fs.Int("nodes", 1, "simulated nodes")
	if err := fs.Parse(os.Args[2:]); err != nil {
		return err
	}
	abs, err := filepath.Abs(*dir)
	if err != nil {
		return err
	}
	switch os.Args[1] {
	case "up":
		return up(abs, *nodes)
	case "down":
		if err := testenv.StopDir(abs); err != nil {
			return err
		}
		fmt.Println("cluster: stopped, removed", abs)
		return nil
	default:
		return fmt.Errorf("unknown command %q: want up or down", os.Args[1])
	}
}

func up(dir string, nodes int) error {
	kubeconfig := filepath.Join(dir, "kubeconfig")
	if serving(kubeconfig) {
		fmt.Println("cluster: already running; KUBECONFIG=" + kubeconfig)
		return nil
	}
	// Whatever is left from a crashed or half-stopped plane goes first.
	if err := testenv.StopDir(dir); err != nil {
		return err
	}
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	ctx, cancelTimeout := context.WithTimeout(ctx, 2*time.Minute)
	defer cancelTimeout()
	cp, err := testenv.Start(ctx, testenv.Options{Dir: dir, Workloads: true, Nodes: nodes, Detach: true})
	if err != nil {
		return err
	}
	fmt.Println("cluster:", cp.Report())
	fmt.Println("cluster: running; logs in " + dir + "; stop with make cluster-down")
	fmt.Println("KUBECONFIG=" + kubeconfig)
	return nil
}

// serving reports whether the kubeconfig's apiserver answers /readyz.
func serving(kubeconfig string) bool {
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return false
	}
	ca, err := os.ReadFile(cfg.CAFile)
	if err != nil {
		return false
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	c := &http.Client{
		Timeout:   2 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}},
	}
	resp, err := c.Get(cfg.Host + "/readyz")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

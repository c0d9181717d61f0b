// Command probe is the real-cluster test's client inside a pod: it resolves a URL's host
// through the pod's name server (the cluster's CoreDNS), GETs the URL and prints what it
// found; it exits 1 unless the answer is 200 OK.
//
//	probe http://nginx-http.web.svc.cluster.local/
package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"time"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: probe URL")
		os.Exit(2)
	}
	if err := probe(os.Args[1]); err != nil {
		fmt.Fprintln(os.Stderr, "probe:", err)
		os.Exit(1)
	}
}

func probe(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	addrs, err := net.DefaultResolver.LookupHost(ctx, u.Hostname())
	if err != nil {
		return err
	}
	fmt.Printf("resolved %s: %v\n", u.Hostname(), addrs)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, raw, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}
	fmt.Printf("GET %s: %s\n%s", raw, resp.Status, body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", raw, resp.Status)
	}
	return nil
}

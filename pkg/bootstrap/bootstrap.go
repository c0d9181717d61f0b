package bootstrap

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
)

// Dialer connects to a node.
type Dialer func(ctx context.Context, n Node) (Runner, error)

// notYet are the steps of the issue still to be written; a run stops before them and says so.
var notYet = []string{"kubeadm init", "join", "calico", "gitsync"}

// Bootstrap takes the cluster file's machines towards a cluster: it connects to every node,
// gathers and checks their facts, then runs the steps on all nodes at once. A dry run only
// connects and checks.
func Bootstrap(ctx context.Context, c *Cluster, dial Dialer, opts Options) error {
	hosts, err := connect(ctx, c, dial)
	defer closeAll(hosts)
	if err != nil {
		return err
	}
	if err := checkFacts(ctx, hosts, opts); err != nil {
		return err
	}
	// One Step value for every node: nodes applying at once share its downloads. The
	// packages come before containerd, whose sandbox image is the one kubeadm names.
	steps := append(osSteps(), PackagesStep(), ContainerdStep())
	if err := onEach(hosts, func(h *Host) error { return RunSteps(ctx, h, steps, opts) }); err != nil {
		return err
	}
	if err := RunSteps(ctx, firstControlPlane(hosts), []Step{kubeadmConfigStep()}, opts); err != nil {
		return err
	}
	return fmt.Errorf("the nodes are prepared and kubeadm's configuration validated; the steps after that (%s) are not implemented yet", strings.Join(notYet, ", "))
}

// connect dials every node at once. Every node that cannot be reached is named.
func connect(ctx context.Context, c *Cluster, dial Dialer) ([]*Host, error) {
	hosts := make([]*Host, len(c.Nodes))
	errs := make([]error, len(c.Nodes))
	var wg sync.WaitGroup
	for i, n := range c.Nodes {
		wg.Go(func() {
			r, err := dial(ctx, n)
			if err != nil {
				errs[i] = fmt.Errorf("node %s: connect: %w", n.Name, err)
				return
			}
			hosts[i] = NewHost(c, n, r)
		})
	}
	wg.Wait()
	return hosts, errors.Join(errs...)
}

func closeAll(hosts []*Host) {
	for _, h := range hosts {
		if h != nil {
			h.run.Close()
		}
	}
}

// checkFacts gathers every node's facts and refuses nodes that cannot become part of the
// cluster, naming the node and the fact.
func checkFacts(ctx context.Context, hosts []*Host, opts Options) error {
	err := onEach(hosts, func(h *Host) error {
		if err := h.GatherFacts(ctx); err != nil {
			return &StepError{Node: h.Node.Name, Step: "facts", Err: err}
		}
		problems, warnings := h.Problems()
		for _, w := range warnings {
			opts.report(Event{Node: h.Node.Name, Step: "facts", Kind: Warning, Reason: w.Error()})
		}
		if len(problems) > 0 {
			return &StepError{Node: h.Node.Name, Step: "facts", Err: errors.Join(problems...)}
		}
		opts.report(Event{Node: h.Node.Name, Step: "facts", Kind: AlreadyDone,
			Reason: fmt.Sprintf("%s %s %s, %d CPU, %d MiB", h.Facts.OS, h.Facts.Version, h.Facts.Arch, h.Facts.CPUs, h.Facts.MemoryMiB)})
		return nil
	})
	if err != nil {
		return err
	}
	return errors.Join(uniqueness(hosts)...)
}

// onEach runs fn for every host at once and joins the errors.
func onEach(hosts []*Host, fn func(*Host) error) error {
	errs := make([]error, len(hosts))
	var wg sync.WaitGroup
	for i, h := range hosts {
		wg.Go(func() { errs[i] = fn(h) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// firstControlPlane is the host kubeadm init runs on.
func firstControlPlane(hosts []*Host) *Host {
	for _, h := range hosts {
		if h.Node.Role == ControlPlane {
			return h
		}
	}
	return nil // the cluster file's validation requires one
}

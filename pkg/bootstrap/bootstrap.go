package bootstrap

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
)

// Dialer connects to a node.
type Dialer func(ctx context.Context, n Node) (Runner, error)

// Result is what a run leaves for the steps that talk to the cluster itself.
type Result struct {
	// AdminConfig is the administrator's kubeconfig kubeadm wrote on the first control
	// plane, as it is there; nil in a dry run whose first control plane is not up yet.
	AdminConfig []byte
}

// Bootstrap takes the cluster file's machines to a kubeadm cluster: it connects to every node,
// gathers and checks their facts, prepares all nodes at once, runs kubeadm init on the first
// control plane, then joins the other control planes one at a time and the workers all at once.
// A dry run only connects and checks.
func Bootstrap(ctx context.Context, c *Cluster, dial Dialer, opts Options) (Result, error) {
	hosts, err := connect(ctx, c, dial)
	defer closeAll(hosts)
	if err != nil {
		return Result{}, err
	}
	if err := checkFacts(ctx, hosts, opts); err != nil {
		return Result{}, err
	}
	// One Step value for every node: nodes applying at once share its downloads. The
	// packages come before containerd, whose sandbox image is the one kubeadm names.
	steps := append(osSteps(), PackagesStep(), ContainerdStep())
	controlPlane := slices.Concat(steps, []Step{imagesStep()}) // the images kubeadm init and join pull
	err = onEach(hosts, func(h *Host) error {
		if h.Node.Role == ControlPlane {
			return RunSteps(ctx, h, controlPlane, opts)
		}
		return RunSteps(ctx, h, steps, opts)
	})
	if err != nil {
		return Result{}, err
	}
	first, others := splitFirst(hosts)
	if err := RunSteps(ctx, first, []Step{kubeadmConfigStep(), kubeadmInitStep()}, opts); err != nil {
		return Result{}, err
	}
	up, err := first.test(ctx, "[ -f "+adminConf+" ]")
	if err != nil {
		return Result{}, err
	}
	if !up { // a dry run before kubeadm init: the other nodes can only say they would join
		return Result{}, onEach(others, func(h *Host) error { return RunSteps(ctx, h, []Step{joinStep(nil)}, opts) })
	}
	if err := join(ctx, first, others, opts); err != nil {
		return Result{}, err
	}
	admin, err := first.AdminConfig(ctx)
	return Result{AdminConfig: admin}, err
}

// join brings the other nodes in: control planes one at a time, as etcd adds members one
// at a time, then every worker at once.
func join(ctx context.Context, first *Host, others []*Host, opts Options) error {
	var controlPlanes, workers int // still to join
	for _, h := range others {
		st, err := joinStep(nil).Check(ctx, h)
		switch {
		case err != nil:
			return &StepError{Node: h.Node.Name, Step: "kubeadm-join", Err: err}
		case st.Done:
		case h.Node.Role == ControlPlane:
			controlPlanes++
		default:
			workers++
		}
	}
	if err := RunSteps(ctx, first, []Step{joinSecretsStep(controlPlanes, workers)}, opts); err != nil {
		return err
	}
	var secrets Secrets
	var once sync.Once
	var secretsErr error
	step := joinStep(func(ctx context.Context) (Secrets, error) {
		once.Do(func() { secrets, secretsErr = first.joinSecrets(ctx) })
		return secrets, secretsErr
	})
	var workerHosts []*Host
	for _, h := range others {
		if h.Node.Role == Worker {
			workerHosts = append(workerHosts, h)
			continue
		}
		if err := RunSteps(ctx, h, []Step{step}, opts); err != nil {
			return err
		}
	}
	return onEach(workerHosts, func(h *Host) error { return RunSteps(ctx, h, []Step{step}, opts) })
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
	if w := cgroupV1Warning(hosts); w != nil {
		opts.report(Event{Node: hosts[0].Node.Name, Step: "facts", Kind: Warning, Reason: w.Error()})
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

// splitFirst returns the first control plane, which kubeadm init runs on, and the other nodes.
func splitFirst(hosts []*Host) (first *Host, others []*Host) {
	for _, h := range hosts {
		if first == nil && h.Node.Role == ControlPlane {
			first = h // the cluster file's validation requires one
			continue
		}
		others = append(others, h)
	}
	return first, others
}

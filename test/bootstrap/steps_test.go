package bootstrap

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/gitsync-io/gitsync/pkg/bootstrap"
	"github.com/gitsync-io/gitsync/pkg/bootstrap/ssh"
	"github.com/gitsync-io/gitsync/test/internal/syncbuf"
	"github.com/gitsync-io/gitsync/test/nodes"
)

// stepHost is a test node as one bootstrap step sees it, reached over SSH as deploy: the
// step tests run a step alone, through the library.
type stepHost struct {
	host *bootstrap.Host
	step bootstrap.Step
	log  *syncbuf.Buffer
}

// newStepHost connects to node as the only (control-plane) node of a cluster file that
// adds settings (versions, mirrors), and gathers its facts.
func newStepHost(t *testing.T, cluster *nodes.Cluster, node *nodes.Node, step bootstrap.Step, settings string) *stepHost {
	t.Helper()
	c, err := bootstrap.ParseCluster(fmt.Appendf(nil, `apiVersion: gitsync.io/v1alpha1
kind: Cluster
ssh: {user: deploy, keyFile: %s}
nodes:
- {name: %s, address: %s, role: control-plane}
gitops: {repo: https://git.example.org/ops/cluster.git}
%s`, cluster.ClientKeyFile, node.Name, node.Address, settings))
	if err != nil {
		t.Fatal(err)
	}
	log := &syncbuf.Buffer{}
	cfg := ssh.DefaultConfig()
	cfg.Address, cfg.User, cfg.KeyFile, cfg.AgentSocket = node.SSHAddr, "deploy", cluster.ClientKeyFile, ""
	cfg.KnownHostsFile = cluster.KnownHostsFile(t)
	cfg.Log = log
	client, err := ssh.Dial(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	h := bootstrap.NewHost(c, c.Nodes[0], client)
	if err := h.GatherFacts(t.Context()); err != nil {
		t.Fatal(err)
	}
	return &stepHost{host: h, step: step, log: log}
}

// run runs the step on the node and returns what it reported; on failure the test log gets
// the commands the step ran and their output.
func (h *stepHost) run(t *testing.T, dryRun bool) ([]bootstrap.Event, error) {
	t.Helper()
	var events []bootstrap.Event
	opts := bootstrap.Options{DryRun: dryRun, Report: func(e bootstrap.Event) { events = append(events, e) }}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	err := bootstrap.RunSteps(ctx, h.host, []bootstrap.Step{h.step}, opts)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("commands and output:\n%s", h.log)
		}
	})
	return events, err
}

func eventKinds(events []bootstrap.Event) []bootstrap.EventKind {
	var kinds []bootstrap.EventKind
	for _, e := range events {
		kinds = append(kinds, e.Kind)
	}
	return kinds
}

// closedPort is a URL on addr where nothing listens: a port that was just free.
func closedPort(t *testing.T, addr netip.Addr) string {
	l, err := net.Listen("tcp", netip.AddrPortFrom(addr, 0).String())
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + l.Addr().String()
	if err := l.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
		t.Fatal(err)
	}
	return url
}

// pushImage pushes a small random image to ref, over plain HTTP, and returns its digest.
func pushImage(t *testing.T, ref string) string {
	t.Helper()
	img, err := random.Image(1024, 1)
	if err != nil {
		t.Fatal(err)
	}
	r, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(r, img, remote.WithContext(t.Context())); err != nil {
		t.Fatal(err)
	}
	digest, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return digest.String()
}

package bootstrap

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gitsync-io/gitsync/pkg/bootstrap"
	"github.com/gitsync-io/gitsync/test/aptrepo"
	"github.com/gitsync-io/gitsync/test/nodes"
)

// TestPackages runs the packages step alone on a fresh node, against repositories served on
// the cluster's gateway: a dry run changes nothing; repositories that do not verify or cannot
// be reached fail with what apt or the fetch said; a good one gets kubelet, kubeadm and
// kubectl installed at the pinned version and held; a second run changes nothing; a minor
// upgrade moves the held packages.
func TestPackages(t *testing.T) {
	cluster := nodes.Start(t, nodes.Options{Nodes: []nodes.NodeOptions{{Name: "node1"}}})
	node := cluster.Nodes[0]
	debs := aptrepo.KubernetesDebs(t, "1.37.2", "1.1")
	good, other := aptrepo.NewKey(t, "good"), aptrepo.NewKey(t, "other")
	repo := aptrepo.Serve(t, cluster.Gateway, aptrepo.Repository{Minor: "v1.37", Debs: debs, Signer: good})
	forged := aptrepo.Serve(t, cluster.Gateway, aptrepo.Repository{Minor: "v1.37", Debs: debs, Signer: other, Published: good})
	host := packagesHost(t, cluster, node, "v1.37.2", repo.URL)
	// What apt and dpkg keep: a run that changes nothing leaves them as they are.
	state := func() map[string]string { return nodes.FileTree(t, node, "/etc", "/var/lib/dpkg", "/var/lib/apt") }
	fresh := state()

	t.Run("a dry run says what would run and changes nothing", func(t *testing.T) {
		events, err := host.run(t, true)
		if err != nil || len(events) != 1 {
			t.Fatalf("events %+v, error %v; want one event", events, err)
		}
		if events[0].Kind != bootstrap.WouldRun || !strings.Contains(events[0].Reason, "kubelet is not installed") {
			t.Errorf("events %+v, want one saying it would run because kubelet is not installed", events)
		}
		plan := strings.Join(events[0].Plan, "\n")
		for _, want := range []string{"deb [signed-by=/etc/apt/keyrings/kubernetes-apt-keyring.asc] " + repo.URL + "/v1.37/deb/ /",
			"fingerprint " + good.Fingerprint(), "kubeadm=1.37.2-<revision", "apt-mark hold kubelet kubeadm kubectl"} {
			if !strings.Contains(plan, want) {
				t.Errorf("the plan does not say %q:\n%s", want, plan)
			}
		}
		if diff := cmp.Diff(fresh, state()); diff != "" {
			t.Errorf("the dry run changed files on the node (-before +after):\n%s", diff)
		}
	})

	t.Run("a repository whose signature does not verify fails with apt's complaint", func(t *testing.T) {
		_, err := packagesHost(t, cluster, node, "v1.37.2", forged.URL).run(t, false)
		t.Logf("the error:\n%v", err)
		if err == nil || !strings.Contains(err.Error(), "NO_PUBKEY "+keyID(other)) || !strings.Contains(err.Error(), forged.URL+"/v1.37/deb") {
			t.Errorf("want an error naming the repository and the signing key apt does not know, got:\n%v", err)
		}
		assertNotInstalled(t, node)
	})

	t.Run("a mirror gitsync cannot reach fails naming the URL", func(t *testing.T) {
		closed := closedPort(t, cluster.Gateway) + "/core:/stable:"
		_, err := packagesHost(t, cluster, node, "v1.37.2", closed).run(t, false)
		t.Logf("the error:\n%v", err)
		if err == nil || !strings.Contains(err.Error(), closed+"/v1.37/deb/Release.key") || !strings.Contains(err.Error(), "connection refused") {
			t.Errorf("want an error naming the key's URL and the refused connection, got:\n%v", err)
		}
	})

	t.Run("a mirror the node cannot reach fails naming the URL", func(t *testing.T) {
		// gitsync fetches the key from this machine's loopback; on the node, that address is
		// the node's own, where nothing listens.
		local := aptrepo.Serve(t, netip.MustParseAddr("127.0.0.1"), aptrepo.Repository{Minor: "v1.37", Debs: debs, Signer: good})
		_, err := packagesHost(t, cluster, node, "v1.37.2", local.URL).run(t, false)
		t.Logf("the error:\n%v", err)
		if err == nil || !strings.Contains(err.Error(), "apt-get update of "+local.URL+"/v1.37/deb/") ||
			!strings.Contains(err.Error(), strings.TrimPrefix(local.URL, "http://")) {
			t.Errorf("want an error naming the repository apt could not reach, got:\n%v", err)
		}
		assertNotInstalled(t, node)
	})

	t.Run("a run installs the three packages at the pinned version and holds them", func(t *testing.T) {
		began := time.Now()
		events, err := host.run(t, false)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("the packages step applied in %s", time.Since(began).Round(time.Millisecond))
		if kinds := eventKinds(events); !cmp.Equal(kinds, []bootstrap.EventKind{bootstrap.Applying, bootstrap.Applied}) {
			t.Errorf("events %v, want applying, applied", kinds)
		}
		want := "kubeadm 1.37.2-1.1 hold installed\nkubectl 1.37.2-1.1 hold installed\nkubelet 1.37.2-1.1 hold installed\n"
		if diff := cmp.Diff(want, installed(t, node)); diff != "" {
			t.Errorf("dpkg (-want +got):\n%s", diff)
		}
		if got := strings.TrimSpace(node.Exec(t, "kubeadm", "version", "-o", "short")); got != "v1.37.2" {
			t.Errorf("kubeadm version -o short on the node: %q, want v1.37.2", got)
		}
		if got := strings.TrimSpace(node.Exec(t, "systemctl", "is-enabled", "kubelet")); got != "enabled" {
			t.Errorf("kubelet.service is %s, want enabled", got)
		}
	})

	t.Run("a second run finds it done, changes nothing and downloads nothing on the node", func(t *testing.T) {
		before, requests := state(), len(repo.Requests())
		began := time.Now()
		events, err := host.run(t, false)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("the packages step checked in %s", time.Since(began).Round(time.Millisecond))
		if kinds := eventKinds(events); !cmp.Equal(kinds, []bootstrap.EventKind{bootstrap.AlreadyDone}) {
			t.Errorf("events %+v, want done", events)
		}
		if diff := cmp.Diff(before, state()); diff != "" {
			t.Errorf("the second run changed files (-before +after):\n%s", diff)
		}
		for _, r := range repo.Requests()[requests:] {
			if r.From == node.Address {
				t.Errorf("the node fetched %s", r.Path)
			}
		}
	})

	t.Run("a minor upgrade rewrites the repository and moves the held packages", func(t *testing.T) {
		next := aptrepo.Serve(t, cluster.Gateway,
			aptrepo.Repository{Minor: "v1.37", Debs: debs, Signer: good},
			aptrepo.Repository{Minor: "v1.38", Debs: aptrepo.KubernetesDebs(t, "1.38.0", "1.1"), Signer: good})
		upgrade := packagesHost(t, cluster, node, "v1.38.0", next.URL)
		events, err := upgrade.run(t, false)
		if err != nil {
			t.Fatal(err)
		}
		if len(events) == 0 || !strings.Contains(events[0].Reason, "kubeadm 1.37.2-1.1 is installed, want 1.38.0") {
			t.Errorf("events %+v, want the check to name the installed version", events)
		}
		want := "kubeadm 1.38.0-1.1 hold installed\nkubectl 1.38.0-1.1 hold installed\nkubelet 1.38.0-1.1 hold installed\n"
		if diff := cmp.Diff(want, installed(t, node)); diff != "" {
			t.Errorf("dpkg (-want +got):\n%s", diff)
		}
		if list := string(node.ReadFile(t, "/etc/apt/sources.list.d/kubernetes.list")); !strings.Contains(list, next.URL+"/v1.38/deb/ /") {
			t.Errorf("kubernetes.list:\n%s", list)
		}
	})
}

// keyID is the long key ID apt names in NO_PUBKEY: the fingerprint's last 16 digits.
func keyID(k *aptrepo.Key) string { f := k.Fingerprint(); return f[len(f)-16:] }

// packagesHost is a node for the packages step, with Kubernetes version and the repository.
func packagesHost(t *testing.T, cluster *nodes.Cluster, node *nodes.Node, version, mirror string) *stepHost {
	return newStepHost(t, cluster, node, bootstrap.PackagesStep(), fmt.Sprintf("kubernetesVersion: %s\nmirrors: {kubernetes: %q}\n", version, mirror))
}

// installed lists kubelet, kubeadm and kubectl as dpkg knows them: name, version,
// selection (hold) and status.
func installed(t *testing.T, node *nodes.Node) string {
	t.Helper()
	out, _ := node.Command(t.Context(), "dpkg-query", "-W", "-f=${Package} ${Version} ${db:Status-Want} ${db:Status-Status}\n",
		"kubelet", "kubeadm", "kubectl").Output()
	return string(out)
}

func assertNotInstalled(t *testing.T, node *nodes.Node) {
	t.Helper()
	if got := installed(t, node); got != "" {
		t.Errorf("packages were installed:\n%s", got)
	}
}

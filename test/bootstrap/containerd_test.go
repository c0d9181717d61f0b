package bootstrap

import (
	"fmt"
	"net/netip"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gitsync-io/gitsync/pkg/bootstrap"
	"github.com/gitsync-io/gitsync/test/images"
	"github.com/gitsync-io/gitsync/test/nodes"
	"github.com/gitsync-io/gitsync/test/releases"
)

// TestContainerdStep runs the containerd step alone on a fresh node, from a mirror of
// containerd and runc built from source: a dry run changes nothing; a run installs them,
// writes the configuration and runs containerd with the CRI plugin; a second run changes
// nothing and downloads nothing; a version the mirror lacks, or a mirror that cannot be
// reached, fails naming the URL and leaves the node as it was; a configuration without the
// CRI, a disabled service and a damaged binary are repaired, each with the least it takes;
// and containerd comes back after a reboot.
func TestContainerdStep(t *testing.T) {
	m := releases.Serve(t)
	// A plain node: containerd and its CRI plugin start without the nspawn options that running
	// containers takes (see the package's doc).
	cluster := nodes.Start(t, nodes.Options{Nodes: []nodes.NodeOptions{{Name: "node1"}}})
	node := cluster.Nodes[0]
	// gitsync keeps downloads in the user's cache directory: a fresh one per test (set only
	// now: test/nodes keeps its rootfs there).
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	host := containerdHost(t, cluster, node, m.Version, m.URL)
	state := func() map[string]string { return nodes.FileTree(t, node, "/etc", "/usr/local") }
	fresh := state()

	t.Run("a dry run says what would run and changes nothing", func(t *testing.T) {
		events, err := host.run(t, true)
		if err != nil {
			t.Fatal(err)
		}
		if len(events) != 1 || events[0].Kind != bootstrap.WouldRun || !strings.Contains(events[0].Reason, "containerd is not installed") {
			t.Fatalf("events %+v, want one saying it would run because containerd is not installed", events)
		}
		plan := strings.Join(events[0].Plan, "\n")
		for _, want := range []string{
			fmt.Sprintf("download %s/v%s/containerd-%s-linux-%s.tar.gz", m.URL, m.Version, m.Version, runtime.GOARCH),
			fmt.Sprintf("download %s/runc/v%s/runc.%s", m.URL, bootstrap.RuncVersion, runtime.GOARCH),
			"write /etc/containerd/config.toml", "write /etc/systemd/system/containerd.service", "write /etc/crictl.yaml",
			"systemctl restart containerd",
		} {
			if !strings.Contains(plan, want) {
				t.Errorf("the plan does not say %q:\n%s", want, plan)
			}
		}
		if diff := cmp.Diff(fresh, state()); diff != "" {
			t.Errorf("the dry run changed files on the node (-before +after):\n%s", diff)
		}
		if got := m.Requests(); len(got) > 0 {
			t.Errorf("the dry run downloaded %q", got)
		}
	})

	t.Run("a run installs containerd and runc and runs containerd with the CRI plugin", func(t *testing.T) {
		began := time.Now()
		events, err := host.run(t, false)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("the containerd step applied in %s", time.Since(began).Round(time.Millisecond))
		if kinds := eventKinds(events); !cmp.Equal(kinds, []bootstrap.EventKind{bootstrap.Applying, bootstrap.Applied}) {
			t.Errorf("events %+v, want applying, applied", events)
		}
		if got := strings.TrimSpace(node.Exec(t, "systemctl", "is-active", "containerd")); got != "active" {
			t.Errorf("containerd is %s", got)
		}
		if got := strings.TrimSpace(node.Exec(t, "ctr", "version")); !strings.Contains(got, "Server:\n  Version:  v"+m.Version) {
			t.Errorf("ctr version does not show the server at v%s:\n%s", m.Version, got)
		}
		plugins := node.Exec(t, "ctr", "plugins", "ls")
		for _, p := range []string{"io.containerd.grpc.v1 +cri ", "io.containerd.cri.v1 +runtime ", "io.containerd.cri.v1 +images "} {
			if !matchLine(plugins, p+".* ok *$") {
				t.Errorf("ctr plugins ls does not show %s ok:\n%s", p, plugins)
			}
		}
		if got, want := strings.TrimSpace(node.Exec(t, "runc", "--version")), "runc version "+m.RuncVersion(t); !strings.HasPrefix(got, want) {
			t.Errorf("runc --version: %q, want %q", got, want)
		}
		config := string(node.ReadFile(t, "/etc/containerd/config.toml"))
		for _, want := range []string{"version = 4\n", `sandbox = "registry.k8s.io/pause:3.10.2"`, `config_path = "/etc/containerd/certs.d"`,
			"SystemdCgroup = true\n", `runtime_type = "io.containerd.runc.v2"`} {
			if !strings.Contains(config, want) {
				t.Errorf("config.toml does not say %q:\n%s", want, config)
			}
		}
		// What containerd made of it: the merged configuration it runs with.
		dump := node.Exec(t, "containerd", "config", "dump")
		for _, want := range []string{"SystemdCgroup = true", "sandbox = 'registry.k8s.io/pause:3.10.2'", "config_path = '/etc/containerd/certs.d'",
			"disabled_plugins = []"} {
			if !strings.Contains(dump, want) {
				t.Errorf("containerd config dump does not say %q:\n%s", want, dump)
			}
		}
		if got := string(node.ReadFile(t, "/etc/crictl.yaml")); !strings.Contains(got, "runtime-endpoint: unix:///var/run/containerd/containerd.sock\n") {
			t.Errorf("/etc/crictl.yaml:\n%s", got)
		}
	})

	t.Run("a second run finds it done, changes nothing and downloads nothing", func(t *testing.T) {
		before, requests := state(), len(m.Requests())
		began := time.Now()
		events, err := host.run(t, false)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("the containerd step checked in %s", time.Since(began).Round(time.Millisecond))
		if kinds := eventKinds(events); !cmp.Equal(kinds, []bootstrap.EventKind{bootstrap.AlreadyDone}) {
			t.Errorf("events %+v, want done", events)
		}
		if diff := cmp.Diff(before, state()); diff != "" {
			t.Errorf("the second run changed files (-before +after):\n%s", diff)
		}
		if got := m.Requests()[requests:]; len(got) > 0 {
			t.Errorf("the second run downloaded %q", got)
		}
	})

	installed := state()
	closed := closedPort(t, netip.MustParseAddr("127.0.0.1"))
	for _, tc := range []struct {
		name, version, mirror string
		want                  []string
	}{
		{"a version the mirror does not hold fails naming the URL", "2.3.0", m.URL,
			[]string{m.URL + "/v2.3.0/containerd-2.3.0-linux-" + runtime.GOARCH + ".tar.gz", "404 Not Found"}},
		{"a mirror that cannot be reached fails naming the URL", m.Version, closed,
			[]string{closed + "/v" + m.Version + "/containerd-" + m.Version + "-linux-" + runtime.GOARCH + ".tar.gz", "connection refused"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			other := containerdHost(t, cluster, node, tc.version, tc.mirror)
			if tc.version == m.Version { // the node has it: make the step want the download
				shim := "/usr/local/bin/containerd-shim-runc-v2"
				node.Exec(t, "mv", shim, shim+".away")
				defer node.Exec(t, "mv", shim+".away", shim)
			}
			_, err := other.run(t, false)
			for _, want := range append(tc.want, "node node1: step containerd:") {
				if err == nil || !strings.Contains(err.Error(), want) {
					t.Errorf("want an error saying %q, got:\n%v", want, err)
				}
			}
			if got := strings.Fields(node.Exec(t, "/usr/local/bin/containerd", "--version")); len(got) < 3 || got[2] != "v"+m.Version {
				t.Errorf("containerd --version: %q, want v%s still", got, m.Version)
			}
		})
	}
	if diff := cmp.Diff(installed, state()); diff != "" {
		t.Errorf("the failed runs changed files (-before +after):\n%s", diff)
	}

	t.Run("a configuration without the CRI plugin, as Docker's package writes, is replaced", func(t *testing.T) {
		node.Exec(t, "sh", "-c", `printf 'version = 3\ndisabled_plugins = ["io.containerd.grpc.v1.cri"]\n' > /etc/containerd/config.toml && systemctl restart containerd`)
		events, err := host.run(t, false)
		if err != nil {
			t.Fatal(err)
		}
		if len(events) == 0 || !strings.Contains(events[0].Reason, "/etc/containerd/config.toml is not what gitsync writes") ||
			!strings.Contains(events[0].Reason, "the CRI plugin io.containerd.grpc.v1.cri is not loaded") {
			t.Errorf("events %+v, want the check to name the file and the missing CRI plugin", events)
		}
		if plugins := node.Exec(t, "ctr", "plugins", "ls"); !matchLine(plugins, "io.containerd.grpc.v1 +cri .* ok *$") {
			t.Errorf("ctr plugins ls does not show the CRI plugin ok:\n%s", plugins)
		}
		if diff := cmp.Diff(installed, state()); diff != "" {
			t.Errorf("files differ from the first run's (-first +now):\n%s", diff)
		}
	})

	t.Run("a containerd that is not enabled at boot is enabled, not restarted", func(t *testing.T) {
		pid := node.Exec(t, "systemctl", "show", "-p", "MainPID", "containerd")
		node.Exec(t, "systemctl", "disable", "-q", "containerd")
		events, err := host.run(t, false)
		if err != nil {
			t.Fatal(err)
		}
		if len(events) == 0 || events[0].Reason != "containerd is not enabled at boot" {
			t.Errorf("events %+v, want the check to say containerd is not enabled", events)
		}
		if got := node.Exec(t, "systemctl", "show", "-p", "MainPID", "containerd"); got != pid {
			t.Errorf("containerd was restarted: %s, before %s", got, pid)
		}
	})

	t.Run("a damaged installation is repaired under the running containerd", func(t *testing.T) {
		node.Exec(t, "sh", "-c", "echo damaged > /usr/local/bin/containerd-shim-runc-v2")
		events, err := host.run(t, false)
		if err != nil {
			t.Fatal(err)
		}
		if kinds := eventKinds(events); len(events) == 0 || !cmp.Equal(kinds, []bootstrap.EventKind{bootstrap.Applying, bootstrap.Applied}) ||
			events[0].Reason != "containerd-shim-runc-v2 is not installed" {
			t.Errorf("events %+v, want applying (the shim is not installed), applied", events)
		}
		if diff := cmp.Diff(installed, state()); diff != "" {
			t.Errorf("files differ from the first run's (-first +now):\n%s", diff)
		}
		if got := installed["/usr/local/bin/containerd"]; !strings.HasPrefix(got, "-rwxr-xr-x 0:0 ") {
			t.Errorf("/usr/local/bin/containerd is %s, want root's, mode 755", got)
		}
	})

	t.Run("pulls of a registry's images come from its mirror; a mirror taken out of the file is removed", func(t *testing.T) {
		mirror := images.ServeRegistry(t, cluster.Gateway)
		digest := pushImage(t, mirror+"/test/hello:1")
		withMirror := newStepHost(t, cluster, node, bootstrap.ContainerdStep(), fmt.Sprintf(
			"kubernetesVersion: v1.37.2\ncontainerd: {version: %q}\nmirrors: {containerd: %q, registries: {registry.example.org: \"http://%s\"}}\n",
			m.Version, m.URL, mirror))
		hosts := "/etc/containerd/certs.d/registry.example.org/hosts.toml"
		events, err := withMirror.run(t, false)
		if err != nil {
			t.Fatal(err)
		}
		if len(events) == 0 || events[0].Reason != hosts+" is not what gitsync writes" {
			t.Errorf("events %+v, want the check to name the mirror's hosts.toml", events)
		}
		// registry.example.org does not even resolve on the node: only the mirror can serve
		// the pull. ctr reads the hosts.toml files as the CRI plugin does (config_path).
		out, err := node.Command(t.Context(), "ctr", "images", "pull", "--hosts-dir", "/etc/containerd/certs.d", "registry.example.org/test/hello:1").CombinedOutput()
		if err != nil {
			t.Fatalf("pull through the mirror: %v\n%s", err, out)
		}
		if got := node.Exec(t, "ctr", "images", "ls", "-q", "name==registry.example.org/test/hello:1"); !strings.Contains(node.Exec(t, "ctr", "images", "ls"), digest) || got == "" {
			t.Errorf("the image pulled is not the one the mirror holds (%s):\n%s", digest, node.Exec(t, "ctr", "images", "ls"))
		}
		if events, err := withMirror.run(t, false); err != nil || !cmp.Equal(eventKinds(events), []bootstrap.EventKind{bootstrap.AlreadyDone}) {
			t.Errorf("second run: %+v %v, want done", events, err)
		}

		events, err = host.run(t, false) // the cluster file without the mirror
		if err != nil {
			t.Fatal(err)
		}
		if len(events) == 0 || events[0].Reason != hosts+" no longer in mirrors.registries" {
			t.Errorf("events %+v, want the check to name the mirror no longer in the file", events)
		}
		if out, err := node.Command(t.Context(), "test", "-e", "/etc/containerd/certs.d/registry.example.org").CombinedOutput(); err == nil {
			t.Errorf("the mirror's directory is still there %s", out)
		}
	})

	t.Run("containerd comes back after a reboot", func(t *testing.T) {
		node.Restart(t)
		// Once the boot is over (sshd may answer before containerd is up); "degraded" is fine.
		_ = node.Command(t.Context(), "systemctl", "is-system-running", "--wait").Run()
		host := containerdHost(t, cluster, node, m.Version, m.URL) // a new connection
		events, err := host.run(t, false)
		if err != nil {
			t.Fatal(err)
		}
		if kinds := eventKinds(events); !cmp.Equal(kinds, []bootstrap.EventKind{bootstrap.AlreadyDone}) {
			t.Errorf("events %+v, want done", events)
		}
	})
}

// matchLine reports whether a line of text matches the regular expression re.
func matchLine(text, re string) bool {
	return regexp.MustCompile("(?m)^" + re).MatchString(text)
}

// containerdHost is a node for the containerd step, with containerd's version and mirror.
func containerdHost(t *testing.T, cluster *nodes.Cluster, node *nodes.Node, version, mirror string) *stepHost {
	return newStepHost(t, cluster, node, bootstrap.ContainerdStep(),
		fmt.Sprintf("kubernetesVersion: v1.37.2\ncontainerd: {version: %q}\nmirrors: {containerd: %q}\n", version, mirror))
}

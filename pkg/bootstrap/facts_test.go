package bootstrap

import (
	"errors"
	"strings"
	"testing"
)

// TestCgroupV1AndOOMScoreFacts: a machine on cgroup v1, or one that cannot lower an
// oom_score_adj, is refused before anything changes, naming the setting that admits it and
// the kernel parameter that moves it to cgroup v2; with the settings it passes, and the run
// warns once about cgroup v1's future.
func TestCgroupV1AndOOMScoreFacts(t *testing.T) {
	good := Facts{OS: "debian", Version: "12", Arch: "amd64", CgroupV2: true, CPUs: 2, MemoryMiB: 4096, HasAddress: true, LowersOOMScoreAdj: true}
	v1, container := good, good
	v1.CgroupV2 = false
	container.LowersOOMScoreAdj = false
	for _, tc := range []struct {
		name     string
		facts    Facts
		settings string
		want     []string // in the problems; none wanted when empty
	}{
		{"cgroup v2", good, "", nil},
		{"cgroup v1 without the setting", v1, "", []string{"cgroup v1", "systemd.unified_cgroup_hierarchy=1", "kubelet: {allowCgroupV1: true}"}},
		{"cgroup v1 allowed", v1, "kubelet: {allowCgroupV1: true}\n", nil},
		{"no CAP_SYS_RESOURCE", container, "", []string{"cannot lower an oom_score_adj", "containerd: {restrictOOMScoreAdj: true}"}},
		{"no CAP_SYS_RESOURCE, restricted", container, "containerd: {restrictOOMScoreAdj: true}\n", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := ParseCluster([]byte(minimal + tc.settings))
			if err != nil {
				t.Fatal(err)
			}
			h := &Host{Node: c.Nodes[0], Cluster: c, Facts: tc.facts}
			problems, _ := h.Problems()
			got := errors.Join(problems...)
			if len(tc.want) == 0 && got != nil {
				t.Fatalf("problems: %v", got)
			}
			for _, w := range tc.want {
				if got == nil || !strings.Contains(got.Error(), w) {
					t.Errorf("problems %v do not say %q", got, w)
				}
			}
		})
	}

	c, err := ParseCluster([]byte(minimal + "kubelet: {allowCgroupV1: true}\n"))
	if err != nil {
		t.Fatal(err)
	}
	hosts := []*Host{{Node: c.Nodes[0], Cluster: c, Facts: v1}, {Node: c.Nodes[1], Cluster: c, Facts: v1}}
	if w := cgroupV1Warning(hosts); w == nil || !strings.Contains(w.Error(), "cp1, w1 boot cgroup v1") || !strings.Contains(w.Error(), "after 1.37") {
		t.Errorf("warning: %v, want one naming both nodes and the future", w)
	}
	hosts[0].Facts, hosts[1].Facts = good, good
	if w := cgroupV1Warning(hosts); w != nil {
		t.Errorf("warning on cgroup v2: %v", w)
	}
}

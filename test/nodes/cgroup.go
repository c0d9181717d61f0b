package nodes

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// cgroupRoots returns where a cluster's cgroups go in each hierarchy: below the test
// process's own cgroup in the v2 hierarchy (hybrid and unified hosts), the named v1
// hierarchy "name=systemd" and every v1 controller hierarchy (legacy and hybrid hosts). Each
// node gets a cgroup of its own in each of them, which its cgroup namespace shows as the
// root: otherwise nspawn puts every container into the same "payload" cgroup next to its
// own, where one node's systemd stops or kills the other's units, and a kubelet's /kubepods
// would be one cgroup shared by every node, outside the test's subtree.
func cgroupRoots() ([]string, error) {
	mountinfo, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	own, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return nil, err
	}
	// "4:memory:/process_api/x", "1:name=systemd:/", "0::/": controllers → own path.
	paths := map[string]string{}
	for line := range strings.SplitSeq(strings.TrimSpace(string(own)), "\n") {
		if f := strings.SplitN(line, ":", 3); len(f) == 3 {
			paths[f[1]] = f[2]
		}
	}
	var roots []string
	for line := range strings.SplitSeq(string(mountinfo), "\n") {
		// "36 25 0:31 / /sys/fs/cgroup/memory rw,... - cgroup cgroup rw,memory"
		pre, post, ok := strings.Cut(line, " - ")
		fields, tail := strings.Fields(pre), strings.Fields(post)
		if !ok || len(fields) < 5 || len(tail) < 3 || fields[3] != "/" {
			continue
		}
		switch tail[0] {
		case "cgroup2":
			if p, ok := paths[""]; ok {
				roots = append(roots, filepath.Join(fields[4], p))
			}
		case "cgroup":
			opts := strings.Split(tail[2], ",")
			for controllers, p := range paths {
				if controllers != "" && !slices.Contains(roots, filepath.Join(fields[4], p)) && allIn(strings.Split(controllers, ","), opts) {
					roots = append(roots, filepath.Join(fields[4], p))
				}
			}
		}
	}
	if len(roots) == 0 {
		return nil, errors.New("no cgroup hierarchy for systemd-nspawn (neither cgroup2 nor name=systemd is mounted)")
	}
	return roots, nil
}

func allIn(want, have []string) bool {
	for _, w := range want {
		if !slices.Contains(have, w) {
			return false
		}
	}
	return true
}

// cgroupDirs names the cgroup of run (a cluster) in each hierarchy.
func cgroupDirs(roots []string, run string) []string {
	dirs := make([]string, len(roots))
	for i, root := range roots {
		dirs[i] = filepath.Join(root, run)
	}
	return dirs
}

// makeCgroup makes the cgroup dir. A v1 cpuset cgroup starts with no CPUs and no memory
// nodes, and takes no process until given some: it gets its parent's.
func makeCgroup(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, f := range []string{"cpuset.cpus", "cpuset.mems"} {
		cur, err := os.ReadFile(filepath.Join(dir, f))
		if errors.Is(err, os.ErrNotExist) {
			return nil // not the cpuset hierarchy
		}
		if err != nil {
			return err
		}
		if strings.TrimSpace(string(cur)) != "" {
			continue
		}
		parent, err := os.ReadFile(filepath.Join(filepath.Dir(dir), f))
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, f), parent, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// PeakMemory is the most memory the cluster's nodes have used together so far, as their
// memory cgroup counts it (page cache included): memory.max_usage_in_bytes on cgroup v1,
// memory.peak on v2.
func (c *Cluster) PeakMemory() (int64, error) {
	for _, cg := range c.sup.cgroups {
		for _, f := range []string{"memory.max_usage_in_bytes", "memory.peak"} {
			data, err := os.ReadFile(filepath.Join(cg, f))
			if errors.Is(err, os.ErrNotExist) {
				continue
			}
			if err != nil {
				return 0, err
			}
			return strconv.ParseInt(strings.TrimSpace(string(data)), 10, 64)
		}
	}
	return 0, errors.New("no memory cgroup of the cluster")
}

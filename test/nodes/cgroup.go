package nodes

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
)

// cgroupRoots returns the mount points of the cgroup hierarchies that
// systemd-nspawn places containers in: the named v1 hierarchy
// "name=systemd" (legacy and hybrid hosts) and the v2 hierarchy (hybrid and
// unified hosts). Each node gets a cgroup of its own in each of them;
// otherwise nspawn puts every container into the same "payload" cgroup next
// to its own, where one node's systemd stops or kills the other's units.
func cgroupRoots() ([]string, error) {
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	var roots []string
	for line := range strings.SplitSeq(string(data), "\n") {
		// "36 25 0:31 / /sys/fs/cgroup/systemd rw,... - cgroup cgroup rw,xattr,name=systemd"
		pre, post, ok := strings.Cut(line, " - ")
		fields, tail := strings.Fields(pre), strings.Fields(post)
		if !ok || len(fields) < 5 || len(tail) < 3 || fields[3] != "/" {
			continue
		}
		switch {
		case tail[0] == "cgroup2",
			tail[0] == "cgroup" && strings.Contains(","+tail[2]+",", ",name=systemd,"):
			roots = append(roots, fields[4])
		}
	}
	if len(roots) == 0 {
		return nil, errors.New("no cgroup hierarchy for systemd-nspawn (neither cgroup2 nor name=systemd is mounted)")
	}
	return roots, nil
}

// cgroupDirs names the cgroup of run (a cluster) in each hierarchy.
func cgroupDirs(roots []string, run string) []string {
	dirs := make([]string, len(roots))
	for i, root := range roots {
		dirs[i] = filepath.Join(root, run)
	}
	return dirs
}

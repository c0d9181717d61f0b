package nodes

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// childPIDs lists the live children of pid, from /proc.
func childPIDs(pid int) []int {
	var kids []int
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, path := range stats {
		state, ppid, ok := procStat(path)
		if ok && ppid == pid && state != 'Z' {
			kid, _ := strconv.Atoi(filepath.Base(filepath.Dir(path)))
			kids = append(kids, kid)
		}
	}
	return kids
}

// procStat reads the state and parent of a process from its stat file:
// "pid (comm) S ppid ...", where comm may contain anything.
func procStat(path string) (state byte, ppid int, ok bool) {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, 0, false
	}
	i := bytes.LastIndexByte(data, ')')
	if i < 0 {
		return 0, 0, false
	}
	fields := strings.Fields(string(data[i+1:]))
	if len(fields) < 2 {
		return 0, 0, false
	}
	ppid, err = strconv.Atoi(fields[1])
	return fields[0][0], ppid, err == nil
}

// comm is the command name of pid.
func comm(pid int) string {
	data, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
	return strings.TrimSpace(string(data))
}

// statusField returns a field of /proc/PID/status, such as "NSpid".
func statusField(pid int, name string) string {
	data, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	for line := range strings.SplitSeq(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, name+":"); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// isNamespaceInit reports whether pid is PID 1 of a PID namespace below ours.
func isNamespaceInit(pid int) bool {
	nspid := strings.Fields(statusField(pid, "NSpid"))
	return len(nspid) > 1 && nspid[len(nspid)-1] == "1"
}

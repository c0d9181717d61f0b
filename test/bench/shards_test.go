package bench

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	gsync "github.com/gitsync-io/gitsync/pkg/sync"
	"github.com/gitsync-io/gitsync/test/internal/syncbuf"
	"github.com/gitsync-io/gitsync/test/testenv"
)

// TestShards runs three `gitsync run --shard-count 3 --leader-elect`
// replicas, each through its own proxy, over 30 syncs: each replica takes
// one shard by Lease and every sync is applied by exactly one replica. Then
// the replica of one shard is killed: another takes the shard once its
// Lease expires, and a commit to every path, pushed to a survivor, is
// applied by the survivors, each sync once, and each survivor watched the
// live objects once for all the shards it ran.
func TestShards(t *testing.T) {
	const syncs, shards = 30, 3
	const leaseDuration = 4 * time.Second
	// One sync depends on s0000, which another shard runs: it reads its
	// status from the cluster.
	dependent := ""
	f := newManyFixture(t, fmt.Sprintf("sh%d", runs.Add(1)), syncs, time.Hour, func(invNS, name string) string {
		if dependent == "" && gsync.ShardOf(invNS, name, shards) != gsync.ShardOf(invNS, "s0000", shards) {
			dependent = name
			return ", dependsOn: [s0000]"
		}
		return ""
	})
	repo, admin, invNS, prefix := f.repo, f.admin, f.invNS, f.prefix

	bin := buildGitsync(t)
	type replica struct {
		name  string
		addr  string
		proxy *testenv.Proxy
		cmd   *exec.Cmd
		logs  *syncbuf.Buffer
	}
	var replicas []*replica
	for i := range shards {
		r := &replica{name: fmt.Sprintf("replica-%d", i), addr: freeAddr(t), proxy: testenv.StartProxy(t, identity(t)), logs: &syncbuf.Buffer{}}
		r.cmd = exec.Command(bin, "run", "--config", f.config, "--kubeconfig", r.proxy.Kubeconfig,
			"--namespace", invNS, "--cache-dir", t.TempDir(), "--http-addr", r.addr, "--log-format", "json",
			"--shard-count", fmt.Sprint(shards), "--leader-elect",
			"--leader-elect-lease-duration", leaseDuration.String(), "--leader-elect-renew-deadline", "3s", "--leader-elect-retry-period", "500ms")
		r.cmd.Env = append(os.Environ(), "HOME="+t.TempDir(), "POD_NAME="+r.name)
		r.cmd.Stdout, r.cmd.Stderr = r.logs, r.logs
		if err := r.cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = r.cmd.Process.Kill(); _ = r.cmd.Wait() })
		replicas = append(replicas, r)
	}
	logs := func() string {
		var sb strings.Builder
		for _, r := range replicas {
			fmt.Fprintf(&sb, "--- %s\n%s\n", r.name, tailOf(r.logs.String(), 3000))
		}
		return sb.String()
	}
	m := &manyRun{manyOptions: manyOptions{syncs: syncs}, logs: &syncbuf.Buffer{}}

	// Which replica applied which sync: the writes into each sync's namespace.
	syncOf := regexp.MustCompile(`/namespaces/` + prefix + `-(s\d{4})[/]?`)
	appliedBy := func(from []int) map[string][]string {
		out := map[string][]string{}
		for i, r := range replicas {
			seen := map[string]bool{}
			for _, w := range r.proxy.WritePaths()[from[i]:] {
				if m := syncOf.FindStringSubmatch(w); m != nil && !seen[m[1]] {
					seen[m[1]] = true
					out[m[1]] = append(out[m[1]], r.name)
				}
			}
		}
		return out
	}
	marks := func() []int {
		var out []int
		for _, r := range replicas {
			out = append(out, len(r.proxy.WritePaths()))
		}
		return out
	}

	start := marks()
	m.waitAllReady(t, admin, invNS, repo.Head(t), 3*time.Minute)
	holders := shardHolders(t, admin, invNS, shards)
	perReplica := map[string]int{}
	for s, by := range appliedBy(start) {
		if len(by) != 1 {
			t.Errorf("cold: sync %s applied by %v, want exactly one replica", s, by)
		}
		perReplica[by[0]]++
	}
	t.Logf("cold: shard holders %v; syncs applied per replica %v; %s waited for s0000 of another shard", holders, perReplica, dependent)
	if len(perReplica) != shards || len(uniq(holders)) != shards {
		t.Errorf("cold: %d replicas applied syncs and shards are held by %v; want each of the %d replicas to hold one shard\n%s", len(perReplica), holders, shards, logs())
	}

	// Every replica's status page shows every sync: its own shard's from
	// its Managers, the others' from what they record.
	for _, r := range replicas {
		var views []struct{ Name, State, Shard string }
		if err := json.Unmarshal([]byte(get(t, "http://"+r.addr+"/ui/api/syncs")), &views); err != nil {
			t.Fatalf("%s: /ui/api/syncs: %v", r.name, err)
		}
		ready, elsewhere := 0, 0
		for _, v := range views {
			if v.State == "Ready" {
				ready++
			}
			if v.Shard != "" {
				elsewhere++
			}
		}
		if len(views) != syncs || ready != syncs || elsewhere == 0 || elsewhere == syncs {
			t.Errorf("%s's status page: %d syncs, %d Ready, %d run elsewhere; want all %d Ready, some run elsewhere", r.name, len(views), ready, elsewhere, syncs)
		}
	}

	// Kill the replica of shard 0.
	victim := replicas[0]
	for _, r := range replicas {
		if r.name == holders[0] {
			victim = r
		}
	}
	if err := victim.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	deadline := killed.Add(3*leaseDuration + 10*time.Second)
	var taker string
	for taker = holders[0]; taker == victim.name || taker == ""; taker = shardHolders(t, admin, invNS, shards)[0] {
		if time.Now().After(deadline) {
			t.Fatalf("shard 0 still held by the killed %s after %s\n%s", victim.name, time.Since(killed), logs())
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("shard 0 moved from the killed %s to %s in %s (lease duration %s)", victim.name, taker, time.Since(killed).Round(10*time.Millisecond), leaseDuration)

	// Once the killed replica's membership lapses too, the survivors divide
	// every shard between them again, so other shards move as well. Wait
	// until the holders stay put for two lease durations: a sync whose shard
	// moves while it is applied is applied by both, one after the other.
	settled, since := shardHolders(t, admin, invNS, shards), time.Now()
	for time.Since(since) < 2*leaseDuration {
		if time.Now().After(deadline.Add(2 * leaseDuration)) {
			t.Fatalf("the shard holders never settled after the kill: %v\n%s", settled, logs())
		}
		time.Sleep(200 * time.Millisecond)
		if now := shardHolders(t, admin, invNS, shards); !slices.Equal(now, settled) || slices.Contains(now, victim.name) || slices.Contains(now, "") {
			settled, since = now, time.Now()
		}
	}
	t.Logf("the shards settled on %v", settled)

	repo.Commit(t, "change every path", manyFiles(prefix, syncs, "v2"))
	start = marks()
	var survivor *replica
	for _, r := range replicas {
		if r != victim {
			survivor = r
		}
	}
	f.push(t, survivor.addr)
	m.waitAllReady(t, admin, invNS, repo.Head(t), 3*time.Minute)
	applied := appliedBy(start)
	if len(applied) != syncs {
		t.Errorf("after the kill: %d syncs applied, want all %d", len(applied), syncs)
	}
	for s, by := range applied {
		if len(by) != 1 || by[0] == victim.name {
			t.Errorf("after the kill: sync %s applied by %v, want one surviving replica", s, by)
		}
	}

	// The Managers of the shards a replica runs share one watch per type of
	// live object: the survivor that took over shard 0 did not start a
	// second one (only those watches read namespaces).
	for _, r := range replicas {
		if n := r.proxy.RequestsByResource()["watch namespaces"]; r != victim && n != 1 {
			t.Errorf("%s watched namespaces %d times; want once, for all the shards it ran", r.name, n)
		}
	}
}

// shardHolders returns the holder of each shard's Lease ("" if none).
func shardHolders(t *testing.T, cs kubernetes.Interface, namespace string, shards int) []string {
	t.Helper()
	out := make([]string, shards)
	for k := range shards {
		l, err := cs.CoordinationV1().Leases(namespace).Get(t.Context(), fmt.Sprintf("gitsync-shard-%d", k), metav1.GetOptions{})
		if err == nil && l.Spec.HolderIdentity != nil {
			out[k] = *l.Spec.HolderIdentity
		}
	}
	return out
}

func uniq(values []string) map[string]bool {
	out := map[string]bool{}
	for _, v := range values {
		if v != "" {
			out[v] = true
		}
	}
	return out
}

package bootstrap

import (
	"os"
	"strings"
	"testing"
)

func TestHostKeys(t *testing.T) {
	f := newFixture(t, "control-plane")
	node := f.nodes.Nodes[0]
	trusted := f.known

	t.Run("an unknown host is refused and nothing runs on it", func(t *testing.T) {
		f.known = t.TempDir() + "/known_hosts"
		f.write()
		r := f.bootstrap()
		if r.Code == 0 || !strings.Contains(r.Stderr, "node cp-1: connect:") || !strings.Contains(r.Stderr, "SHA256:") ||
			!strings.Contains(r.Stderr, "--ssh-accept-new") {
			t.Errorf("want a refusal naming the node, the key's fingerprint and --ssh-accept-new:\n%s", r)
		}
		if strings.TrimSpace(node.Exec(t, "hostname")) != node.Name {
			t.Error("the hostname changed on a node whose key was not trusted")
		}
	})
	t.Run("--ssh-accept-new records the key and goes on", func(t *testing.T) {
		r := f.bootstrap("--ssh-accept-new", "--dry-run")
		data, err := os.ReadFile(f.known)
		if err != nil || !strings.Contains(string(data), node.Address.String()) || len(lines(r.Stdout, "cp-1", "hostname")) != 1 {
			t.Errorf("known_hosts %q (%v) after:\n%s", data, err, r)
		}
		if r := f.bootstrap("--dry-run"); len(lines(r.Stdout, "cp-1", "hostname")) != 1 {
			t.Errorf("the recorded key is not trusted on the next run:\n%s", r)
		}
	})
	t.Run("a changed key is refused, even with --ssh-accept-new", func(t *testing.T) {
		other := newFixture(t, "control-plane") // another node's keys, under this node's address
		var forged []string
		for _, line := range strings.Split(strings.TrimSpace(readFile(t, other.known)), "\n") {
			_, rest, _ := strings.Cut(line, " ")
			forged = append(forged, node.Address.String()+" "+rest)
		}
		if err := os.WriteFile(f.known, []byte(strings.Join(forged, "\n")+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		r := f.bootstrap("--ssh-accept-new")
		if r.Code == 0 || !strings.Contains(r.Stderr, "node cp-1: connect:") || !strings.Contains(strings.ToLower(r.Stderr), "man-in-the-middle") {
			t.Errorf("want a refusal warning of a possible man-in-the-middle:\n%s", r)
		}
		if got := readFile(t, f.known); got != strings.Join(forged, "\n")+"\n" {
			t.Errorf("known_hosts was changed:\n%s", got)
		}
	})
	f.known = trusted
}

func TestUnreachableNode(t *testing.T) {
	f := newFixture(t, "control-plane", "worker")
	f.nodes.Nodes[1].Stop(t)
	r := f.bootstrap("--dry-run")
	if r.Code == 0 || !strings.Contains(r.Stderr, "node worker-2: connect:") || strings.Contains(r.Stderr, "node cp-1:") {
		t.Errorf("want one error naming worker-2, the node that is down:\n%s", r)
	}
}

// TestFailureThenResume breaks a step on one node: the run names node, step, command and the
// error; once the cause is fixed, the next run finds the earlier steps done and finishes.
func TestFailureThenResume(t *testing.T) {
	f := newFixture(t, "control-plane")
	node := f.nodes.Nodes[0]
	node.Exec(t, "sh", "-c", "rm -rf /etc/sysctl.d && echo 'not a directory' > /etc/sysctl.d")
	r := f.bootstrap()
	if r.Code == 0 {
		t.Fatalf("the run succeeded:\n%s", r)
	}
	msg := r.Stderr
	for _, want := range []string{"node cp-1: step kernel:", "install", "/etc/sysctl.d/99-kubernetes.conf", "Not a directory"} {
		if !strings.Contains(msg, want) {
			t.Errorf("the error does not say %q:\n%s", want, r)
		}
	}
	if got := lines(r.Stdout, "cp-1", "hostname"); len(got) != 2 || !strings.Contains(got[1], "applied") {
		t.Errorf("the steps before the failure: %q", got)
	}

	node.Exec(t, "sh", "-c", "rm /etc/sysctl.d && mkdir /etc/sysctl.d")
	r = f.bootstrap()
	for _, step := range []string{"hostname", "hosts", "swap"} {
		if got := lines(r.Stdout, "cp-1", step); len(got) != 1 || !strings.Contains(got[0], " done") {
			t.Errorf("%s on the re-run: %q, want done", step, got)
		}
	}
	if got := lines(r.Stdout, "cp-1", "kernel"); len(got) != 2 || !strings.Contains(got[1], "applied") {
		t.Errorf("kernel on the re-run: %q, want applied\n%s", got, r)
	}
}

// TestSudo logs in as users that are not root: one with passwordless sudo, one whose sudo
// wants a password, given at the prompt and never on a command line.
func TestSudo(t *testing.T) {
	f := newFixture(t, "control-plane")
	f.user = "operator"
	f.write()

	t.Run("without the password the error says how to give it", func(t *testing.T) {
		r := f.bootstrap("--dry-run")
		if r.Code == 0 || !strings.Contains(r.Stderr, "node cp-1:") || !strings.Contains(r.Stderr, "password") {
			t.Errorf("want an error naming the node and the missing sudo password:\n%s", r)
		}
	})
	t.Run("--ask-become-pass reads it, and it appears nowhere", func(t *testing.T) {
		r := gitsync(t, "op-pass\n", "bootstrap", "--config", f.file, "--log", f.log, "--ask-become-pass")
		if got := lines(r.Stdout, "cp-1", "kernel"); len(got) != 2 || !strings.Contains(got[1], "applied") {
			t.Errorf("kernel: %q\n%s", got, r)
		}
		if log := readFile(t, f.log); strings.Contains(log, "op-pass") || strings.Contains(r.Stdout+r.Stderr, "op-pass") {
			t.Error("the sudo password appears in the log or the output")
		}
		if conf := f.nodes.Nodes[0].ReadFile(t, "/etc/sysctl.d/99-kubernetes.conf"); strings.Contains(string(conf), "op-pass") {
			t.Error("the password went into a file written with sudo")
		}
	})
}

func TestBadClusterFile(t *testing.T) {
	file := t.TempDir() + "/cluster.yaml"
	if err := os.WriteFile(file, []byte("apiVersion: gitsync.io/v1alpha1\nkind: Cluster\nnodes:\n- {name: cp, address: 192.168.1.60, role: master}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r := gitsync(t, "", "bootstrap", "--config", file)
	if r.Code == 0 || !strings.Contains(r.Stderr, file+": ") || !strings.Contains(r.Stderr, `nodes[0].role: "master", want control-plane or worker`) {
		t.Errorf("want the file and the field named:\n%s", r)
	}
	if strings.Contains(r.Stderr, "connect") {
		t.Error("it connected although the cluster file is bad")
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

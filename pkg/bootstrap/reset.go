package bootstrap

import (
	"context"
	"fmt"
	"slices"
	"strings"
)

// Reset undoes gitsync bootstrap on the nodes named (every node of the cluster file when
// nodes is empty): kubeadm reset, then what kubeadm reset leaves behind. The packages and
// containerd stay, as kubeadm reset leaves them. The workers go first, all at once; then the
// control planes but the first, one at a time, as each leaves etcd through the others; the
// first control plane last. A group that fails stops the run before the next one, so the
// control planes still hold the cluster together for a second try, which finds the nodes
// already reset done.
func Reset(ctx context.Context, c *Cluster, dial Dialer, nodes []string, opts Options) error {
	picked, err := c.NodesNamed(nodes)
	if err != nil {
		return err
	}
	some := *c
	some.Nodes = picked
	hosts, err := connect(ctx, &some, dial)
	defer closeAll(hosts)
	if err != nil {
		return err
	}
	for _, h := range hosts {
		h.Cluster = c // the whole cluster, not only the picked nodes
	}
	first := c.ControlPlanes()[0]
	var api *Host // the first control plane, when nodes leave a cluster that stays
	if len(nodes) > 0 && !slices.ContainsFunc(picked, func(n Node) bool { return n.Name == first.Name }) {
		if api, err = clusterAPI(ctx, c, first, dial, opts); err != nil {
			return err
		}
		if api != nil {
			defer api.run.Close()
		}
	}
	for _, group := range resetOrder(hosts, first.Name) {
		if err := onEach(group, func(h *Host) error { return leave(ctx, api, h, opts) }); err != nil {
			return err
		}
	}
	return nil
}

// leave resets h. Through api, the first control plane of a cluster that stays, the node
// is drained before and its Node object deleted after, as kubeadm's documentation has it:
// deleted while its kubelet still runs, the kubelet would register it again.
func leave(ctx context.Context, api, h *Host, opts Options) error {
	if api == nil {
		return RunSteps(ctx, h, []Step{resetStep()}, opts)
	}
	// The node's steps that run on the first control plane: reported under the node's name.
	via := NewHost(h.Cluster, h.Node, api.run)
	if err := RunSteps(ctx, via, []Step{drainStep(api.Node.Name)}, opts); err != nil {
		return err
	}
	if err := RunSteps(ctx, h, []Step{resetStep()}, opts); err != nil {
		return err
	}
	return RunSteps(ctx, via, []Step{deleteNodeStep(api.Node.Name)}, opts)
}

// clusterAPI connects to the first control plane and returns it when its API server
// answers; when it does not, the Node objects of the nodes reset are left, which a warning
// says.
func clusterAPI(ctx context.Context, c *Cluster, first Node, dial Dialer, opts Options) (*Host, error) {
	r, err := dial(ctx, first)
	if err != nil {
		return nil, fmt.Errorf("node %s: connect: %w", first.Name, err)
	}
	h := NewHost(c, first, r)
	up, err := h.test(ctx, kubectl+" get --raw /readyz >/dev/null 2>&1 || exit 1")
	if err != nil || !up {
		r.Close()
		if err == nil {
			opts.report(Event{Node: first.Name, Step: "api", Kind: Warning,
				Reason: "the API server does not answer: the nodes reset stay in `kubectl get nodes`; delete them there once it does"})
		}
		return nil, err
	}
	return h, nil
}

// drainStep moves the workloads off the host's node, through the cluster's administrator
// on the control plane named: done once the node is cordoned, or not in the cluster.
func drainStep(controlPlane string) Step {
	drain := kubectl + " drain " + "%s --ignore-daemonsets --delete-emptydir-data --force --timeout=5m"
	return Step{
		Name: "drain",
		Check: func(ctx context.Context, h *Host) (Status, error) {
			out, err := h.sh(ctx, kubectl+" get node "+quote(h.Node.Name)+" --ignore-not-found -o jsonpath='{.metadata.name} {.spec.unschedulable}'")
			switch {
			case err != nil:
				return Status{}, err
			case out == "":
				return doneBecause("not in the cluster")
			case strings.HasSuffix(out, " true"):
				return doneBecause("cordoned")
			}
			return notDone("schedulable")
		},
		Apply: func(ctx context.Context, h *Host) error {
			_, err := h.sh(ctx, fmt.Sprintf(drain, quote(h.Node.Name)))
			return err
		},
		Plan: func(h *Host) []string {
			return []string{"on " + controlPlane + ": " + fmt.Sprintf(drain, quote(h.Node.Name))}
		},
	}
}

// deleteNodeStep removes the host's Node object, once its kubelet is stopped.
func deleteNodeStep(controlPlane string) Step {
	return Step{
		Name: "delete-node",
		Check: func(ctx context.Context, h *Host) (Status, error) {
			out, err := h.sh(ctx, kubectl+" get node "+quote(h.Node.Name)+" --ignore-not-found -o name")
			switch {
			case err != nil:
				return Status{}, err
			case out == "":
				return done()
			}
			return notDone("still in `kubectl get nodes`")
		},
		Apply: func(ctx context.Context, h *Host) error {
			_, err := h.sh(ctx, kubectl+" delete node "+quote(h.Node.Name))
			return err
		},
		Plan: func(h *Host) []string {
			return []string{"on " + controlPlane + ": " + kubectl + " delete node " + quote(h.Node.Name)}
		},
	}
}

// NodesNamed returns the cluster file's nodes of those names, in the file's order, and all
// of them when names is empty. Names the file lacks make one error naming them all.
func (c *Cluster) NodesNamed(names []string) ([]Node, error) {
	if len(names) == 0 {
		return c.Nodes, nil
	}
	var picked []Node
	var known []string
	for _, n := range c.Nodes {
		known = append(known, n.Name)
		if slices.Contains(names, n.Name) {
			picked = append(picked, n)
		}
	}
	var unknown []string
	for _, name := range names {
		if !slices.Contains(known, name) && !slices.Contains(unknown, name) {
			unknown = append(unknown, name)
		}
	}
	if len(unknown) > 0 {
		return nil, fmt.Errorf("no node named %s in the cluster file, whose nodes are %s",
			strings.Join(unknown, ", "), strings.Join(known, ", "))
	}
	return picked, nil
}

// resetOrder groups hosts in the order they are reset: the workers together, then each
// control plane but the first (named first) alone, then the first.
func resetOrder(hosts []*Host, first string) [][]*Host {
	var workers, last []*Host
	var controlPlanes [][]*Host
	for _, h := range hosts {
		switch {
		case h.Node.Role == Worker:
			workers = append(workers, h)
		case h.Node.Name == first:
			last = append(last, h)
		default:
			controlPlanes = append(controlPlanes, []*Host{h})
		}
	}
	groups := append(append([][]*Host{workers}, controlPlanes...), last)
	return slices.DeleteFunc(groups, func(g []*Host) bool { return len(g) == 0 })
}

// What a cluster leaves on a node: kubeadm's kubeconfigs (/etc/kubernetes/<name>.conf); its
// certificates, the kubelet's configuration, gitsync's own state (kubeadm.yaml, secrets,
// join.yaml) and root's kubectl configuration, files or directories that must be gone; and
// the static pods' manifests, etcd's data and the CNI configuration, directories that must
// be empty.
var (
	kubeadmKubeconfigs = []string{"admin", "super-admin", "kubelet", "controller-manager", "scheduler"}
	clusterFiles       = []string{"/etc/kubernetes/pki", stateDir, "/var/lib/kubelet/config.yaml", "/root/.kube/config"}
	clusterDirs        = []string{"/etc/kubernetes/manifests", "/var/lib/etcd", "/etc/cni/net.d"}
)

// clusterRules matches, in iptables-save's output (with or without -c), the chains
// kube-proxy, the kubelet and Calico make, their rules, and the rules jumping to them.
// Nothing else: the machine's own firewall stays. It goes into scripts in single quotes.
const clusterRules = `^:(KUBE-|cali-)|^(\[[0-9]+:[0-9]+\] )?-A (KUBE-|cali-)| -[jg] (KUBE-|cali-)`

// clusterLinksScript prints the network links Calico and the bridge CNI plugin make, but
// tunl0, which needs the care removeLinksScript takes.
const clusterLinksScript = `ip -o link show 2>/dev/null | awk -F': ' '{sub(/@.*/, "", $2); print $2}' | grep -E '^(vxlan\.calico|cni0)$|^cali'`

// tunl0UsedScript is true when tunl0, Calico's IP-in-IP device, is up or has an address.
// The kernel makes a tunl0 in every network namespace once the ipip module is loaded, and
// it cannot be deleted; down and without addresses it carries nothing.
const tunl0UsedScript = `{ ip -o addr show dev tunl0 2>/dev/null | grep -q inet || ip -o link show tunl0 2>/dev/null | grep -q '[<,]UP[,>]'; }`

// resetStep is kubeadm reset and the cleanup after it on one node. It is done when nothing
// of the cluster is left on the node.
func resetStep() Step {
	return Step{
		Name: "reset",
		Check: func(ctx context.Context, h *Host) (Status, error) {
			clean, left, err := h.probe(ctx, leftoversScript(h.Cluster.PodSubnet))
			if err != nil || clean {
				return Status{Done: clean}, err
			}
			return notDone("left: " + strings.ReplaceAll(left, "\n", ", "))
		},
		Apply: func(ctx context.Context, h *Host) error {
			_, err := h.sh(ctx, "set -e\n"+strings.Join(resetCommands(h.Cluster.PodSubnet), "\n"))
			return err
		},
		Plan: func(h *Host) []string { return resetCommands(h.Cluster.PodSubnet) },
	}
}

// podRoutesScript prints the routes into the pod subnet: those a CNI that routes between
// nodes made to reach the other nodes' pods (Calico's BGP routes, flannel's host-gw, the
// test's podnet). Left behind, they shadow the pod addresses the next cluster gives this node.
func podRoutesScript(podSubnet string) string {
	return "ip -o route show to root " + quote(podSubnet) + " 2>/dev/null"
}

// leftoversScript prints what is left of a cluster on the node, briefly, a line each, and
// exits 1 when anything is; it changes nothing.
func leftoversScript(podSubnet string) string {
	return fmt.Sprintf(`left=$(
confs=
for c in %[1]s; do if [ -e /etc/kubernetes/$c.conf ]; then confs="$confs,$c"; fi; done
case $confs in ,*,*) echo "/etc/kubernetes/{${confs#,}}.conf";; ,*) echo "/etc/kubernetes/${confs#,}.conf";; esac
for f in %[2]s; do if [ -e "$f" ] || [ -L "$f" ]; then echo "$f"; fi; done
for d in %[3]s; do if [ -n "$(ls -A "$d" 2>/dev/null)" ]; then echo "$d/*"; fi; done
for t in iptables ip6tables; do
  if command -v $t-save >/dev/null && $t-save 2>/dev/null | grep -qE '%[4]s'; then echo "$t KUBE-*/cali-* rules"; fi
done
links=$(%[5]s | grep -v '^cali'; if %[6]s; then echo tunl0; fi)
if [ -n "$links" ]; then echo links $links; fi
veths=$(%[5]s | grep -c '^cali')
if [ "$veths" -gt 0 ]; then echo "$veths cali* links"; fi
routes=$(%[7]s | wc -l)
if [ "$routes" -gt 0 ]; then echo "$routes routes into the pod subnet"; fi
)
[ -z "$left" ] || { echo "$left"; exit 1; }`,
		strings.Join(kubeadmKubeconfigs, " "), strings.Join(clusterFiles, " "), strings.Join(clusterDirs, " "),
		clusterRules, clusterLinksScript, tunl0UsedScript, podRoutesScript(podSubnet))
}

// resetCommands are the scripts a reset runs, in order: kubeadm reset (it stops the kubelet
// and removes the static pods' containers, /etc/kubernetes's files, /var/lib/kubelet and
// etcd's data), then what kubeadm reset says it leaves behind, and anything of its own it
// left too (it keeps etcd's data when it finds no etcd manifest).
func resetCommands(podSubnet string) []string {
	return []string{
		"if command -v kubeadm >/dev/null; then kubeadm reset --force --cri-socket " + CRISocket + "; fi",
		"for c in " + strings.Join(kubeadmKubeconfigs, " ") + "; do rm -f /etc/kubernetes/$c.conf; done\n" +
			"rm -rf " + strings.Join(clusterFiles, " ") + " /var/lib/cni\n" +
			"for d in " + strings.Join(clusterDirs, " ") + "; do if [ -d $d ]; then find $d -mindepth 1 -maxdepth 1 -exec rm -rf {} +; fi; done",
		removeRulesScript,
		removeLinksScript,
		// After the links: routes through cni0 or a cali* link went with it.
		podRoutesScript(podSubnet) + " | while read -r route; do ip route del $route; done",
	}
}

// removeRulesScript removes clusterRules from every table that has any, and nothing else:
// not a flush, which would drop the machine's own firewall (the rule letting SSH in). Each
// table is saved with its counters, filtered and restored whole, atomically.
const removeRulesScript = `for t in iptables ip6tables; do
  command -v $t-save >/dev/null || continue
  for table in $($t-save | sed -n 's/^\*//p'); do
    $t-save -t $table | grep -qE '` + clusterRules + `' || continue
    rules=$($t-save -c -t $table)
    printf '%s\n' "$rules" | grep -vE '` + clusterRules + `' | $t-restore -c
  done
done`

// removeLinksScript deletes Calico's and the bridge plugin's links (a veth's peer goes with
// it), and empties tunl0 when it cannot be deleted.
const removeLinksScript = `for link in $(` + clusterLinksScript + `); do
  if ip link show $link >/dev/null 2>&1; then ip link delete $link; fi
done
if ` + tunl0UsedScript + `; then ip link delete tunl0 2>/dev/null || { ip addr flush dev tunl0; ip link set tunl0 down; }; fi`

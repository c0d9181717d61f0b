package manifests

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/sets"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"

	gitsyncconfig "github.com/gitsync-io/gitsync/pkg/sync"
	"github.com/gitsync-io/gitsync/test/gitserver"
)

// TestPolicy holds every variant of the install to the same rules, object by
// object: what a cluster's admission policy (Pod Security "restricted",
// resource quotas) and an HA review would ask.
func TestPolicy(t *testing.T) {
	// The tenants variant adds the lockdown: no sync with gitsync's own
	// rights, and nothing fetched from the network.
	lockdown := []string{"--default-service-account=default", "--no-remote-files"}
	for path, extra := range map[string][]string{base: nil, namespaced: nil, tenants: lockdown} {
		t.Run(path, func(t *testing.T) {
			objs := renderPath(t, repoRoot(t), path)
			t.Run("every container is locked down", func(t *testing.T) { containersAreLockedDown(t, objs) })
			t.Run("every container has requests, limits and probes", func(t *testing.T) { containersAreSized(t, objs) })
			t.Run("runs two spread replicas under a disruption budget", func(t *testing.T) { isHighlyAvailable(t, objs) })
			t.Run("runs gitsync with the contracted command line", func(t *testing.T) { runsTheContract(t, objs, extra...) })
			t.Run("mounts every file the configuration names", func(t *testing.T) { mountsTheConfiguredFiles(t, objs) })
			t.Run("holds a configuration gitsync accepts", func(t *testing.T) {
				config := find(t, objs, "ConfigMap", system, "gitsync-config")
				text, _, _ := unstructured.NestedString(config.Object, "data", "config.yaml")
				if _, err := gitsyncconfig.ParseConfig([]byte(text)); err != nil {
					t.Errorf("ConfigMap gitsync-config, config.yaml: %v", err)
				}
			})
			t.Run("serves webhooks and metrics on port 80", func(t *testing.T) { servesPort80(t, objs) })
			t.Run("carries no secret value", func(t *testing.T) { carriesNoSecret(t, objs) })
			t.Run("gives the API token to the gitsync pods only", func(t *testing.T) { tokenOnlyForGitsync(t, objs) })
			t.Run("enforces the restricted Pod Security Standard in its namespace", func(t *testing.T) {
				ns := typed[corev1.Namespace](t, find(t, objs, "Namespace", "", system))
				if got := ns.Labels["pod-security.kubernetes.io/enforce"]; got != "restricted" {
					t.Errorf("namespace %s enforces Pod Security %q, want restricted", system, got)
				}
			})
		})
	}
}

// podTemplates returns the pod template of every workload, by object.
func podTemplates(t *testing.T, objs []*unstructured.Unstructured) map[string]*corev1.PodTemplateSpec {
	t.Helper()
	out := map[string]*corev1.PodTemplateSpec{}
	for _, o := range objs {
		var path []string
		switch o.GetKind() {
		case "Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job":
			path = []string{"spec", "template"}
		case "CronJob":
			path = []string{"spec", "jobTemplate", "spec", "template"}
		case "Pod":
			t.Errorf("Pod %s: ship a workload (Deployment, ...), not a bare Pod", o.GetName())
			continue
		default:
			continue
		}
		m, _, err := unstructured.NestedMap(o.Object, path...)
		if err != nil {
			t.Fatal(err)
		}
		out[o.GetKind()+"/"+o.GetName()] = typed[corev1.PodTemplateSpec](t, &unstructured.Unstructured{Object: m})
	}
	if len(out) == 0 {
		t.Fatal("no workload rendered")
	}
	return out
}

func allContainers(spec *corev1.PodSpec) []corev1.Container {
	return append(slices.Clone(spec.InitContainers), spec.Containers...)
}

func containersAreLockedDown(t *testing.T, objs []*unstructured.Unstructured) {
	for id, tmpl := range podTemplates(t, objs) {
		pod := tmpl.Spec.SecurityContext
		if pod == nil {
			pod = &corev1.PodSecurityContext{}
		}
		if tmpl.Spec.HostNetwork || tmpl.Spec.HostPID || tmpl.Spec.HostIPC {
			t.Errorf("%s shares a host namespace", id)
		}
		for _, c := range allContainers(&tmpl.Spec) {
			sc := c.SecurityContext
			if sc == nil {
				sc = &corev1.SecurityContext{}
			}
			where := fmt.Sprintf("%s container %s", id, c.Name)
			if !orPod(sc.RunAsNonRoot, pod.RunAsNonRoot, false) {
				t.Errorf("%s: runAsNonRoot is not true", where)
			}
			if uid, gid := orPod(sc.RunAsUser, pod.RunAsUser, -1), orPod(sc.RunAsGroup, pod.RunAsGroup, -1); uid != 65532 || gid != 65532 {
				t.Errorf("%s: runs as %d:%d, want 65532:65532", where, uid, gid)
			}
			if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
				t.Errorf("%s: readOnlyRootFilesystem is not true", where)
			}
			if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
				t.Errorf("%s: allowPrivilegeEscalation is not false", where)
			}
			if sc.Privileged != nil && *sc.Privileged {
				t.Errorf("%s: privileged", where)
			}
			if sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) || len(sc.Capabilities.Add) > 0 {
				t.Errorf("%s: capabilities %+v, want drop [ALL] and add none", where, sc.Capabilities)
			}
			if seccomp := orPod(sc.SeccompProfile, pod.SeccompProfile, corev1.SeccompProfile{}); seccomp.Type != corev1.SeccompProfileTypeRuntimeDefault {
				t.Errorf("%s: seccomp profile %q, want RuntimeDefault", where, seccomp.Type)
			}
		}
	}
}

// orPod is the container's setting if it has one, else the pod's, else def.
func orPod[T any](container, pod *T, def T) T {
	switch {
	case container != nil:
		return *container
	case pod != nil:
		return *pod
	}
	return def
}

func containersAreSized(t *testing.T, objs []*unstructured.Unstructured) {
	for id, tmpl := range podTemplates(t, objs) {
		for _, c := range allContainers(&tmpl.Spec) {
			where := fmt.Sprintf("%s container %s", id, c.Name)
			for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
				req, hasReq := c.Resources.Requests[r]
				limit, hasLimit := c.Resources.Limits[r]
				if !hasReq || !hasLimit || req.IsZero() {
					t.Errorf("%s: %s request %v and limit %v, want both", where, r, c.Resources.Requests[r], c.Resources.Limits[r])
				} else if req.Cmp(limit) > 0 {
					t.Errorf("%s: %s request %s above its limit %s", where, r, &req, &limit)
				}
			}
			if c.ReadinessProbe == nil || c.LivenessProbe == nil {
				t.Errorf("%s: readiness probe %v, liveness probe %v: want both", where, c.ReadinessProbe != nil, c.LivenessProbe != nil)
			}
		}
	}
	// gitsync needs about 90 MiB for 1000 objects (README, Performance).
	c := gitsyncContainer(t, objs)
	if req, limit := c.Resources.Requests.Memory().Value()>>20, c.Resources.Limits.Memory().Value()>>20; req < 100 || limit < 2*req {
		t.Errorf("gitsync asks for %d MiB of memory with a %d MiB limit: want at least 100 MiB and room for a large fetch", req, limit)
	}
	for probe, want := range map[*corev1.Probe]string{c.ReadinessProbe: "/readyz", c.LivenessProbe: "/healthz"} {
		if probe == nil || probe.HTTPGet == nil || probe.HTTPGet.Path != want || probe.HTTPGet.Port != intstr.FromString("http") {
			t.Errorf("gitsync probe %+v, want HTTP GET %s on port http", probe, want)
		}
	}
}

func deployment(t *testing.T, objs []*unstructured.Unstructured) *appsv1.Deployment {
	t.Helper()
	return typed[appsv1.Deployment](t, find(t, objs, "Deployment", system, "gitsync"))
}

func gitsyncContainer(t *testing.T, objs []*unstructured.Unstructured) *corev1.Container {
	t.Helper()
	d := deployment(t, objs)
	for i, c := range d.Spec.Template.Spec.Containers {
		if c.Name == "gitsync" {
			return &d.Spec.Template.Spec.Containers[i]
		}
	}
	t.Fatal("Deployment gitsync has no container gitsync")
	return nil
}

func isHighlyAvailable(t *testing.T, objs []*unstructured.Unstructured) {
	d := deployment(t, objs)
	if d.Spec.Replicas == nil || *d.Spec.Replicas != 2 {
		t.Errorf("Deployment gitsync has replicas %v, want 2", d.Spec.Replicas)
	}
	pods := labels.Set(d.Spec.Template.Labels)
	if sel := labels.SelectorFromSet(d.Spec.Selector.MatchLabels); !sel.Matches(pods) {
		t.Fatalf("the Deployment's selector %s does not match its pods %s", sel, pods)
	}
	if ru := d.Spec.Strategy.RollingUpdate; ru == nil || ru.MaxUnavailable == nil || ru.MaxUnavailable.IntValue() != 0 {
		t.Errorf("rolling update %+v: want maxUnavailable 0, so an update never leaves one replica", ru)
	}
	spread := false
	if a := d.Spec.Template.Spec.Affinity; a != nil && a.PodAntiAffinity != nil {
		for _, term := range a.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution {
			sel := labels.SelectorFromSet(term.PodAffinityTerm.LabelSelector.MatchLabels)
			spread = spread || (term.PodAffinityTerm.TopologyKey == corev1.LabelHostname && sel.Matches(pods) && term.Weight > 0)
		}
	}
	if !spread {
		t.Error("no preferred pod anti-affinity by kubernetes.io/hostname selecting the gitsync pods")
	}
	pdb := typed[policyv1.PodDisruptionBudget](t, find(t, objs, "PodDisruptionBudget", system, "gitsync"))
	if pdb.Spec.MinAvailable == nil || pdb.Spec.MinAvailable.IntValue() != 1 {
		t.Errorf("PodDisruptionBudget gitsync has minAvailable %v, want 1", pdb.Spec.MinAvailable)
	}
	if pdb.Spec.Selector == nil || !labels.SelectorFromSet(pdb.Spec.Selector.MatchLabels).Matches(pods) {
		t.Errorf("PodDisruptionBudget gitsync selects %v, not the gitsync pods %s", pdb.Spec.Selector, pods)
	}
}

func runsTheContract(t *testing.T, objs []*unstructured.Unstructured, extra ...string) {
	c := gitsyncContainer(t, objs)
	if c.Image != image {
		t.Errorf("image %s, want %s (overlays override it with images:)", c.Image, image)
	}
	want := []string{"run", "--config", "/etc/gitsync/config.yaml", "--namespace", "$(POD_NAMESPACE)",
		"--http-addr", ":8080", "--ui-token-file", "/etc/gitsync/ui/token", "--leader-elect", "--cache-dir", "/var/cache/gitsync", "--log-format", "json"}
	want = append(want, extra...)
	if diff := cmp.Diff(want, c.Args); diff != "" || len(c.Command) > 0 {
		t.Errorf("command %q, args (-want +got):\n%s", c.Command, diff)
	}
	// The binary itself parses them: a flag it does not know fails here, not
	// in a crash-looping pod.
	if out, err := tryGitsync(t, append(slices.Clone(c.Args), "--help")...); err != nil {
		t.Errorf("gitsync does not take the Deployment's args: %v\n%s", err, out)
	}
	fields := map[string]string{}
	for _, e := range c.Env {
		if e.ValueFrom != nil && e.ValueFrom.FieldRef != nil {
			fields[e.Name] = e.ValueFrom.FieldRef.FieldPath
		}
	}
	if diff := cmp.Diff(map[string]string{"POD_NAMESPACE": "metadata.namespace", "POD_NAME": "metadata.name"}, fields); diff != "" {
		t.Errorf("downward API env (-want +got):\n%s", diff)
	}
	if len(c.Ports) != 1 || c.Ports[0].Name != "http" || c.Ports[0].ContainerPort != 8080 {
		t.Errorf("ports %+v, want one named http on 8080", c.Ports)
	}
}

// mountsTheConfiguredFiles checks that config.yaml is mounted where --config
// says, every file it names (…File: /etc/gitsync/…) is projected from a
// Secret, and gitsync's writable directories are emptyDirs.
func mountsTheConfiguredFiles(t *testing.T, objs []*unstructured.Unstructured) {
	d := deployment(t, objs)
	volumes := map[string]corev1.Volume{}
	for _, v := range d.Spec.Template.Spec.Volumes {
		volumes[v.Name] = v
	}
	files := map[string]string{} // path in the container → "ConfigMap/name" or "Secret/name"
	writable := map[string]bool{}
	for _, m := range gitsyncContainer(t, objs).VolumeMounts {
		v := volumes[m.Name]
		switch {
		case v.EmptyDir != nil:
			writable[m.MountPath] = !m.ReadOnly
		case v.Projected != nil && m.ReadOnly && m.SubPath == "":
			for _, s := range v.Projected.Sources {
				switch {
				case s.ConfigMap != nil:
					for _, it := range s.ConfigMap.Items {
						files[m.MountPath+"/"+it.Path] = "ConfigMap/" + s.ConfigMap.Name
					}
				case s.Secret != nil:
					for _, it := range s.Secret.Items {
						files[m.MountPath+"/"+it.Path] = "Secret/" + s.Secret.Name
					}
					if len(s.Secret.Items) == 0 { // every key, a file of the name you choose
						files[m.MountPath+"/*"] = "Secret/" + s.Secret.Name
					}
					if s.Secret.Optional == nil || !*s.Secret.Optional {
						t.Errorf("Secret %s is not optional: none ships, so pods would not start until you create it", s.Secret.Name)
					}
				}
			}
		default:
			t.Errorf("mount %s: want a read-only projected volume (no subPath, so updates arrive) or an emptyDir", m.MountPath)
		}
	}
	if diff := cmp.Diff(map[string]bool{"/var/cache/gitsync": true, "/tmp": true}, writable); diff != "" {
		t.Errorf("writable emptyDir mounts (-want +got):\n%s", diff)
	}
	if files["/etc/gitsync/config.yaml"] != "ConfigMap/gitsync-config" {
		t.Fatalf("/etc/gitsync/config.yaml comes from %q, want ConfigMap/gitsync-config; mounted: %v", files["/etc/gitsync/config.yaml"], files)
	}
	config := find(t, objs, "ConfigMap", system, "gitsync-config")
	text, _, _ := unstructured.NestedString(config.Object, "data", "config.yaml")
	var doc map[string]any
	if err := yaml.Unmarshal([]byte(text), &doc); err != nil {
		t.Fatalf("config.yaml: %v", err)
	}
	named := fileSettings(doc, "")
	if len(named) == 0 {
		t.Fatal("config.yaml names no file; the example should show passwordFile and secretFile")
	}
	for setting, path := range named {
		if !strings.HasPrefix(files[path], "Secret/") {
			t.Errorf("config.yaml %s: %s is not projected from a Secret (mounted: %v)", setting, path, files)
		}
	}
	for want, from := range map[string]string{
		"/etc/gitsync/git/identity": "Secret/gitsync-git", "/etc/gitsync/git/known_hosts": "Secret/gitsync-git", // for SSH
		"/etc/gitsync/verify/keys.asc": "Secret/gitsync-verify", "/etc/gitsync/verify/allowed_signers": "Secret/gitsync-verify", // sources[].verify.keys
		"/etc/gitsync-notify/*": "Secret/gitsync-notify", // notifications[].urlFile, tokenFile, secretFile
		"/etc/gitsync/ui/token": "Secret/gitsync-ui",     // --ui-token-file
	} {
		if files[want] != from {
			t.Errorf("%s comes from %q, want %s", want, files[want], from)
		}
	}
}

// fileSettings returns every setting of the configuration whose key ends in
// "File" (passwordFile, secretFile, ...), by its dotted path.
func fileSettings(v any, at string) map[string]string {
	out := map[string]string{}
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			if s, ok := x.(string); ok && strings.HasSuffix(k, "File") {
				out[at+k] = s
			}
			for kk, vv := range fileSettings(x, at+k+".") {
				out[kk] = vv
			}
		}
	case []any:
		for i, x := range v {
			for kk, vv := range fileSettings(x, fmt.Sprintf("%s%d.", at, i)) {
				out[kk] = vv
			}
		}
	}
	return out
}

func servesPort80(t *testing.T, objs []*unstructured.Unstructured) {
	svc := typed[corev1.Service](t, find(t, objs, "Service", system, "gitsync"))
	d := deployment(t, objs)
	if !labels.SelectorFromSet(svc.Spec.Selector).Matches(labels.Set(d.Spec.Template.Labels)) || len(svc.Spec.Selector) == 0 {
		t.Errorf("Service gitsync selects %v, not the gitsync pods", svc.Spec.Selector)
	}
	if len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].Port != 80 || svc.Spec.Ports[0].TargetPort != intstr.FromString("http") {
		t.Errorf("Service ports %+v, want 80 → http", svc.Spec.Ports)
	}
}

// carriesNoSecret: the install ships no Secret (the user creates them), its
// configuration holds no credential inline, and the template of the Secrets
// is not a resource and holds no value.
func carriesNoSecret(t *testing.T, objs []*unstructured.Unstructured) {
	for _, o := range objs {
		if o.GetKind() == "Secret" {
			t.Errorf("Secret %s/%s is rendered: Secrets are the user's to create (secrets.example.yaml)", o.GetNamespace(), o.GetName())
		}
	}
	config := find(t, objs, "ConfigMap", system, "gitsync-config")
	text, _, _ := unstructured.NestedString(config.Object, "data", "config.yaml")
	var doc map[string]any
	if err := yaml.Unmarshal([]byte(text), &doc); err != nil {
		t.Fatalf("config.yaml: %v", err)
	}
	for _, key := range credentialKeys(doc) {
		t.Errorf("config.yaml holds %s inline: name a file (…File) mounted from a Secret instead", key)
	}

	f, err := os.Open(filepath.Join(repoRoot(t), base, "secrets.example.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	dec := utilyaml.NewYAMLOrJSONDecoder(f, 4096)
	names := sets.New[string]()
	for {
		var s corev1.Secret
		if err := dec.Decode(&s); err != nil {
			break
		}
		names.Insert(s.Name)
		for k, v := range s.StringData {
			if v != "" {
				t.Errorf("secrets.example.yaml: Secret %s key %s has a value; the template must hold none", s.Name, k)
			}
		}
		for k, v := range s.Data {
			if len(v) != 0 {
				t.Errorf("secrets.example.yaml: Secret %s key %s has a value; the template must hold none", s.Name, k)
			}
		}
	}
	if want := sets.New("gitsync-git", "gitsync-webhook", "gitsync-verify", "gitsync-notify", "gitsync-ui"); !names.Equal(want) {
		t.Errorf("secrets.example.yaml has Secrets %v, want %v", sets.List(names), sets.List(want))
	}
}

// credentialKeys lists keys that would hold a credential inline.
func credentialKeys(v any) []string {
	var out []string
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			switch strings.ToLower(k) {
			case "password", "token", "secret", "sshkey", "identity", "privatekey":
				out = append(out, k)
			}
			out = append(out, credentialKeys(x)...)
		}
	case []any:
		for _, x := range v {
			out = append(out, credentialKeys(x)...)
		}
	}
	return out
}

func tokenOnlyForGitsync(t *testing.T, objs []*unstructured.Unstructured) {
	sa := typed[corev1.ServiceAccount](t, find(t, objs, "ServiceAccount", system, "gitsync"))
	if sa.AutomountServiceAccountToken == nil || *sa.AutomountServiceAccountToken {
		t.Error("ServiceAccount gitsync does not set automountServiceAccountToken: false")
	}
	spec := deployment(t, objs).Spec.Template.Spec
	if spec.ServiceAccountName != "gitsync" || spec.AutomountServiceAccountToken == nil || !*spec.AutomountServiceAccountToken {
		t.Errorf("gitsync pods run as %q with automountServiceAccountToken %v, want gitsync and true", spec.ServiceAccountName, spec.AutomountServiceAccountToken)
	}
}

// TestRBAC checks who may do what in each variant, as written; the install
// test asks the API server the same questions.
func TestRBAC(t *testing.T) {
	sa := rbacv1.Subject{Kind: "ServiceAccount", Name: "gitsync", Namespace: system}
	own := find(t, renderPath(t, repoRoot(t), base), "Role", system, "gitsync")
	t.Run("the gitsync-system Role covers leases, events, configmaps and reading secrets", func(t *testing.T) {
		role := typed[rbacv1.Role](t, own)
		got := map[string][]string{}
		for _, r := range role.Rules {
			for _, g := range r.APIGroups {
				for _, res := range r.Resources {
					got[g+"/"+res] = r.Verbs
				}
			}
		}
		want := map[string][]string{
			"coordination.k8s.io/leases": {"get", "list", "watch", "create", "update", "patch", "delete"},
			"/events":                    {"create", "patch"},
			"events.k8s.io/events":       {"create", "patch"},
			"/configmaps":                {"get", "list", "watch", "create", "update", "patch", "delete"},
			"/secrets":                   {"get"}, // Secret sops-age only: the age keys of decryption.secretRef
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("Role gitsync rules (-want +got):\n%s", diff)
		}
	})
	t.Run("the cluster-wide variant binds the ClusterRole to the ServiceAccount", func(t *testing.T) {
		objs := renderPath(t, repoRoot(t), base)
		crb := typed[rbacv1.ClusterRoleBinding](t, find(t, objs, "ClusterRoleBinding", "", "gitsync"))
		if crb.RoleRef.Kind != "ClusterRole" || crb.RoleRef.Name != "gitsync" || !slices.Equal(crb.Subjects, []rbacv1.Subject{sa}) {
			t.Errorf("ClusterRoleBinding gitsync binds %+v to %+v", crb.RoleRef, crb.Subjects)
		}
		find(t, objs, "ClusterRole", "", "gitsync")
	})
	t.Run("the namespaced variant has no cluster-wide rights and a Role per namespace", func(t *testing.T) {
		objs := renderPath(t, repoRoot(t), namespaced)
		bound := sets.New[string]()
		for _, o := range objs {
			switch o.GetKind() {
			case "Namespace":
			case "ClusterRole", "ClusterRoleBinding":
				t.Errorf("%s %s: the namespaced variant grants nothing cluster-wide", o.GetKind(), o.GetName())
			case "RoleBinding":
				rb := typed[rbacv1.RoleBinding](t, o)
				if rb.RoleRef.Kind != "Role" || !slices.Equal(rb.Subjects, []rbacv1.Subject{sa}) {
					t.Errorf("RoleBinding %s/%s binds %+v to %+v, want a Role to the ServiceAccount", o.GetNamespace(), o.GetName(), rb.RoleRef, rb.Subjects)
				}
				find(t, objs, "Role", o.GetNamespace(), rb.RoleRef.Name)
				bound.Insert(o.GetNamespace())
			default:
				if o.GetNamespace() == "" {
					t.Errorf("%s %s is cluster-scoped", o.GetKind(), o.GetName())
				}
			}
		}
		if want := sets.New(system, "dev", "prod"); !bound.Equal(want) {
			t.Errorf("gitsync is bound in %v, want %v", sets.List(bound), sets.List(want))
		}
	})
	t.Run("no namespace is pruned with gitsync, and only its own carry its label", func(t *testing.T) {
		for _, o := range renderPath(t, repoRoot(t), namespaced) {
			if o.GetKind() != "Namespace" {
				continue
			}
			if got := o.GetAnnotations()["gitsync.io/prune"]; got != "disabled" {
				t.Errorf("Namespace %s has gitsync.io/prune %q, want disabled", o.GetName(), got)
			}
			if _, own := o.GetLabels()["app.kubernetes.io/part-of"]; own != (o.GetName() == system) {
				t.Errorf("Namespace %s: app.kubernetes.io/part-of set %v; README's removal by that label would delete it", o.GetName(), own)
			}
		}
	})
}

// TestImageOverride follows the kustomization's comment: an overlay with
// images: moves gitsync to a mirror and a pinned tag.
func TestImageOverride(t *testing.T) {
	root := t.TempDir()
	files := gitserver.Tree(t, repoRoot(t), base)
	files["mirror/kustomization.yaml"] = `resources: [../manifests/gitsync]
images:
- name: ghcr.io/gitsync-io/gitsync
  newName: mirror.example.cn/gitsync-io/gitsync
  newTag: v0.3.0
`
	for p, data := range files {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(root, p)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, p), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if got := gitsyncContainer(t, renderPath(t, root, "mirror")).Image; got != "mirror.example.cn/gitsync-io/gitsync:v0.3.0" {
		t.Errorf("image %s after images:, want mirror.example.cn/gitsync-io/gitsync:v0.3.0", got)
	}
}

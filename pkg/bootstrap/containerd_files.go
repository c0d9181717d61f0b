package bootstrap

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
)

// The files the containerd step writes, whole.
const (
	containerdConfigPath = "/etc/containerd/config.toml"
	containerdUnitPath   = "/etc/systemd/system/containerd.service"
	crictlConfigPath     = "/etc/crictl.yaml"
	// containerdDropIns is where additions to the configuration go: gitsync owns config.toml.
	containerdDropIns = "/etc/containerd/conf.d/*.toml"
	// registryHostsDir holds per-registry mirrors and credentials (hosts.toml files).
	registryHostsDir = "/etc/containerd/certs.d"
)

// containerdFiles are the configuration, the systemd unit and crictl's configuration, for
// the cluster's containerd and the sandbox (pause) image.
func containerdFiles(c *Cluster, sandboxImage string) []File {
	files := []File{
		{Path: containerdConfigPath, Mode: 0o644, Content: containerdConfig(c, sandboxImage)},
		{Path: containerdUnitPath, Mode: 0o644, Content: containerdUnit},
		{Path: crictlConfigPath, Mode: 0o644, Content: crictlConfig},
	}
	for _, registry := range slices.Sorted(maps.Keys(c.Mirrors.Registries)) {
		files = append(files, File{Path: registryHostsFile(registry), Mode: 0o644, Content: registryHosts(registry, c.Mirrors.Registries[registry])})
	}
	return files
}

// registryHostsHeader starts every hosts.toml gitsync writes: the ones it finds with it and
// no longer in the cluster file are removed.
const registryHostsHeader = "# Written by gitsync bootstrap (mirrors.registries)"

func registryHostsFile(registry string) string {
	return registryHostsDir + "/" + registry + "/hosts.toml"
}

// registryHosts is containerd's hosts.toml for registry: pulls and name resolution go to
// mirror first, then to the registry itself.
func registryHosts(registry, mirror string) string {
	server := "https://" + registry
	if registry == "docker.io" {
		server = "https://registry-1.docker.io" // Docker Hub's API is not at docker.io
	}
	return fmt.Sprintf(`%s: pulls of %s images
# go to the mirror first, then to the registry.
server = %s

[host.%s]
  capabilities = ["pull", "resolve"]
`, registryHostsHeader, registry, tomlString(server), tomlString(mirror))
}

// containerdConfig is the whole /etc/containerd/config.toml: the CRI runtime runc with the
// kubelet's cgroup driver (systemd, as kubeadm configures it, unless kubelet.cgroupDriver
// says cgroupfs), the pinned sandbox image, registry configuration from hosts.toml files, and
// on nodes that cannot lower an oom_score_adj restrict_oom_score_adj. Everything else keeps
// containerd's defaults. Config version 4 is containerd 2.3's; 2.0 to 2.2 read version 3,
// which has the same CRI sections.
func containerdConfig(c *Cluster, sandboxImage string) string {
	version := c.Containerd.Version
	var runtime string
	if c.Containerd.RestrictOOMScoreAdj {
		runtime = `
[plugins."io.containerd.cri.v1.runtime"]
  # containerd.restrictOOMScoreAdj: this node cannot lower an oom_score_adj.
  restrict_oom_score_adj = true
`
	}
	return fmt.Sprintf(`# Written by gitsync bootstrap for containerd %[1]s; it rewrites this file.
# Put additions into %[3]s.
version = %[2]d
imports = [%[4]s]

[plugins."io.containerd.cri.v1.images".pinned_images]
  sandbox = %[5]s

[plugins."io.containerd.cri.v1.images".registry]
  config_path = %[6]s
%[7]s
[plugins."io.containerd.cri.v1.runtime".containerd]
  default_runtime_name = "runc"

[plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc]
  runtime_type = "io.containerd.runc.v2"

[plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc.options]
  SystemdCgroup = %[8]t
`, version, containerdConfigVersion(version), containerdDropIns,
		tomlString(containerdDropIns), tomlString(sandboxImage), tomlString(registryHostsDir),
		runtime, c.Kubelet.CgroupDriver == "systemd")
}

// containerdConfigVersion is the newest configuration version the release reads.
func containerdConfigVersion(version string) int {
	parts := strings.SplitN(version, ".", 3)
	if len(parts) < 2 {
		return 3
	}
	if minor, err := strconv.Atoi(parts[1]); err == nil && parts[0] == "2" && minor < 3 {
		return 3
	}
	return 4
}

// tomlString quotes s as a TOML basic string.
func tomlString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\u%04X`, r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// containerdUnit runs /usr/local/bin/containerd under systemd. containerd tells systemd when
// it serves (Type=notify); it manages its containers' cgroups below its own (Delegate);
// stopping or restarting it leaves the containers' shims, and so the pods, running
// (KillMode=process); and the kernel's OOM killer spares it.
const containerdUnit = `# Written by gitsync bootstrap; it rewrites this file.
[Unit]
Description=containerd container runtime
Documentation=https://containerd.io
After=network.target local-fs.target dbus.service

[Service]
# overlayfs, for the snapshotter; a kernel with it built in fails here, harmlessly.
ExecStartPre=-/sbin/modprobe overlay
ExecStart=/usr/local/bin/containerd
Type=notify
Delegate=yes
KillMode=process
Restart=always
RestartSec=5
LimitNPROC=infinity
LimitCORE=infinity
TasksMax=infinity
OOMScoreAdjust=-999

[Install]
WantedBy=multi-user.target
`

// crictlConfig points crictl (from kubeadm's cri-tools) at containerd.
const crictlConfig = `# Written by gitsync bootstrap; it rewrites this file.
runtime-endpoint: ` + CRISocket + `
image-endpoint: ` + CRISocket + `
`

// pauseVersions is kubeadm's pause image version (PauseVersion in
// cmd/kubeadm/app/constants) per Kubernetes minor, for nodes where kubeadm is not installed
// yet; where it is, its own answer wins.
var pauseVersions = map[int]string{34: "3.10.1", 35: "3.10.1", 36: "3.10.2", 37: "3.10.2"}

// newestPause is the pause version of minors newer than pauseVersions knows.
const newestPause = "3.10.2"

// defaultSandboxImage is <imageRepository>/pause:<kubeadm's version for the minor>.
func defaultSandboxImage(c *Cluster) string {
	v := newestPause
	if m := kubernetesVersion.FindStringSubmatch(c.KubernetesVersion); m != nil {
		minor, _ := strconv.Atoi(m[1])
		if p, ok := pauseVersions[minor]; ok {
			v = p
		}
	}
	return c.ImageRepository + "/pause:" + v
}

// sandboxImage is the pause image kubeadm expects, asked of the node's kubeadm when it is
// installed (it reads nothing from the network with an explicit version), else
// defaultSandboxImage.
func sandboxImage(ctx context.Context, h *Host) (string, error) {
	out, err := h.sh(ctx, fmt.Sprintf(`if command -v kubeadm >/dev/null; then
  kubeadm config images list --kubernetes-version %s --image-repository %s 2>/dev/null | grep '/pause:' || true
fi`, quote(h.Cluster.KubernetesVersion), quote(h.Cluster.ImageRepository)))
	if err != nil {
		return "", err
	}
	if image := strings.TrimSpace(out); image != "" && !strings.ContainsAny(image, " \n") {
		return image, nil
	}
	return defaultSandboxImage(h.Cluster), nil
}

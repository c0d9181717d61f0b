package bootstrap

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"slices"
	"strings"

	"github.com/gitsync-io/gitsync/pkg/bootstrap/ssh"
)

// Where containerd and runc releases are downloaded from, as upstream publishes them:
//
//	<DefaultContainerdReleases>/v<version>/containerd-<version>-linux-<arch>.tar.gz (and .sha256sum)
//	<DefaultRuncReleases>/v<RuncVersion>/runc.<arch> (and runc.sha256sum)
//
// Mirrors.Containerd replaces DefaultContainerdReleases, and serves runc too: a mirror of
// GitHub's releases (its URL ends in /containerd/containerd/releases/download) has runc at
// /opencontainers/runc/releases/download beside it; any other mirror at <mirror>/runc/, as
// <mirror>/runc/v<RuncVersion>/runc.<arch>. Each file has its checksum file next to it.
const (
	DefaultContainerdReleases = "https://github.com/containerd/containerd/releases/download"
	DefaultRuncReleases       = "https://github.com/opencontainers/runc/releases/download"
)

// RuncVersion is the runc installed with containerd: the one containerd 2.4.2's release is
// built and tested with (its script/setup/runc-version). runc is released apart from
// containerd, and newer ones run older containerds' shims.
const RuncVersion = "1.5.2"

// Where the binaries go: the release tarball's bin/ into /usr/local/bin (upstream's
// instructions), runc into /usr/local/sbin, both before the distribution's in systemd's PATH.
const (
	containerdBinDir = "/usr/local/bin"
	runcPath         = "/usr/local/sbin/runc"
)

// ContainerdStep installs containerd 2.x from the upstream release tarball at the cluster's
// pinned version, with runc, its own systemd unit and a whole config.toml (the CRI plugin on,
// the systemd cgroup driver, the pause image kubeadm expects), and runs it. gitsync downloads
// the release on the machine it runs on, verifies it against the published checksums and
// uploads it, so nodes need no internet access. The step is done when the pinned binaries,
// the files and a running containerd that serves the CRI are all there.
func ContainerdStep() Step {
	releases := newReleaseFetcher()
	return Step{
		Name:  "containerd",
		Check: checkContainerd,
		Apply: func(ctx context.Context, h *Host) error { return applyContainerd(ctx, h, releases) },
		Plan:  planContainerd,
	}
}

// containerdRelease is the release tarball of the cluster's containerd for arch.
func containerdRelease(c *Cluster, arch string) release {
	base := DefaultContainerdReleases
	if c.Mirrors.Containerd != "" {
		base = strings.TrimSuffix(c.Mirrors.Containerd, "/")
	}
	v := c.Containerd.Version
	u := fmt.Sprintf("%s/v%s/containerd-%s-linux-%s.tar.gz", base, v, v, releaseArch(arch))
	return release{URL: u, SumURL: u + ".sha256sum"}
}

// runcRelease is runc's binary for arch.
func runcRelease(c *Cluster, arch string) release {
	const githubContainerd, githubRunc = "/containerd/containerd/releases/download", "/opencontainers/runc/releases/download"
	mirror := strings.TrimSuffix(c.Mirrors.Containerd, "/")
	base := DefaultRuncReleases
	if prefix, ok := strings.CutSuffix(mirror, githubContainerd); ok {
		base = prefix + githubRunc
	} else if mirror != "" {
		base = mirror + "/runc"
	}
	dir := fmt.Sprintf("%s/v%s/", base, RuncVersion)
	return release{URL: dir + "runc." + releaseArch(arch), SumURL: dir + "runc.sha256sum"}
}

// releaseArch is the architecture in release names for a dpkg architecture.
func releaseArch(dpkg string) string {
	if dpkg == "ppc64el" {
		return "ppc64le"
	}
	return dpkg
}

// containerdState is what the check found on a node.
type containerdState struct {
	containerd, shim, runc string // installed versions: v2.4.2, v2.4.2, 1.5.2
	differ                 []string
	stale                  []string // registry mirrors' hosts.toml no longer in the cluster file
	active, enabled        string   // systemctl is-active, is-enabled
	server                 string   // the running containerd's version
	plugins                map[string]string
}

// criPlugins serve the CRI, which the kubelet and kubeadm talk to: the gRPC service and the
// runtime and image services behind it.
var criPlugins = []string{"io.containerd.grpc.v1.cri", "io.containerd.cri.v1.runtime", "io.containerd.cri.v1.images"}

// containerdStateScript prints key=value lines; it changes nothing.
func containerdStateScript(files []File) string {
	var b strings.Builder
	b.WriteString(`bin=` + containerdBinDir + `
echo "containerd=$($bin/containerd --version 2>/dev/null | awk '{print $3}')"
echo "shim=$($bin/containerd-shim-runc-v2 -v 2>/dev/null | awk '$1 == "Version:" {print $2}')"
echo "runc=$(` + runcPath + ` --version 2>/dev/null | awk 'NR == 1 {print $3}')"
`)
	var ours []string
	for _, f := range files {
		fmt.Fprintf(&b, "{ %s; } 2>/dev/null || echo differs=%s\n", sameFiles(f), quote(f.Path))
		ours = append(ours, quote(f.Path))
	}
	// hosts.toml files gitsync wrote for mirrors the cluster file no longer names.
	fmt.Fprintf(&b, `for f in %s/*/hosts.toml; do
  [ -f "$f" ] && head -n 1 "$f" | grep -qF %s || continue
  case " %s " in *" '$f' "*) ;; *) echo "stale=$f";; esac
done
`, registryHostsDir, quote(registryHostsHeader), strings.Join(ours, " "))
	b.WriteString(`echo "active=$(systemctl is-active containerd 2>/dev/null)"
echo "enabled=$(systemctl is-enabled containerd 2>/dev/null)"
if systemctl is-active -q containerd 2>/dev/null; then
  echo "server=$($bin/ctr --timeout 10s version 2>/dev/null | awk '$1 == "Server:" {s = 1} s && $1 == "Version:" {print $2; exit}')"
  $bin/ctr --timeout 10s plugins ls 2>/dev/null | awk 'NR > 1 {print "plugin=" $1 "." $2 "=" $NF}'
fi
true`)
	return b.String()
}

func readContainerdState(ctx context.Context, h *Host, files []File) (containerdState, error) {
	out, err := h.sh(ctx, containerdStateScript(files))
	if err != nil {
		return containerdState{}, err
	}
	return parseContainerdState(out), nil
}

// parseContainerdState reads containerdStateScript's output.
func parseContainerdState(out string) containerdState {
	s := containerdState{plugins: map[string]string{}}
	for line := range strings.SplitSeq(out, "\n") {
		k, v, _ := strings.Cut(line, "=")
		switch k {
		case "containerd":
			s.containerd = v
		case "shim":
			s.shim = v
		case "runc":
			s.runc = v
		case "differs":
			s.differ = append(s.differ, v)
		case "stale":
			s.stale = append(s.stale, v)
		case "active":
			s.active = v
		case "enabled":
			s.enabled = v
		case "server":
			s.server = v
		case "plugin":
			if id, status, ok := strings.Cut(v, "="); ok {
				s.plugins[id] = status
			}
		}
	}
	return s
}

// binariesOutdated reports what of the release tarball is missing or another version.
func (s containerdState) binariesOutdated(version string) []string {
	var why []string
	for _, b := range []struct{ name, got string }{{"containerd", s.containerd}, {"containerd-shim-runc-v2", s.shim}} {
		switch b.got {
		case "v" + version:
		case "":
			why = append(why, b.name+" is not installed")
		default:
			why = append(why, fmt.Sprintf("%s %s is installed, want v%s", b.name, b.got, version))
		}
	}
	return why
}

func (s containerdState) runcOutdated() []string {
	switch s.runc {
	case RuncVersion:
		return nil
	case "":
		return []string{"runc is not installed"}
	}
	return []string{fmt.Sprintf("runc %s is installed, want %s", s.runc, RuncVersion)}
}

// serviceDown reports why containerd is not enabled, running and serving the CRI.
func (s containerdState) serviceDown(version string) []string {
	var why []string
	if s.enabled != "enabled" {
		why = append(why, "containerd is not enabled at boot")
	}
	return append(why, s.notServing(version)...)
}

// notServing reports why the running containerd is not the pinned one serving the CRI.
func (s containerdState) notServing(version string) []string {
	switch {
	case s.active != "active":
		return []string{"containerd is " + orUnknown(s.active)}
	case s.server == "":
		return []string{"containerd does not answer at /run/containerd/containerd.sock"}
	case s.server != "v"+version:
		return []string{fmt.Sprintf("containerd %s is running, want v%s", s.server, version)}
	}
	var why []string
	for _, p := range criPlugins {
		if status := s.plugins[p]; status != "ok" {
			why = append(why, fmt.Sprintf("the CRI plugin %s is %s (ctr plugins ls --detailed says why)", p, orUnknown(status)))
		}
	}
	return why
}

func orUnknown(s string) string {
	if s == "" {
		return "not loaded"
	}
	return s
}

// missing says what the check found missing; on a node without containerd, just that.
func (s containerdState) missing(version string) []string {
	fresh := s.containerd == "" && s.shim == ""
	why := s.binariesOutdated(version)
	if fresh {
		why = []string{"containerd is not installed"}
	}
	why = append(why, s.runcOutdated()...)
	switch len(s.differ) {
	case 0:
	case 1:
		why = append(why, s.differ[0]+" is not what gitsync writes")
	default:
		why = append(why, strings.Join(s.differ, ", ")+" are not what gitsync writes")
	}
	if len(s.stale) > 0 {
		why = append(why, strings.Join(s.stale, ", ")+" no longer in mirrors.registries")
	}
	if fresh {
		return why
	}
	return append(why, s.serviceDown(version)...)
}

func checkContainerd(ctx context.Context, h *Host) (Status, error) {
	files, err := containerdFilesFor(ctx, h)
	if err != nil {
		return Status{}, err
	}
	s, err := readContainerdState(ctx, h, files)
	if err != nil {
		return Status{}, err
	}
	if why := s.missing(h.Cluster.Containerd.Version); len(why) > 0 {
		return notDone(strings.Join(why, "; "))
	}
	return done()
}

func containerdFilesFor(ctx context.Context, h *Host) ([]File, error) {
	image, err := sandboxImage(ctx, h)
	if err != nil {
		return nil, err
	}
	return containerdFiles(h.Cluster, image), nil
}

// applyContainerd installs what the check found missing, and (re)starts containerd when its
// binaries or files changed or it does not run as it should. It downloads everything before
// it changes anything: a failed download leaves the node as it was.
func applyContainerd(ctx context.Context, h *Host, releases *releaseFetcher) error {
	files, err := containerdFilesFor(ctx, h)
	if err != nil {
		return err
	}
	s, err := readContainerdState(ctx, h, files)
	if err != nil {
		return err
	}
	d, err := containerdDownloads(ctx, h, releases, s)
	if err != nil {
		return err
	}
	if d.tarball != nil {
		untar := ssh.Command{Args: []string{"sh", "-c", untarBinaries}, Sudo: true, Stdin: bytes.NewReader(d.tarball)}
		if _, err := h.run.Run(ctx, untar); err != nil {
			return err
		}
	}
	if d.runc != nil {
		if err := h.run.Upload(ctx, runcPath, 0o755, d.runc, true); err != nil {
			return err
		}
	}
	restart := d.tarball != nil || len(s.notServing(h.Cluster.Containerd.Version)) > 0
	if len(s.differ) > 0 {
		if err := h.write(ctx, files...); err != nil {
			return err
		}
		restart = true
	}
	for _, f := range s.stale { // containerd reads hosts.toml at each pull: no restart
		if _, err := h.sh(ctx, "rm -f "+quote(f)+" && rmdir --ignore-fail-on-non-empty "+quote(path.Dir(f))); err != nil {
			return err
		}
	}
	_, err = h.sh(ctx, containerdStartScript(restart))
	return err
}

// untarBinaries extracts the release tarball's bin/ from stdin into /usr/local, as upstream's
// instructions do, owned by root whoever built the tarball. tar replaces each file (it
// unlinks the old one), which a running containerd does not prevent.
const untarBinaries = "tar -C /usr/local --no-same-owner -xzf - bin"

// downloads are the verified releases a node lacks; nil is a release it has.
type downloads struct {
	tarball, runc []byte
}

// containerdDownloads fetches the release tarball, when the node's containerd is not the
// pinned one, and runc, when its runc is not RuncVersion.
func containerdDownloads(ctx context.Context, h *Host, releases *releaseFetcher, s containerdState) (downloads, error) {
	var d downloads
	arch, err := nodeArch(ctx, h)
	if err != nil {
		return d, err
	}
	if len(s.binariesOutdated(h.Cluster.Containerd.Version)) > 0 {
		r := containerdRelease(h.Cluster, arch)
		if d.tarball, err = releases.get(ctx, r); err != nil {
			return d, err
		}
		if err := checkTarball(d.tarball); err != nil {
			return d, fmt.Errorf("%s: %w", r.URL, err)
		}
	}
	if len(s.runcOutdated()) > 0 {
		if d.runc, err = releases.get(ctx, runcRelease(h.Cluster, arch)); err != nil {
			return d, err
		}
	}
	return d, nil
}

// nodeArch is the node's dpkg architecture, from its facts when they were gathered.
func nodeArch(ctx context.Context, h *Host) (string, error) {
	if h.Facts.Arch != "" {
		return h.Facts.Arch, nil
	}
	return h.sh(ctx, "dpkg --print-architecture")
}

// checkTarball makes sure that data is a gzip'd tarball holding bin/containerd and
// bin/containerd-shim-runc-v2, before it reaches a node.
func checkTarball(data []byte) error {
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		return fmt.Errorf("not a gzip'd tarball: %w", err)
	}
	tr := tar.NewReader(zr)
	var bins []string
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("damaged tarball: %w", err)
		}
		if hdr.Typeflag == tar.TypeReg {
			bins = append(bins, path.Clean(hdr.Name))
		}
		if _, err := io.Copy(io.Discard, tr); err != nil {
			return fmt.Errorf("damaged tarball: %s: %w", hdr.Name, err)
		}
	}
	for _, want := range []string{"bin/containerd", "bin/containerd-shim-runc-v2"} {
		if !slices.Contains(bins, want) {
			return fmt.Errorf("no %s in the tarball", want)
		}
	}
	return nil
}

// containerdStartScript enables containerd and starts it, or restarts it when it changed or
// does not serve as it should (a restart leaves running containers alone: KillMode=process);
// systemd waits until containerd says it serves. A failed start shows containerd's log.
func containerdStartScript(restart bool) string {
	verb := "start"
	if restart {
		verb = "restart"
	}
	return `systemctl daemon-reload
systemctl enable -q containerd
systemctl ` + verb + ` containerd || { journalctl -u containerd -n 30 --no-pager -o cat >&2; exit 1; }`
}

func planContainerd(h *Host) []string {
	arch := h.Facts.Arch
	if arch == "" {
		arch = "$(dpkg --print-architecture)"
	}
	ctd, runc := containerdRelease(h.Cluster, arch), runcRelease(h.Cluster, arch)
	image := defaultSandboxImage(h.Cluster)
	plan := []string{
		fmt.Sprintf("download %s on this machine and check it against its .sha256sum (when containerd is not v%s), then: %s",
			ctd.URL, h.Cluster.Containerd.Version, untarBinaries),
		fmt.Sprintf("download %s and check it against %s next to it (when runc is not %s), then upload it to %s",
			runc.URL, path.Base(runc.SumURL), RuncVersion, runcPath),
	}
	files := filePlans(containerdFiles(h.Cluster, image)...)
	files[0] += ", with the sandbox image " + image + " (or the pause image of the node's kubeadm, when it is installed)"
	plan = append(plan, files...)
	plan = append(plan, "remove the "+registryHostsDir+"/*/hosts.toml gitsync wrote for registries no longer in mirrors.registries")
	return append(plan, containerdStartScript(true))
}

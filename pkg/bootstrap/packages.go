package bootstrap

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp/armor"
	pgperrors "github.com/ProtonMail/go-crypto/openpgp/errors"
	"github.com/ProtonMail/go-crypto/openpgp/packet"

	"github.com/gitsync-io/gitsync/pkg/download"
)

// DefaultKubernetesRepository is where the per-minor repositories of kubeadm, kubelet and
// kubectl live: <base>/v1.MINOR/deb/. Mirrors.Kubernetes replaces it.
const DefaultKubernetesRepository = "https://pkgs.k8s.io/core:/stable:"

// The packages the step installs, pins and holds, and the files it writes.
var kubernetesPackages = []string{"kubelet", "kubeadm", "kubectl"}

const (
	kubernetesListPath = "/etc/apt/sources.list.d/kubernetes.list"
	// An ASCII-armored key: apt reads .asc keyrings in signed-by (apt 2.4+), so the node
	// needs neither curl nor gpg.
	kubernetesKeyPath = "/etc/apt/keyrings/kubernetes-apt-keyring.asc"
)

// PackagesStep installs kubelet, kubeadm and kubectl at the cluster's Kubernetes version from
// the repository of its minor version, and holds them, so that apt upgrades never move them:
// upgrading Kubernetes is a change of the cluster file. gitsync fetches the repository's
// signing key itself and uploads it; apt on the node verifies the repository with it.
func PackagesStep() Step {
	keys := &keyFetcher{}
	return Step{
		Name: "packages",
		Check: func(ctx context.Context, h *Host) (Status, error) {
			return checkPackages(ctx, h, keys)
		},
		Apply: func(ctx context.Context, h *Host) error { return applyPackages(ctx, h, keys) },
		Plan:  func(h *Host) []string { return planPackages(h, keys) },
	}
}

// repository is one minor version's package repository as the cluster file names it.
type repository struct {
	URL     string // <base>/v1.MINOR/deb/
	Version string // the upstream version to pin: 1.37.2
}

func kubernetesRepository(c *Cluster) repository {
	base := c.Mirrors.Kubernetes
	if base == "" {
		base = DefaultKubernetesRepository
	}
	return repository{
		URL:     strings.TrimSuffix(base, "/") + "/" + c.Minor() + "/deb/",
		Version: strings.TrimPrefix(c.KubernetesVersion, "v"),
	}
}

func (r repository) keyURL() string { return r.URL + "Release.key" }

// source is the repository's line in apt's one-line format: a flat repository ("/").
func (r repository) source() string {
	return "deb [signed-by=" + kubernetesKeyPath + "] " + r.URL + " /"
}

func (r repository) listFile() File {
	return File{Path: kubernetesListPath, Mode: 0o644, Content: "# written by gitsync bootstrap: Kubernetes " + r.Version + "\n" + r.source() + "\n"}
}

func keyFile(k signingKey) File {
	return File{Path: kubernetesKeyPath, Mode: 0o644, Content: k.Armored}
}

// checkPackages finds the step done when the three packages are installed at the pinned
// version and held, and the repository list and key are what gitsync writes.
func checkPackages(ctx context.Context, h *Host, keys *keyFetcher) (Status, error) {
	repo := kubernetesRepository(h.Cluster)
	key, err := keys.get(ctx, repo.keyURL())
	if err != nil {
		return Status{}, err
	}
	out, err := h.sh(ctx, packagesCheckScript(repo.listFile(), keyFile(key)))
	if err != nil {
		return Status{}, err
	}
	if why := packagesDiffer(out, repo); len(why) > 0 {
		return notDone(strings.Join(why, "; "))
	}
	return done()
}

// packagesCheckScript prints one line per installed package (name, version, selection,
// status) and one per file that is not what gitsync writes. It changes nothing.
func packagesCheckScript(files ...File) string {
	var b strings.Builder
	b.WriteString(`dpkg-query -W -f='${Package} ${Version} ${db:Status-Want} ${db:Status-Status}\n' ` +
		strings.Join(kubernetesPackages, " ") + " 2>/dev/null\n")
	for _, f := range files {
		fmt.Fprintf(&b, "{ %s; } 2>/dev/null || echo differs %s\n", sameFiles(f), quote(f.Path))
	}
	b.WriteString("true")
	return b.String()
}

// packagesDiffer reads packagesCheckScript's output and says what differs from repo.
func packagesDiffer(out string, repo repository) []string {
	type state struct{ version, want, status string }
	installed := map[string]state{}
	var why, files []string
	for line := range strings.SplitSeq(out, "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) == 2 && f[0] == "differs":
			files = append(files, fileDiffers(f[1], repo))
		case len(f) == 4:
			installed[f[0]] = state{f[1], f[2], f[3]}
		}
	}
	for _, p := range kubernetesPackages {
		s, ok := installed[p]
		switch {
		case !ok || s.status != "installed":
			why = append(why, p+" is not installed")
		case upstreamVersion(s.version) != repo.Version:
			why = append(why, fmt.Sprintf("%s %s is installed, want %s", p, s.version, repo.Version))
		case s.want != "hold":
			why = append(why, p+" is not held")
		}
	}
	return append(why, files...)
}

func fileDiffers(path string, repo repository) string {
	switch path {
	case kubernetesListPath:
		return path + " does not name " + repo.URL
	case kubernetesKeyPath:
		return path + " is not the key of " + repo.keyURL()
	}
	return path + " differs"
}

// upstreamVersion is a Debian version without its revision: 1.37.2 of 1.37.2-1.1.
func upstreamVersion(v string) string {
	if i := strings.LastIndexByte(v, '-'); i > 0 {
		v = v[:i]
	}
	if _, after, ok := strings.Cut(v, ":"); ok { // an epoch
		v = after
	}
	return v
}

func applyPackages(ctx context.Context, h *Host, keys *keyFetcher) error {
	repo := kubernetesRepository(h.Cluster)
	key, err := keys.get(ctx, repo.keyURL())
	if err != nil {
		return err
	}
	if err := h.write(ctx, repo.listFile(), keyFile(key)); err != nil {
		return err
	}
	if _, err := h.sh(ctx, aptUpdateScript); err != nil {
		return fmt.Errorf("apt-get update of %s: %w", repo.URL, err)
	}
	madison, err := h.sh(ctx, "apt-cache madison "+strings.Join(kubernetesPackages, " "))
	if err != nil {
		return err
	}
	pins, err := pinVersions(madison, repo)
	if err != nil {
		return err
	}
	_, err = h.sh(ctx, installScript(pins))
	return err
}

// aptUpdateScript reads only the Kubernetes repository: a distribution mirror the node cannot
// reach does not fail the step, and no other list is dropped (List-Cleanup). --error-on=any
// fails on what apt otherwise only warns about, such as a repository it cannot connect to.
const aptUpdateScript = `apt-get update -q --error-on=any -o Dir::Etc::sourcelist=` + "sources.list.d/kubernetes.list" +
	` -o Dir::Etc::sourceparts=- -o APT::Get::List-Cleanup=0`

// pinVersions finds, for each package, the full version of the pinned upstream version in
// `apt-cache madison` output, the first (newest) revision apt knows: pkgs.k8s.io's are
// like 1.36.4-1.1.
func pinVersions(madison string, repo repository) ([]string, error) {
	found := map[string]string{}
	others := map[string][]string{}
	for line := range strings.SplitSeq(madison, "\n") {
		f := strings.Split(line, "|")
		if len(f) < 3 {
			continue
		}
		name, version := strings.TrimSpace(f[0]), strings.TrimSpace(f[1])
		switch {
		case upstreamVersion(version) != repo.Version:
			others[name] = append(others[name], version)
		case found[name] == "":
			found[name] = version
		}
	}
	var pins []string
	var errs []error
	for _, p := range kubernetesPackages {
		if found[p] == "" {
			errs = append(errs, fmt.Errorf("%s offers no %s %s (versions: %s)", repo.URL, p, repo.Version, orNone(others[p])))
			continue
		}
		pins = append(pins, p+"="+found[p])
	}
	return pins, errors.Join(errs...)
}

func orNone(versions []string) string {
	if len(versions) == 0 {
		return "none"
	}
	return strings.Join(versions, ", ")
}

// installScript installs the pinned versions over held ones (an upgrade of the cluster file),
// keeping changed configuration files, waiting for another apt to finish, and holds them.
// The packages depend on distribution packages (conntrack, ethtool, socat…): when those are
// missing from the node's package lists or stale, the lists are refreshed once and the
// install retried.
func installScript(pins []string) string {
	return `export DEBIAN_FRONTEND=noninteractive
install() {
  apt-get install -y -q -o DPkg::Lock::Timeout=300 -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
    --allow-change-held-packages --allow-downgrades ` + strings.Join(pins, " ") + `
}
install || { apt-get update -q || true; install; }
apt-mark hold ` + strings.Join(kubernetesPackages, " ")
}

func planPackages(h *Host, keys *keyFetcher) []string {
	repo := kubernetesRepository(h.Cluster)
	keyPlan := fmt.Sprintf("write %s: the key at %s", kubernetesKeyPath, repo.keyURL())
	if k, ok := keys.cached(repo.keyURL()); ok {
		keyPlan = filePlans(keyFile(k))[0] + ": the key at " + repo.keyURL() + ", fingerprint " + k.Fingerprint
	}
	var pins []string
	for _, p := range kubernetesPackages {
		pins = append(pins, p+"="+repo.Version+"-<revision from apt-cache madison>")
	}
	return []string{filePlans(repo.listFile())[0] + ": " + repo.source(), keyPlan, aptUpdateScript, installScript(pins)}
}

// keyFetcher fetches repository signing keys from the machine running gitsync, once per URL:
// the nodes need no curl and no gpg for it, and every node gets the same key.
type keyFetcher struct {
	mu   sync.Mutex
	keys map[string]signingKey
}

// signingKey is an ASCII-armored OpenPGP public key, as the repository serves it.
type signingKey struct {
	Armored     string
	Fingerprint string
}

// publicKeyBlock is the armor type of a public key.
const publicKeyBlock = "PGP PUBLIC KEY BLOCK"

// maxKeySize bounds what is read from a key URL; pkgs.k8s.io's key is under 2 KB.
const maxKeySize = 1 << 20

// keyTimeout bounds the download of a key.
const keyTimeout = 30 * time.Second

func (f *keyFetcher) cached(url string) (signingKey, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	k, ok := f.keys[url]
	return k, ok
}

func (f *keyFetcher) get(ctx context.Context, keyURL string) (signingKey, error) {
	if k, ok := f.cached(keyURL); ok {
		return k, nil
	}
	k, err := f.fetch(ctx, keyURL)
	if err != nil {
		return signingKey{}, fmt.Errorf("the repository's signing key %s: %w", keyURL, err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.keys == nil {
		f.keys = map[string]signingKey{}
	}
	f.keys[keyURL] = k
	return k, nil
}

func (f *keyFetcher) fetch(ctx context.Context, keyURL string) (signingKey, error) {
	data, err := download.Get(ctx, keyURL, download.Options{Timeout: keyTimeout, MaxBytes: maxKeySize})
	var status *download.StatusError
	var tooLarge *download.TooLargeError
	switch {
	case errors.As(err, &status):
		return signingKey{}, fmt.Errorf("%w (is mirrors.kubernetes a mirror of %s, and is kubernetesVersion's minor released?)",
			err, DefaultKubernetesRepository)
	case errors.As(err, &tooLarge):
		return signingKey{}, fmt.Errorf("%w: not a signing key", err)
	case err != nil:
		return signingKey{}, err
	}
	return parseSigningKey(data)
}

// parseSigningKey accepts an ASCII-armored OpenPGP public key, whole, and reads its primary
// key's fingerprint: enough to refuse an error page or a truncated download. It verifies no
// signature: the node's apt (gpgv) is what verifies the repository with the key.
func parseSigningKey(data []byte) (signingKey, error) {
	if !strings.Contains(string(data), "-----END "+publicKeyBlock+"-----") {
		return signingKey{}, errors.New("not an ASCII-armored OpenPGP public key: no END " + publicKeyBlock + " line")
	}
	block, err := armor.Decode(strings.NewReader(string(data)))
	if err != nil {
		return signingKey{}, fmt.Errorf("not an ASCII-armored OpenPGP public key: %w", err)
	}
	if block.Type != publicKeyBlock {
		return signingKey{}, fmt.Errorf("an armored %q, want a %s", block.Type, publicKeyBlock)
	}
	p, err := packet.Read(block.Body)
	if err != nil {
		return signingKey{}, fmt.Errorf("damaged key: %w", err)
	}
	pub, ok := p.(*packet.PublicKey)
	if !ok {
		return signingKey{}, fmt.Errorf("not an OpenPGP public key: it starts with a %T", p)
	}
	for { // the user IDs, signatures and subkeys, which must be whole
		_, err := packet.Read(block.Body)
		var unsupported pgperrors.UnsupportedError
		var unknown pgperrors.UnknownPacketTypeError
		switch {
		case errors.Is(err, io.EOF):
			return signingKey{Armored: string(data), Fingerprint: strings.ToUpper(fmt.Sprintf("%x", pub.Fingerprint))}, nil
		case err != nil && !errors.As(err, &unsupported) && !errors.As(err, &unknown):
			return signingKey{}, fmt.Errorf("damaged key: %w", err)
		}
	}
}

package render

import (
	"bytes"
	"fmt"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"sigs.k8s.io/kustomize/api/konfig"
	"sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/kustomize/kyaml/kio"
	kyaml "sigs.k8s.io/kustomize/kyaml/yaml"
)

// kustomizeFS is the file system krusty builds from: a confinedFS that also checks every
// kustomization file as kustomize reads it, before kustomize acts on any entry in it. Remote
// references are refused there, before kustomize could download them or run git to clone them
// (it would: api/internal/loader.FileLoader.Load fetches http(s) URLs, FileLoader.New clones repo
// URLs with git.ClonerUsingGitExec); so are helm charts, and entries that are absolute, leave
// the repository or name a missing file, each error naming the kustomization file and the entry.
type kustomizeFS struct {
	*confinedFS
	kustomizationAt map[string]string   // real path of a kustomization file → the path kustomize asked for
	kustomizations  []string            // kustomization files, in the order kustomize read them
	resources       map[string][]string // kustomization file → the resource files it lists
}

var _ filesys.FileSystem = (*kustomizeFS)(nil)

const fixRemote = "copy the files into this repository, or list a released file by its http(s) URL (ending in .yaml, .yml or .json); " +
	"remote git bases are off unless turned on with --allow-remote-bases (remote.gitBases in the config file)"

func newKustomizeFS(f *confinedFS) *kustomizeFS {
	return &kustomizeFS{confinedFS: f, kustomizationAt: map[string]string{}, resources: map[string][]string{}}
}

// CleanedAbs is confinedFS's. It also notes where a kustomization file kustomize asks for by
// name really is: kustomize then reads it from there (elsewhere, if it is a symlink), while its
// entries stay relative to the directory it was asked for in.
func (k *kustomizeFS) CleanedAbs(p string) (filesys.ConfirmedDir, string, error) {
	dir, file, err := k.confinedFS.CleanedAbs(p)
	if err == nil && file != "" && isKustomizationName(filepath.Base(p)) {
		k.kustomizationAt[dir.Join(file)], _ = k.rel(p)
	}
	return dir, file, err
}

// ReadFile is confinedFS's, followed by the check of what was read.
func (k *kustomizeFS) ReadFile(p string) ([]byte, error) {
	rel, err := k.rel(p)
	if err != nil {
		return nil, err
	}
	data, err := k.readFile(rel)
	if err != nil {
		return nil, err
	}
	if asked, ok := k.kustomizationAt[p]; ok {
		data, err = k.checkKustomization(asked, data)
	} else if isKustomizationName(path.Base(rel)) {
		data, err = k.checkKustomization(rel, data)
	} else if bytes.Contains(data, []byte("builtin")) {
		err = checkPluginConfigs(rel, data)
	}
	if err != nil {
		return nil, k.fail(err)
	}
	return data, nil
}

// fixHelm is how a chart is rendered instead of with kustomize's inflator.
const fixHelm = "give the sync the chart (syncs[].helm, or --helm-* on the command line); this kustomization can then patch its output"

func isKustomizationName(name string) bool {
	return slices.Contains(konfig.RecognizedKustomizationFileNames(), name)
}

// checkKustomization checks one kustomization file and every entry that names a file. It
// returns the kustomization as kustomize is to read it: with each remote resource file fetched
// and its URL replaced by the path it is served at.
func (k *kustomizeFS) checkKustomization(file string, data []byte) ([]byte, error) {
	var kust types.Kustomization
	if err := kust.Unmarshal(data); err != nil {
		return nil, kustomizationError(file, data, err)
	}
	kust.FixKustomization()
	k.kustomizations = append(k.kustomizations, file)
	if len(kust.HelmCharts) > 0 || kust.HelmGlobals != nil {
		return nil, &Error{Problem: Unsupported, File: file, Detail: "helmCharts: kustomize's helm chart inflator is off",
			Fix: fixHelm}
	}
	fetched := map[string]string{}
	for _, ref := range references(&kust) {
		if ref.field == "resources" && isRemoteFile(ref.value) {
			local, err := k.fetchResource(file, ref.value)
			if err != nil {
				return nil, err
			}
			fetched[ref.value] = local
			continue
		}
		if ref.mayBeBase() && isRemote(ref.value) && k.remote != nil && k.remote.Git != nil {
			local, err := k.fetchBase(file, ref.value)
			if err != nil {
				return nil, err
			}
			fetched[ref.value] = local
			continue
		}
		if err := k.checkReference(file, ref); err != nil {
			return nil, err
		}
	}
	for _, config := range inlinePluginConfigs(&kust) {
		if err := checkPluginConfigs(file, []byte(config)); err != nil {
			return nil, err
		}
	}
	if g := k.generated; g != nil && file == k.origin {
		local := path.Join(virtualDir, "generated.yaml")
		k.addVirtual(path.Join(path.Dir(file), local), virtualFile{url: g.Name, data: g.Data})
		k.seen.add(opGenerated, g.Name, contentAnswer(g.Data))
		return prependResource(file, data, fetched, local)
	}
	if len(fetched) == 0 {
		return data, nil
	}
	return replaceResources(file, data, fetched)
}

func kustomizationError(file string, data []byte, err error) *Error {
	if yamlLine.MatchString(err.Error()) {
		return yamlError(file, data, err)
	}
	return &Error{Problem: InvalidKustomization, File: file, Detail: err.Error(), Err: err,
		Fix: "see https://kubectl.docs.kubernetes.io/references/kustomize/kustomization/"}
}

// checkReference checks one entry: not remote, inside the repository, present.
func (k *kustomizeFS) checkReference(file string, ref reference) error {
	entry := fmt.Sprintf("%s entry %q", ref.field, ref.value)
	target := path.Join(path.Dir(file), filepath.ToSlash(ref.value))
	switch {
	case isRemote(ref.value):
		return &Error{Problem: RemoteRefused, File: file, Detail: entry + " would be fetched from the network", Fix: fixRemote}
	case filepath.IsAbs(ref.value):
		return &Error{Problem: OutsideRepository, File: file, Detail: entry + " is an absolute path", Fix: fixOutside}
	case !filepath.IsLocal(target):
		return &Error{Problem: OutsideRepository, File: file, Fix: fixOutside,
			Detail: fmt.Sprintf("%s resolves to %q, outside the repository", entry, target)}
	}
	k.refs[target] = file
	n, err := k.check(target)
	switch {
	case settle(err) != nil:
		return err
	case err != nil:
		return &Error{Problem: MissingFile, File: file, Detail: fmt.Sprintf("%s: %q does not exist", entry, target),
			Fix: "add the file, or correct or remove the entry"}
	case n.dir && ref.mayBeBase():
		return k.checkBase(file, entry, target)
	case ref.field == "resources":
		k.resources[file] = append(k.resources[file], target)
	}
	return nil
}

// checkBase makes sure a directory listed as a base or component holds a kustomization.
func (k *kustomizeFS) checkBase(file, entry, dir string) error {
	found, err := k.kustomizationIn(dir)
	if err != nil || found != "" {
		return err
	}
	return &Error{Problem: MissingFile, File: file, Detail: fmt.Sprintf("%s: directory %q has no kustomization.yaml", entry, dir),
		Fix: "add a kustomization.yaml there, or list its files instead"}
}

// reference is one kustomization entry that names a file or directory.
type reference struct {
	field, value string
}

func (r reference) mayBeBase() bool { return r.field == "resources" || r.field == "components" }

// references lists the entries of a kustomization (after FixKustomization) that kustomize
// loads as a file, a directory or a URL.
func references(k *types.Kustomization) []reference {
	var refs []reference
	add := func(field string, values ...string) {
		for _, v := range values {
			if v != "" {
				refs = append(refs, reference{field, v})
			}
		}
	}
	add("resources", k.Resources...)
	add("components", k.Components...)
	add("crds", k.Crds...)
	add("configurations", k.Configurations...)
	add("openapi", k.OpenAPI["path"])
	add("generators", notInline(k.Generators)...)
	add("transformers", notInline(k.Transformers)...)
	add("validators", notInline(k.Validators)...)
	for _, p := range slices.Concat(k.Patches, k.PatchesJson6902) {
		add("patches", p.Path)
	}
	for _, p := range k.PatchesStrategicMerge {
		add("patchesStrategicMerge", notInline([]string{string(p)})...)
	}
	for _, r := range k.Replacements {
		add("replacements", r.Path)
	}
	for _, g := range k.ConfigMapGenerator {
		add("configMapGenerator", generatorSources(g.KvPairSources)...)
	}
	for _, g := range k.SecretGenerator {
		add("secretGenerator", generatorSources(g.KvPairSources)...)
	}
	return refs
}

// generatorSources returns the file paths of a generator's files and envs ("[key=]path", split
// as kustomize's generators.ParseFileSource does).
func generatorSources(kv types.KvPairSources) []string {
	paths := slices.Clone(kv.EnvSources)
	for _, source := range kv.FileSources {
		paths = append(paths, fileSourcePath(source))
	}
	return paths
}

func fileSourcePath(source string) string {
	if strings.Count(source, "=") != 1 {
		return source
	}
	_, p, _ := strings.Cut(source, "=")
	return p
}

// inlinePluginConfigs returns the generators, transformers and validators written inline.
func inlinePluginConfigs(k *types.Kustomization) []string {
	var inline []string
	for _, entry := range slices.Concat(k.Generators, k.Transformers, k.Validators) {
		if isInline(entry) {
			inline = append(inline, entry)
		}
	}
	return inline
}

func notInline(entries []string) []string {
	var paths []string
	for _, entry := range entries {
		if !isInline(entry) {
			paths = append(paths, entry)
		}
	}
	return paths
}

// isInline tells YAML written inline in a kustomization (a mapping) from a path (a scalar).
func isInline(entry string) bool {
	n, err := kyaml.Parse(entry)
	return err == nil && n.YNode().Kind == kyaml.MappingNode
}

// checkPluginConfigs refuses remote paths in builtin plugin configurations (apiVersion:
// builtin), the other place kustomize loads files from: PatchTransformer's path,
// ReplacementTransformer's replacements[].path, ConfigMapGenerator's files and envs, and so on.
func checkPluginConfigs(file string, data []byte) error {
	nodes, err := kio.FromBytes(data)
	if err != nil {
		return nil // not YAML; kustomize says so if it matters
	}
	for _, n := range nodes {
		if n.GetApiVersion() != "builtin" {
			continue
		}
		id := "builtin " + n.GetKind() + " " + n.GetName()
		if n.GetKind() == "HelmChartInflationGenerator" {
			return &Error{Problem: Unsupported, File: file, Object: id, Detail: "kustomize's helm chart inflator is off",
				Fix: fixHelm}
		}
		m, _ := n.Map()
		if v, ok := remoteValue("", m); ok {
			return &Error{Problem: RemoteRefused, File: file, Object: id,
				Detail: fmt.Sprintf("%q would be fetched from the network", v), Fix: fixRemote}
		}
	}
	return nil
}

// remoteValue finds a remote value under a field that builtin plugins load as a file.
func remoteValue(key string, v any) (string, bool) {
	switch v := v.(type) {
	case string:
		return v, loadsFile(key) && isRemote(fileSourcePath(v))
	case []any:
		for _, e := range v {
			if r, ok := remoteValue(key, e); ok {
				return r, true
			}
		}
	case map[string]any:
		for k, e := range v {
			if r, ok := remoteValue(k, e); ok {
				return r, true
			}
		}
	}
	return "", false
}

func loadsFile(key string) bool {
	switch key {
	case "path", "paths", "targetFilePath", "files", "envs", "env", "valuesFile", "additionalValuesFiles":
		return true
	}
	return false
}

// scpUser matches the user@ of an scp-style git URL (git@github.com:org/repo).
var scpUser = regexp.MustCompile(`^[a-z][a-z0-9-]*@`)

// isRemote reports whether kustomize v0.21.2 would fetch s rather than read it from the
// repository: loader.IsRemoteFile downloads http and https URLs, and git.NewRepoSpecFromURL
// takes these forms (case-insensitively, with or without "git::") and clones them with git.
func isRemote(s string) bool {
	s = strings.TrimPrefix(strings.ToLower(strings.TrimSpace(s)), "git::")
	for _, prefix := range []string{"http://", "https://", "ssh://", "file://", "github.com/", "github.com:"} {
		if strings.HasPrefix(s, prefix) {
			return true
		}
	}
	return scpUser.MatchString(s)
}

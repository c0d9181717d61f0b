package nodes

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// mirrorEnv overrides the mirror found in the apt configuration, for hosts
// whose apt does not use a Debian archive (Ubuntu, say).
const mirrorEnv = "GITSYNC_DEBIAN_MIRROR"

// aptSource is one "deb" entry of the apt configuration.
type aptSource struct {
	URI    string
	Suites []string
	File   string
}

// debianMirror returns the archive URI that debootstrap should download suite
// from: the host's own apt configuration under root ("/" outside tests),
// never a built-in address. An entry serving suite wins; on a Debian host,
// so does the entry of the host's own release (the same archive serves every
// suite). Security and update suites never match.
func debianMirror(root, suite string) (string, error) {
	if uri := os.Getenv(mirrorEnv); uri != "" {
		return uri, nil
	}
	sources, files, err := aptSources(root)
	if err != nil {
		return "", err
	}
	for _, s := range sources {
		if slices.Contains(s.Suites, suite) {
			return s.URI, nil
		}
	}
	if id, codename := osRelease(root); id == "debian" && codename != "" {
		for _, s := range sources {
			if slices.Contains(s.Suites, codename) {
				return s.URI, nil
			}
		}
	}
	return "", fmt.Errorf("no Debian archive for %s in the apt configuration (read %s); add one there or set %s to a Debian mirror URL",
		suite, strings.Join(files, ", "), mirrorEnv)
}

// aptSources reads the entries apt reads: sources.list and, in
// sources.list.d, *.list (one-line format) and *.sources (deb822).
func aptSources(root string) (sources []aptSource, files []string, err error) {
	dir := filepath.Join(root, "etc/apt")
	candidates := []string{filepath.Join(dir, "sources.list")}
	for _, pattern := range []string{"*.list", "*.sources"} {
		matches, _ := filepath.Glob(filepath.Join(dir, "sources.list.d", pattern))
		candidates = append(candidates, matches...)
	}
	slices.Sort(candidates[1:])
	for _, file := range candidates {
		data, err := os.ReadFile(file)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, nil, err
		}
		files = append(files, file)
		if strings.HasSuffix(file, ".sources") {
			sources = append(sources, parseDeb822(data, file)...)
		} else {
			sources = append(sources, parseOneLine(data, file)...)
		}
	}
	return sources, files, nil
}

// parseOneLine reads "deb [options] uri suite [component...]" lines.
func parseOneLine(data []byte, file string) []aptSource {
	var sources []aptSource
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line, _, _ := strings.Cut(sc.Text(), "#")
		fields := strings.Fields(line)
		if len(fields) < 3 || fields[0] != "deb" {
			continue
		}
		fields = fields[1:]
		if strings.HasPrefix(fields[0], "[") {
			end := slices.IndexFunc(fields, func(f string) bool { return strings.HasSuffix(f, "]") })
			if end < 0 || len(fields) < end+3 {
				continue
			}
			fields = fields[end+1:]
		}
		sources = append(sources, aptSource{URI: fields[0], Suites: fields[1:2], File: file})
	}
	return sources
}

// parseDeb822 reads stanzas of Types, URIs, Suites and Enabled fields.
func parseDeb822(data []byte, file string) []aptSource {
	var sources []aptSource
	for _, stanza := range deb822Stanzas(data) {
		if !slices.Contains(strings.Fields(stanza["types"]), "deb") || strings.EqualFold(stanza["enabled"], "no") {
			continue
		}
		for _, uri := range strings.Fields(stanza["uris"]) {
			sources = append(sources, aptSource{URI: uri, Suites: strings.Fields(stanza["suites"]), File: file})
		}
	}
	return sources
}

// deb822Stanzas splits data at blank lines into field maps with lower-case
// keys; continuation lines (leading blank) extend the previous field.
func deb822Stanzas(data []byte) []map[string]string {
	var stanzas []map[string]string
	stanza, key := map[string]string{}, ""
	flush := func() {
		if len(stanza) > 0 {
			stanzas = append(stanzas, stanza)
		}
		stanza, key = map[string]string{}, ""
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "#"):
		case strings.TrimSpace(line) == "":
			flush()
		case line[0] == ' ' || line[0] == '\t':
			if key != "" {
				stanza[key] += " " + strings.TrimSpace(line)
			}
		default:
			k, v, ok := strings.Cut(line, ":")
			if ok {
				key = strings.ToLower(strings.TrimSpace(k))
				stanza[key] = strings.TrimSpace(v)
			}
		}
	}
	flush()
	return stanzas
}

// osRelease returns ID and VERSION_CODENAME of root's /etc/os-release.
func osRelease(root string) (id, codename string) {
	data, _ := os.ReadFile(filepath.Join(root, "etc/os-release"))
	for line := range strings.SplitSeq(string(data), "\n") {
		k, v, _ := strings.Cut(line, "=")
		v = strings.Trim(v, `"'`)
		switch k {
		case "ID":
			id = v
		case "VERSION_CODENAME":
			codename = v
		}
	}
	return id, codename
}

// DebianMirror returns the archive URI of the nodes' Debian release (bookworm) in this
// machine's apt configuration, or $GITSYNC_DEBIAN_MIRROR: where the nodes' root file
// system comes from, and where other test fixtures download Debian packages.
func DebianMirror() (uri, suiteName string, err error) {
	uri, err = debianMirror("/", suite)
	return uri, suite, err
}

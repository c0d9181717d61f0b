package source

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"path"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"
)

// allowedSigner is one line of an allowed_signers file (ssh-keygen(1),
// ALLOWED SIGNERS): principals, options, and a public key.
type allowedSigner struct {
	principals  string
	key         ssh.PublicKey
	namespaces  string    // a pattern list; empty allows every namespace
	validAfter  time.Time // zero: no bound
	validBefore time.Time
}

// parseAllowedSigners reads allowed_signers lines; each error names the line.
func parseAllowedSigners(data []byte) ([]allowedSigner, error) {
	var signers []allowedSigner
	scanner := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; scanner.Scan(); n++ {
		line := strings.TrimSpace(scanner.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		a, err := parseAllowedSigner(line)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w (want: principals [options] keytype key, as in git's gpg.ssh.allowedSignersFile)", n, err)
		}
		signers = append(signers, a)
	}
	return signers, scanner.Err()
}

func parseAllowedSigner(line string) (allowedSigner, error) {
	principals, rest := cutField(line)
	if principals == "" || rest == "" {
		return allowedSigner{}, errors.New("no public key")
	}
	// The rest is laid out as an authorized_keys line: options, key, comment.
	key, _, options, _, err := ssh.ParseAuthorizedKey([]byte(rest))
	if err != nil {
		return allowedSigner{}, fmt.Errorf("the public key: %w", err)
	}
	a := allowedSigner{principals: principals, key: key}
	for _, o := range options {
		name, value, _ := strings.Cut(o, "=")
		value = strings.Trim(value, `"`)
		switch strings.ToLower(name) {
		case "namespaces":
			a.namespaces = value
		case "valid-after":
			a.validAfter, err = parseSignerTime(value)
		case "valid-before":
			a.validBefore, err = parseSignerTime(value)
		case "cert-authority":
			err = errors.New("cert-authority keys (signatures by SSH certificates) are not supported; list the signing keys themselves")
		default:
			err = fmt.Errorf("unknown option %q", name)
		}
		if err != nil {
			return allowedSigner{}, fmt.Errorf("option %s: %w", name, err)
		}
	}
	return a, nil
}

// cutField splits off the first field, which may be double-quoted.
func cutField(line string) (field, rest string) {
	if strings.HasPrefix(line, `"`) {
		if end := strings.Index(line[1:], `"`); end >= 0 {
			return line[1 : end+1], strings.TrimSpace(line[end+2:])
		}
	}
	i := strings.IndexAny(line, " \t")
	if i < 0 {
		return line, ""
	}
	field, rest = line[:i], line[i+1:]
	return field, strings.TrimSpace(rest)
}

// parseSignerTime reads YYYYMMDD[HHMM[SS]], in local time unless it ends
// in Z, as ssh-keygen does.
func parseSignerTime(v string) (time.Time, error) {
	loc := time.Local
	if strings.HasSuffix(v, "Z") || strings.HasSuffix(v, "z") {
		v, loc = v[:len(v)-1], time.UTC
	}
	layouts := map[int]string{8: "20060102", 12: "200601021504", 14: "20060102150405"}
	layout, ok := layouts[len(v)]
	if !ok {
		return time.Time{}, fmt.Errorf("%q is not YYYYMMDD[HHMM[SS]][Z]", v)
	}
	return time.ParseInLocation(layout, v, loc)
}

// refuses says why this signer may not sign in namespace at when, or "".
func (a allowedSigner) refuses(namespace string, when time.Time) string {
	switch {
	case a.namespaces != "" && !matchPatternList(namespace, a.namespaces):
		return fmt.Sprintf("only for the namespaces %q, not %q", a.namespaces, namespace)
	case !a.validAfter.IsZero() && when.Before(a.validAfter):
		return fmt.Sprintf("not valid before %s (signed %s)", a.validAfter.Format(time.RFC3339), when.Format(time.RFC3339))
	case !a.validBefore.IsZero() && !when.Before(a.validBefore):
		return fmt.Sprintf("expired at %s (signed %s)", a.validBefore.Format(time.RFC3339), when.Format(time.RFC3339))
	}
	return ""
}

// matchPatternList matches s against an OpenSSH pattern list: comma
// separated wildcards (* and ?), where a match of a !negated one refuses.
func matchPatternList(s, list string) bool {
	matched := false
	for _, p := range strings.Split(list, ",") {
		negated := strings.HasPrefix(p, "!")
		if ok, _ := path.Match(strings.TrimPrefix(p, "!"), s); ok {
			if negated {
				return false
			}
			matched = true
		}
	}
	return matched
}

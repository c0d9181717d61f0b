package render

import (
	"encoding/base64"
	"fmt"
	"slices"
	"strings"
)

// Lint is Lint of the render's objects, and also warns about each Secret
// that holds a value no SOPS file of the render held encrypted: a value
// committed to git in plain text.
func (r *Result) Lint() []Finding {
	out := Lint(r.Objects)
	encrypted := map[string]bool{}
	for _, v := range r.secrets {
		encrypted[v] = true
		encrypted[strings.TrimSpace(v)] = true
	}
	for _, o := range r.Objects {
		if o.GetKind() != "Secret" || o.GetAPIVersion() != "v1" {
			continue
		}
		var plain []string
		for _, field := range []string{"data", "stringData"} {
			values, _ := o.Object[field].(map[string]any)
			for k, v := range values {
				s, _ := v.(string)
				decoded, _ := base64.StdEncoding.DecodeString(s)
				if s != "" && !encrypted[s] && !(field == "data" && (encrypted[string(decoded)] || encrypted[strings.TrimSpace(string(decoded))])) {
					plain = append(plain, field+"."+k)
				}
			}
		}
		if len(plain) == 0 {
			continue
		}
		slices.Sort(plain)
		out = append(out, Finding{
			Severity: SeverityWarning, Object: describe(o), Field: strings.Join(plain, ", "),
			Message: fmt.Sprintf("%d value(s) committed to git in plain text", len(plain)),
			Fix:     "encrypt the file with sops (age) and give gitsync the key: --decryption-key-file or decryption.secretRef",
		})
	}
	slices.SortFunc(out, compareFindings)
	return out
}

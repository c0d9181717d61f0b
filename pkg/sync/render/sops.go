package render

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"filippo.io/age"
	"github.com/getsops/sops/v3"
	"github.com/getsops/sops/v3/aes"
	sopsage "github.com/getsops/sops/v3/age"
	"github.com/getsops/sops/v3/config"
	"github.com/getsops/sops/v3/keyservice"
	"github.com/getsops/sops/v3/logging"
	"github.com/getsops/sops/v3/stores/dotenv"
	sopsjson "github.com/getsops/sops/v3/stores/json"
	sopsyaml "github.com/getsops/sops/v3/stores/yaml"
)

func init() {
	// SOPS logs through logrus to stderr; what it would say is in the errors.
	for _, l := range logging.Loggers {
		l.SetOutput(io.Discard)
	}
}

// Decryptor decrypts SOPS-encrypted files with age identities, in memory.
// It never reads keys from anywhere else (no $SOPS_AGE_KEY, no
// ~/.config/sops, no SSH keys): a sync decrypts with its own keys or not at
// all. It is safe for concurrent use.
type Decryptor struct {
	identities sopsage.ParsedIdentities
}

// NewDecryptor parses age identities: the contents of key files as
// age-keygen writes them (AGE-SECRET-KEY-1… lines; # comments and blank
// lines are skipped). Each error names the file.
func NewDecryptor(files map[string][]byte) (*Decryptor, error) {
	d := &Decryptor{}
	for _, name := range slices.Sorted(maps.Keys(files)) {
		for n, line := range strings.Split(string(files[name]), "\n") {
			line = strings.TrimSpace(line)
			if line == "" || strings.HasPrefix(line, "#") {
				continue
			}
			// age's own error may quote the line, which is a secret key.
			ids, err := age.ParseIdentities(strings.NewReader(line))
			if err != nil {
				return nil, fmt.Errorf("age identities %s: line %d is not an age identity (AGE-SECRET-KEY-1…, as age-keygen writes it)", name, n+1)
			}
			d.identities = append(d.identities, ids...)
		}
	}
	return d, nil
}

// sopsFormat is how SOPS stores a file, by its name as sops chooses:
// .yaml/.yml, .json, .env; anything else is a binary file, stored as JSON.
type sopsFormat int

const (
	sopsYAML sopsFormat = iota
	sopsJSON
	sopsDotenv
	sopsBinary
)

func formatOf(name string) sopsFormat {
	switch strings.ToLower(filepath.Ext(name)) {
	case ".yaml", ".yml":
		return sopsYAML
	case ".json":
		return sopsJSON
	case ".env":
		return sopsDotenv
	}
	return sopsBinary
}

func (f sopsFormat) store() sops.Store {
	switch f {
	case sopsYAML:
		return sopsyaml.NewStore(&config.YAMLStoreConfig{})
	case sopsJSON:
		return sopsjson.NewStore(&config.JSONStoreConfig{})
	case sopsDotenv:
		return dotenv.NewStore(&config.DotenvStoreConfig{})
	}
	return sopsjson.NewBinaryStore(&config.JSONBinaryStoreConfig{})
}

// sopsFile is a file SOPS encrypted, parsed.
type sopsFile struct {
	name  string
	store sops.Store
	tree  sops.Tree
}

// loadSOPS parses data if it is a file SOPS encrypted: its metadata has a
// MAC. A cheap look at the bytes comes first, so plain files cost next to
// nothing, and the parse is the one decryption uses.
func loadSOPS(name string, data []byte) (*sopsFile, bool) {
	format := formatOf(name)
	switch format {
	case sopsDotenv:
		if !bytes.Contains(data, []byte("sops_mac=")) {
			return nil, false
		}
	default:
		if !bytes.Contains(data, []byte("sops")) || !bytes.Contains(data, []byte("mac")) || !bytes.Contains(data, []byte("lastmodified")) {
			return nil, false
		}
	}
	store := format.store()
	tree, err := store.LoadEncryptedFile(data)
	if err != nil || tree.Metadata.MessageAuthenticationCode == "" {
		return nil, false
	}
	return &sopsFile{name: name, store: store, tree: tree}, true
}

func isSOPS(name string, data []byte) bool {
	_, ok := loadSOPS(name, data)
	return ok
}

// Decrypt returns the plain text of name, a SOPS-encrypted file, checking
// its MAC. Its errors are *Error of Problem Undecryptable naming the file:
// no key given (and the recipients it is encrypted for), no given key among
// them, a MAC that does not match (the file was changed after encryption).
func (d *Decryptor) Decrypt(name string, data []byte) ([]byte, error) {
	f, ok := loadSOPS(name, data)
	if !ok {
		return nil, &Error{Problem: Undecryptable, File: name, Detail: "not a file SOPS encrypted", Fix: "encrypt it with sops"}
	}
	plain, _, err := d.decrypt(f)
	return plain, err
}

// decrypt is Decrypt, and also returns the values that were encrypted, so
// that what prints a render can hide them.
func (d *Decryptor) decrypt(f *sopsFile) (plain []byte, values []string, err error) {
	fail := func(detail, fix string) error {
		return &Error{Problem: Undecryptable, File: f.name, Detail: detail, Fix: fix}
	}
	store, tree := f.store, f.tree
	recipients := strings.Join(recipientsOf(tree.Metadata), ", ")
	if d == nil || len(d.identities) == 0 {
		return nil, nil, fail("it is encrypted with SOPS for "+recipients+", and the sync has no decryption key",
			"give --decryption-key-file, or decryption.secretRef in the config file")
	}
	for _, group := range tree.Metadata.KeyGroups {
		for _, k := range group {
			if ak, ok := k.(*sopsage.MasterKey); ok {
				d.identities.ApplyToMasterKey(ak)
			}
		}
	}
	dataKey, err := tree.Metadata.GetDataKeyWithKeyServices([]keyservice.KeyServiceClient{keyservice.NewLocalClient()}, nil)
	if err != nil {
		return nil, nil, fail("it is encrypted with SOPS for "+recipients+", and none of the sync's age keys is among them",
			"give the sync one of those keys, or add the sync's recipient to the file (sops updatekeys)")
	}
	var encrypted []bool // each leaf, in order: was it encrypted?
	walkLeaves(tree.Branches, func(v *interface{}) {
		str, ok := (*v).(string)
		encrypted = append(encrypted, ok && strings.HasPrefix(str, "ENC[AES256_GCM,"))
	})
	cipher := aes.NewCipher()
	mac, err := tree.Decrypt(dataKey, cipher)
	if err != nil {
		return nil, nil, fail("a value does not decrypt: "+firstLineOf(err), "the file was changed after it was encrypted: edit it with sops")
	}
	want, err := cipher.Decrypt(tree.Metadata.MessageAuthenticationCode, dataKey, tree.Metadata.LastModified.Format(time.RFC3339))
	if err != nil || want != mac {
		return nil, nil, fail("the SOPS MAC does not match: the file was changed after it was encrypted", "edit it with sops, or encrypt it again")
	}
	i := 0
	walkLeaves(tree.Branches, func(v *interface{}) {
		if i < len(encrypted) && encrypted[i] {
			values = append(values, fmt.Sprint(*v))
		}
		i++
	})
	out, err := store.EmitPlainFile(tree.Branches)
	if err != nil {
		return nil, nil, fail(err.Error(), "")
	}
	return out, values, nil
}

// walkLeaves calls f with each value of the tree that is not a branch or a
// list, depth first, in order.
func walkLeaves(branches sops.TreeBranches, f func(*interface{})) {
	var walk func(v *interface{})
	walk = func(v *interface{}) {
		switch x := (*v).(type) {
		case sops.TreeBranch:
			for i := range x {
				walk(&x[i].Value)
			}
		case []interface{}:
			for i := range x {
				walk(&x[i])
			}
		default:
			f(v)
		}
	}
	for _, b := range branches {
		for i := range b {
			walk(&b[i].Value)
		}
	}
}

// recipientsOf names the keys a file is encrypted for: age recipients,
// and other key types by type and id.
func recipientsOf(m sops.Metadata) []string {
	var out []string
	for _, group := range m.KeyGroups {
		for _, k := range group {
			if ak, ok := k.(*sopsage.MasterKey); ok {
				out = append(out, ak.Recipient)
			} else {
				out = append(out, k.TypeToIdentifier()+" "+k.ToString())
			}
		}
	}
	if len(out) == 0 {
		return []string{"no key"}
	}
	return out
}

func firstLineOf(err error) string {
	line, _, _ := strings.Cut(err.Error(), "\n")
	return line
}

// MaskedYAML is YAML with what the render decrypted hidden: every value of
// each Secret's data and stringData is "***", and so is any other value
// (outside apiVersion, kind and metadata) that holds, or is the base64 of,
// a value a SOPS file held encrypted: a ConfigMap generated from an
// encrypted file, say. A render that decrypted nothing prints as YAML does.
func (r *Result) MaskedYAML() ([]byte, error) {
	if len(r.Decrypted) == 0 {
		return r.YAML()
	}
	var secrets []string
	for _, v := range r.secrets {
		if v = strings.TrimSpace(v); len(v) >= 4 {
			secrets = append(secrets, v)
		}
	}
	leaks := func(s string) bool {
		decoded, _ := base64.StdEncoding.DecodeString(s)
		for _, v := range secrets {
			if strings.Contains(s, v) || strings.Contains(string(decoded), v) {
				return true
			}
		}
		return false
	}
	masked := &Result{Objects: r.Objects, docs: make([][]byte, len(r.docs))}
	for i, doc := range r.docs {
		var m map[string]any
		if err := json.Unmarshal(doc, &m); err != nil {
			return nil, err
		}
		secret := m["kind"] == "Secret" && m["apiVersion"] == "v1"
		for field, v := range m {
			switch {
			case field == "apiVersion", field == "kind", field == "metadata":
			case secret && (field == "data" || field == "stringData"):
				if values, ok := v.(map[string]any); ok {
					for k := range values {
						values[k] = "***"
					}
				}
			default:
				m[field] = maskLeaves(v, leaks)
			}
		}
		var err error
		if masked.docs[i], err = json.Marshal(m); err != nil {
			return nil, err
		}
	}
	return masked.YAML()
}

// maskLeaves replaces the strings in v that leak with "***".
func maskLeaves(v any, leaks func(string) bool) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = maskLeaves(e, leaks)
		}
	case []any:
		for i, e := range x {
			x[i] = maskLeaves(e, leaks)
		}
	case string:
		if leaks(x) {
			return "***"
		}
	}
	return v
}

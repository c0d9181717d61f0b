package render

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io/fs"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gitsync-io/gitsync/test/sopsfile"
)

const secretYAML = `apiVersion: v1
kind: Secret
metadata:
  name: db
type: Opaque
stringData:
  password: hunter2-plain
  user: admin
`

func TestDecryptEveryFormat(t *testing.T) {
	alice, bob := sopsfile.NewKey(t), sopsfile.NewKey(t)
	d, err := NewDecryptor(map[string][]byte{"alice.agekey": []byte("# created: today\n" + alice.Identity + "\n")})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, plain string
		opts        sopsfile.Options
		stillPlain  string // a value that stays readable in the encrypted file
	}{
		{"secret.yaml", secretYAML, sopsfile.Options{}, ""},
		{"secret.yaml", secretYAML, sopsfile.Options{EncryptedRegex: "^(data|stringData)$"}, "name: db"},
		{"secret.yaml", strings.Replace(secretYAML, "user:", "user_unencrypted:", 1), sopsfile.Options{UnencryptedSuffix: "_unencrypted"}, "user_unencrypted: admin"},
		{"secret.json", `{"apiVersion":"v1","kind":"Secret","metadata":{"name":"db"},"stringData":{"password":"hunter2-plain"}}`, sopsfile.Options{}, ""},
		{"db.env", "PASSWORD=hunter2-plain\nUSER=admin\n", sopsfile.Options{}, ""},
		{"tls.key", "-----BEGIN PRIVATE KEY-----\nhunter2-plain\n-----END PRIVATE KEY-----\n", sopsfile.Options{}, ""},
	} {
		t.Run(tc.name+" "+tc.opts.EncryptedRegex+tc.opts.UnencryptedSuffix, func(t *testing.T) {
			enc := sopsfile.Encrypt(t, tc.name, []byte(tc.plain), tc.opts, bob.Recipient, alice.Recipient)
			if bytes.Contains(enc, []byte("hunter2-plain")) || !isSOPS(tc.name, enc) || isSOPS(tc.name, []byte(tc.plain)) {
				t.Fatalf("the encrypted file holds the secret, or isSOPS is wrong:\n%s", enc)
			}
			if tc.stillPlain != "" && !bytes.Contains(enc, []byte(tc.stillPlain)) {
				t.Errorf("%q is not left plain:\n%s", tc.stillPlain, enc)
			}
			file, _ := loadSOPS(tc.name, enc)
			got, values, err := d.decrypt(file)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.ContainsFunc(values, func(v string) bool { return strings.Contains(v, "hunter2-plain") }) ||
				slices.ContainsFunc(values, func(v string) bool {
					return strings.Contains(v, "ENC[") || (tc.stillPlain != "" && strings.HasSuffix(tc.stillPlain, " "+v))
				}) {
				t.Errorf("the values that were encrypted: %q", values)
			}
			if !semanticallyEqual(tc.name, got, []byte(tc.plain)) {
				t.Errorf("decrypted:\n%s\nwant:\n%s", got, tc.plain)
			}
		})
	}
}

// semanticallyEqual compares what the stores emit: YAML and JSON are
// re-emitted by SOPS, so formatting may differ.
func semanticallyEqual(name string, a, b []byte) bool {
	norm := func(s []byte) string {
		return strings.Join(strings.Fields(strings.NewReplacer(`"`, "", "{", " ", "}", " ", ",", " ", ":", " ").Replace(string(s))), " ")
	}
	return norm(a) == norm(b)
}

func TestDecryptRefusals(t *testing.T) {
	alice, bob := sopsfile.NewKey(t), sopsfile.NewKey(t)
	enc := sopsfile.Encrypt(t, "app/secret.yaml", []byte(secretYAML), sopsfile.Options{EncryptedRegex: "^(data|stringData)$"}, alice.Recipient)
	withBob, err := NewDecryptor(map[string][]byte{"bob": []byte(bob.Identity)})
	if err != nil {
		t.Fatal(err)
	}
	withAlice, _ := NewDecryptor(map[string][]byte{"alice": []byte(alice.Identity)})
	tampered := bytes.Replace(enc, []byte("name: db"), []byte("name: dc"), 1) // a plain value, covered by the MAC
	for _, tc := range []struct {
		name string
		d    *Decryptor
		file []byte
		want string
	}{
		{"no key", nil, enc, "app/secret.yaml: cannot decrypt: it is encrypted with SOPS for " + alice.Recipient + ", and the sync has no decryption key"},
		{"no keys in the decryptor", &Decryptor{}, enc, "the sync has no decryption key"},
		{"another key", withBob, enc, "app/secret.yaml: cannot decrypt: it is encrypted with SOPS for " + alice.Recipient + ", and none of the sync's age keys is among them"},
		{"a changed value", withAlice, tampered, "app/secret.yaml: cannot decrypt: the SOPS MAC does not match"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if !bytes.Contains(tampered, []byte("name: dc")) {
				t.Fatal("test setup: the metadata name is not plain")
			}
			_, err := tc.d.Decrypt("app/secret.yaml", tc.file)
			if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") || strings.Contains(err.Error(), "hunter2") {
				t.Errorf("Decrypt: %v; want one line saying %q", err, tc.want)
			}
		})
	}
	if _, err := NewDecryptor(map[string][]byte{"keys.txt": []byte("# a key\n\nAGE-SECRET-KEY-1NOTAKEY\n")}); err == nil || !strings.Contains(err.Error(), "age identities keys.txt: line 3 is not an age identity") || strings.Contains(err.Error(), "NOTAKEY") {
		t.Errorf("a bad identity file: %v", err)
	}
}

// TestRenderDecryptsSOPSFiles renders a kustomization whose Secret is a
// SOPS-encrypted YAML file and whose secretGenerator reads an encrypted
// dotenv file and an encrypted binary file, and a plain directory with an
// encrypted manifest: the objects hold the plain values, the render kept on
// disk holds none of them (nor exists), and without the key the render fails
// naming the file.
func TestRenderDecryptsSOPSFiles(t *testing.T) {
	key := sopsfile.NewKey(t)
	enc := func(name, plain string, opts sopsfile.Options) string {
		return string(sopsfile.Encrypt(t, name, []byte(plain), opts, key.Recipient))
	}
	root := t.TempDir()
	writeTree(t, root, map[string]string{
		"app/kustomization.yaml": "resources: [secret.yaml]\nsecretGenerator:\n- name: env\n  envs: [db.env]\n- name: tls\n  files: [tls.key]\ngeneratorOptions: {disableNameSuffixHash: true}\n",
		"app/secret.yaml":        enc("secret.yaml", secretYAML, sopsfile.Options{EncryptedRegex: "^(data|stringData)$"}),
		"app/db.env":             enc("db.env", "PASSWORD=hunter2-env\n", sopsfile.Options{}),
		"app/tls.key":            enc("tls.key", "hunter2-binary\n", sopsfile.Options{}),
		"plain/secret.yaml":      enc("secret.yaml", strings.Replace(secretYAML, "name: db", "name: plain-db", 1), sopsfile.Options{}),
	})
	d, err := NewDecryptor(map[string][]byte{"key": []byte(key.Identity)})
	if err != nil {
		t.Fatal(err)
	}
	cache := t.TempDir()
	for _, path := range []string{"app", "plain"} {
		res, err := New(Options{Decryptor: d, CacheDir: cache}).Render(context.Background(), root, path)
		if err != nil {
			t.Fatalf("render %s: %v", path, err)
		}
		out := string(yamlOf(t, res))
		for _, want := range map[string][]string{
			"app":   {"password: hunter2-plain", "PASSWORD: " + base64.StdEncoding.EncodeToString([]byte("hunter2-env")), "tls.key: " + base64.StdEncoding.EncodeToString([]byte("hunter2-binary\n"))},
			"plain": {"name: plain-db", "password: hunter2-plain"},
		}[path] {
			if !strings.Contains(out, want) {
				t.Errorf("render %s lacks %q:\n%s", path, want, out)
			}
		}
		if len(res.Decrypted) == 0 || strings.Contains(out, "sops:") {
			t.Errorf("render %s: decrypted %v:\n%s", path, res.Decrypted, out)
		}
	}
	err = filepath.WalkDir(cache, func(p string, e fs.DirEntry, err error) error {
		if err == nil && !e.IsDir() {
			t.Errorf("a render that decrypted is kept on disk: %s", p)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}

	for _, path := range []string{"app", "plain"} {
		_, err := New().Render(context.Background(), root, path)
		if re := renderError(t, err); re.Problem != Undecryptable || !strings.HasPrefix(re.File, path+"/") || !strings.Contains(err.Error(), key.Recipient) {
			t.Errorf("render %s without a key: %v; want the file and its recipient named", path, err)
		}
	}
}

func TestMaskedYAMLHidesWhatWasDecrypted(t *testing.T) {
	key := sopsfile.NewKey(t)
	root := t.TempDir()
	writeTree(t, root, map[string]string{
		"app/kustomization.yaml": "resources: [secret.yaml, plain.yaml]\nconfigMapGenerator:\n- name: leaky\n  envs: [db.env]\n",
		"app/secret.yaml":        string(sopsfile.Encrypt(t, "secret.yaml", []byte(secretYAML), sopsfile.Options{}, key.Recipient)),
		"app/db.env":             string(sopsfile.Encrypt(t, "db.env", []byte("PASSWORD=hunter2-env\n"), sopsfile.Options{}, key.Recipient)),
		"app/plain.yaml":         "apiVersion: v1\nkind: Secret\nmetadata: {name: plain}\ndata: {token: " + base64.StdEncoding.EncodeToString([]byte("plain-token")) + "}\n",
	})
	d, _ := NewDecryptor(map[string][]byte{"key": []byte(key.Identity)})
	res, err := New(Options{Decryptor: d}).Render(context.Background(), root, "app")
	if err != nil {
		t.Fatal(err)
	}
	out, err := res.MaskedYAML()
	if err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{"hunter2-plain", "hunter2-env", "admin", base64.StdEncoding.EncodeToString([]byte("plain-token"))} {
		if strings.Contains(string(out), secret) {
			t.Errorf("the masked render shows %q:\n%s", secret, out)
		}
	}
	if !strings.Contains(string(out), "password: '***'") || !strings.Contains(string(out), "PASSWORD: '***'") || !strings.Contains(string(out), "name: db") {
		t.Errorf("the masked render:\n%s", out)
	}
	if plain, _ := res.YAML(); !strings.Contains(string(plain), "hunter2-env") {
		t.Errorf("YAML (--show-secrets) hides the values:\n%s", plain)
	}
}

func TestLintWarnsAboutSecretsInPlainText(t *testing.T) {
	key := sopsfile.NewKey(t)
	root := t.TempDir()
	writeTree(t, root, map[string]string{
		"app/kustomization.yaml": "resources: [encrypted.yaml, plain.yaml]\nsecretGenerator:\n- name: env\n  envs: [db.env]\n- name: literal\n  literals: [token=in-git]\ngeneratorOptions: {disableNameSuffixHash: true}\n",
		"app/encrypted.yaml":     string(sopsfile.Encrypt(t, "encrypted.yaml", []byte(secretYAML), sopsfile.Options{EncryptedRegex: "^(data|stringData)$"}, key.Recipient)),
		"app/db.env":             string(sopsfile.Encrypt(t, "db.env", []byte("PASSWORD=hunter2-env\n"), sopsfile.Options{}, key.Recipient)),
		"app/plain.yaml":         "apiVersion: v1\nkind: Secret\nmetadata: {name: plain}\ndata: {token: " + base64.StdEncoding.EncodeToString([]byte("plain-token")) + "}\n",
	})
	d, _ := NewDecryptor(map[string][]byte{"key": []byte(key.Identity)})
	res, err := New(Options{Decryptor: d}).Render(context.Background(), root, "app")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range res.Lint() {
		if strings.Contains(f.Message, "plain text") {
			got = append(got, f.Object+": "+f.Field)
		}
	}
	want := []string{"v1 Secret literal: data.token", "v1 Secret plain: data.token"}
	if !slices.Equal(got, want) {
		t.Errorf("plain-text findings %q, want %q", got, want)
	}
}

// BenchmarkRenderSOPS renders 100 Secrets, one file each, as a plain
// directory: in plain text and encrypted with SOPS (age, every value), side
// by side. cold is a new Renderer each time; cached the same Renderer
// again (gitsync run: nothing is decrypted again); new-process a new
// Renderer with the render kept on disk (gitsync sync: a plain render is
// read back, an encrypted one is never kept on disk and is decrypted again).
func BenchmarkRenderSOPS(b *testing.B) {
	key := sopsfile.NewKey(b)
	d, err := NewDecryptor(map[string][]byte{"key": []byte(key.Identity)})
	if err != nil {
		b.Fatal(err)
	}
	const n = 100
	for _, encrypted := range []bool{false, true} {
		root := b.TempDir()
		files := map[string]string{}
		for i := range n {
			name := fmt.Sprintf("%04d.yaml", i)
			secret := fmt.Sprintf("apiVersion: v1\nkind: Secret\nmetadata:\n  name: s-%d\n  namespace: bench\nstringData:\n  user: user-%d\n  password: password-%d-Zk4\n", i, i, i)
			if encrypted {
				secret = string(sopsfile.Encrypt(b, name, []byte(secret), sopsfile.Options{}, key.Recipient))
			}
			files["app/"+name] = secret
		}
		writeTree(b, root, files)
		kind := "plain"
		if encrypted {
			kind = "sops"
		}
		opts := Options{Decryptor: d}
		b.Run(kind+"/cold", func(b *testing.B) {
			for b.Loop() {
				benchRender(b, New(opts), root, n, false)
			}
		})
		b.Run(kind+"/cached", func(b *testing.B) {
			r := New(opts)
			benchRender(b, r, root, n, false)
			for b.Loop() {
				benchRender(b, r, root, n, true)
			}
		})
		b.Run(kind+"/new-process", func(b *testing.B) {
			disk := Options{Decryptor: d, CacheDir: b.TempDir()}
			benchRender(b, New(disk), root, n, false)
			for b.Loop() {
				benchRender(b, New(disk), root, n, !encrypted)
			}
		})
	}
}

// TestDecryptAFileAlsoForAKMSKey reads a file encrypted for age and an AWS
// KMS key (whose stand-in cannot decrypt): the age key opens it, and a
// sync without that key hears about both recipients.
func TestDecryptAFileAlsoForAKMSKey(t *testing.T) {
	key := sopsfile.NewKey(t)
	enc := string(sopsfile.Encrypt(t, "secret.yaml", []byte(secretYAML), sopsfile.Options{}, key.Recipient))
	const arn = "arn:aws:kms:eu-central-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
	enc = strings.Replace(enc, "\nsops:\n", "\nsops:\n    kms:\n        - arn: "+arn+"\n          created_at: \"2026-12-01T10:00:00Z\"\n          enc: AQICAHhk\n          aws_profile: \"\"\n", 1)
	d, _ := NewDecryptor(map[string][]byte{"key": []byte(key.Identity)})
	if plain, err := d.Decrypt("secret.yaml", []byte(enc)); err != nil || !strings.Contains(string(plain), "hunter2-plain") {
		t.Fatalf("Decrypt: %v\n%s", err, enc)
	}
	other, _ := NewDecryptor(map[string][]byte{"key": []byte(sopsfile.NewKey(t).Identity)})
	_, err := other.Decrypt("secret.yaml", []byte(enc))
	if err == nil || !strings.Contains(err.Error(), "kms "+arn) || !strings.Contains(err.Error(), key.Recipient) {
		t.Errorf("Decrypt with another key: %v; want both recipients named", err)
	}
}

package render

import (
	"bytes"
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
			got, err := d.Decrypt(tc.name, enc)
			if err != nil {
				t.Fatal(err)
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
	norm := func(s []byte) string { return strings.Join(strings.Fields(strings.NewReplacer(`"`, "", "{", " ", "}", " ", ",", " ", ":", " ").Replace(string(s))), " ") }
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
		{"no key", nil, enc, "app/secret.yaml is encrypted with SOPS for " + alice.Recipient + ", and the sync has no decryption key"},
		{"no keys in the decryptor", &Decryptor{}, enc, "the sync has no decryption key"},
		{"another key", withBob, enc, "app/secret.yaml is encrypted with SOPS for " + alice.Recipient + ", and none of the sync's age keys is among them"},
		{"a changed value", withAlice, tampered, "app/secret.yaml: the SOPS MAC does not match"},
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
	if _, err := NewDecryptor(map[string][]byte{"keys.txt": []byte("AGE-SECRET-KEY-1NOTAKEY\n")}); err == nil || !strings.Contains(err.Error(), "age identities keys.txt") {
		t.Errorf("a bad identity file: %v", err)
	}
}

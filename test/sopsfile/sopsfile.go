// Package sopsfile encrypts files as the sops CLI does, with age keys, for
// tests: through SOPS's own code (the copy in third_party/sops), the same
// steps as `sops --encrypt --age RECIPIENT`.
package sopsfile

import (
	"crypto/rand"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"filippo.io/age"
	"github.com/getsops/sops/v3"
	"github.com/getsops/sops/v3/aes"
	sopsage "github.com/getsops/sops/v3/age"
	"github.com/getsops/sops/v3/config"
	"github.com/getsops/sops/v3/stores/dotenv"
	sopsjson "github.com/getsops/sops/v3/stores/json"
	sopsyaml "github.com/getsops/sops/v3/stores/yaml"
)

// Key is an age key pair.
type Key struct {
	Identity  string // AGE-SECRET-KEY-1…, what age-keygen writes to a key file
	Recipient string // age1…, what sops --age takes
}

// NewKey makes an X25519 age key.
func NewKey(t testing.TB) Key {
	t.Helper()
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	return Key{Identity: id.String(), Recipient: id.Recipient().String()}
}

// Options are sops's encryption rules; the default encrypts every value
// (keys ending in _unencrypted stay plain).
type Options struct {
	EncryptedRegex    string
	UnencryptedSuffix string
}

// Encrypt encrypts plain, the content of a file called name (its extension
// picks the format, as sops does: .yaml/.yml, .json, .env, else binary),
// for the recipients.
func Encrypt(t testing.TB, name string, plain []byte, opts Options, recipients ...string) []byte {
	t.Helper()
	store := storeFor(name)
	branches, err := store.LoadPlainFile(plain)
	if err != nil {
		t.Fatalf("sopsfile: %s: %v", name, err)
	}
	var group sops.KeyGroup
	for _, r := range recipients {
		k, err := sopsage.MasterKeyFromRecipient(r)
		if err != nil {
			t.Fatal(err)
		}
		group = append(group, k)
	}
	if opts.EncryptedRegex == "" && opts.UnencryptedSuffix == "" {
		opts.UnencryptedSuffix = sops.DefaultUnencryptedSuffix
	}
	tree := sops.Tree{Branches: branches, FilePath: name, Metadata: sops.Metadata{
		KeyGroups: []sops.KeyGroup{group}, EncryptedRegex: opts.EncryptedRegex, UnencryptedSuffix: opts.UnencryptedSuffix, Version: "3.13.3",
	}}
	dataKey := make([]byte, 32)
	if _, err := rand.Read(dataKey); err != nil {
		t.Fatal(err)
	}
	for _, k := range group {
		if err := k.Encrypt(dataKey); err != nil {
			t.Fatal(err)
		}
	}
	cipher := aes.NewCipher()
	mac, err := tree.Encrypt(dataKey, cipher)
	if err != nil {
		t.Fatal(err)
	}
	tree.Metadata.LastModified = time.Now().UTC().Truncate(time.Second)
	if tree.Metadata.MessageAuthenticationCode, err = cipher.Encrypt(mac, dataKey, tree.Metadata.LastModified.Format(time.RFC3339)); err != nil {
		t.Fatal(err)
	}
	out, err := store.EmitEncryptedFile(tree)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func storeFor(name string) sops.Store {
	switch strings.ToLower(filepath.Ext(name)) {
	case ".yaml", ".yml":
		return sopsyaml.NewStore(&config.YAMLStoreConfig{})
	case ".json":
		return sopsjson.NewStore(&config.JSONStoreConfig{})
	case ".env":
		return dotenv.NewStore(&config.DotenvStoreConfig{})
	}
	return sopsjson.NewBinaryStore(&config.JSONBinaryStoreConfig{})
}

package aptrepo

import (
	"bytes"
	"crypto"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/clearsign"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
)

// Key is an OpenPGP signing key made for one test: RSA 2048 with SHA-256
// signatures, which apt's gpgv accepts.
type Key struct {
	entity *openpgp.Entity
}

// config makes keys and signatures gpgv reads: v4, RSA, SHA-256, and no salt
// notation (go-crypto adds one by default).
var config = &packet.Config{
	Algorithm:   packet.PubKeyAlgoRSA,
	RSABits:     2048,
	DefaultHash: crypto.SHA256,

	NonDeterministicSignaturesViaNotation: packet.BoolPointer(false),
}

// NewKey makes a key whose user ID names the test repository.
func NewKey(t testing.TB, name string) *Key {
	t.Helper()
	e, err := openpgp.NewEntity("gitsync test repository "+name, "", "", config)
	if err != nil {
		t.Fatalf("aptrepo: key: %v", err)
	}
	return &Key{entity: e}
}

// Armored is the public key as a repository serves it at Release.key.
func (k *Key) Armored() string {
	var b bytes.Buffer
	w, err := armor.Encode(&b, openpgp.PublicKeyType, nil)
	if err == nil {
		err = k.entity.Serialize(w)
	}
	if err == nil {
		err = w.Close()
	}
	if err != nil {
		panic(fmt.Sprintf("aptrepo: armor a public key: %v", err)) // writes to memory only
	}
	return b.String() + "\n"
}

// Fingerprint is the primary key's fingerprint in upper-case hex.
func (k *Key) Fingerprint() string {
	return strings.ToUpper(fmt.Sprintf("%x", k.entity.PrimaryKey.Fingerprint))
}

// clearsign is InRelease: text signed inline.
func (k *Key) clearsign(text []byte) ([]byte, error) {
	var b bytes.Buffer
	w, err := clearsign.Encode(&b, k.entity.PrivateKey, config)
	if err != nil {
		return nil, err
	}
	if _, err := w.Write(text); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// detachSign is Release.gpg: an armored signature of text.
func (k *Key) detachSign(text io.Reader) ([]byte, error) {
	var b bytes.Buffer
	if err := openpgp.ArmoredDetachSign(&b, k.entity, text, config); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

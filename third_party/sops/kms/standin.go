// Package kms is gitsync's stand-in for SOPS's package of the same name
// (see third_party/README.md): it keeps a kms key of a file's metadata
// whole, and cannot decrypt with it.
package kms

import (
	"time"

	"github.com/getsops/sops/v3/internal/standin"
)

// KeyTypeIdentifier names the key type in SOPS metadata.
const KeyTypeIdentifier = "kms"

// MasterKey is a kms key as a SOPS file's metadata records it.
type MasterKey struct {
	EncryptedKey      string
	Arn               string
	Role              string
	EncryptionContext map[string]*string
	AwsProfile        string
	CreationDate      time.Time
}

// Encrypt refuses: gitsync never encrypts with this key type.
func (k *MasterKey) Encrypt(dataKey []byte) error { return standin.ErrUnsupported }

// EncryptIfNeeded refuses like Encrypt.
func (k *MasterKey) EncryptIfNeeded(dataKey []byte) error { return standin.ErrUnsupported }

// EncryptedDataKey returns the data key encrypted for this key.
func (k *MasterKey) EncryptedDataKey() []byte { return []byte(k.EncryptedKey) }

// SetEncryptedDataKey sets it.
func (k *MasterKey) SetEncryptedDataKey(enc []byte) { k.EncryptedKey = string(enc) }

// NeedsRotation is false: gitsync does not rotate keys.
func (k *MasterKey) NeedsRotation() bool { return false }

// Decrypt refuses: gitsync decrypts with age keys only.
func (k *MasterKey) Decrypt() ([]byte, error) {
	return standin.Decrypt(KeyTypeIdentifier, k.ToString())
}

// ToString identifies the key.
func (k *MasterKey) ToString() string { return k.Arn }

// ToMap is the key as SOPS prints it.
func (k *MasterKey) ToMap() map[string]interface{} {
	return map[string]interface{}{"id": k.ToString(), "enc": k.EncryptedKey, "created_at": k.CreationDate.UTC().Format(time.RFC3339)}
}

// TypeToIdentifier returns KeyTypeIdentifier.
func (k *MasterKey) TypeToIdentifier() string { return KeyTypeIdentifier }

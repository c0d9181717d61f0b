// Package standin is gitsync's, not SOPS's: what the stand-in key packages
// (kms, gcpkms, azkv, hcvault, hckms, pgp) share. gitsync decrypts with age
// identities only; the other key types of a file are kept whole, so the
// file's metadata reads as SOPS wrote it, and say why they cannot decrypt.
// third_party/README.md says why they replace SOPS's own packages.
package standin

import (
	"errors"
	"fmt"
)

// ErrUnsupported is every stand-in key's answer to Decrypt and Encrypt.
var ErrUnsupported = errors.New("gitsync decrypts SOPS files with age keys only")

// Decrypt refuses, naming the key type.
func Decrypt(typ, id string) ([]byte, error) {
	return nil, fmt.Errorf("%s key %s: %w", typ, id, ErrUnsupported)
}

// Package keyservice is gitsync's stand-in for SOPS's package of the same
// name (see third_party/README.md): SOPS's key service is a gRPC service
// that reaches every cloud KMS; gitsync only needs the local client, which
// asks each master key itself.
package keyservice

import (
	"golang.org/x/net/context"

	"github.com/getsops/sops/v3/keys"
)

// Key is a master key, as requests carry it.
type Key struct{ master keys.MasterKey }

// KeyFromMasterKey wraps k.
func KeyFromMasterKey(k keys.MasterKey) Key { return Key{master: k} }

// EncryptRequest asks to encrypt Plaintext with Key.
type EncryptRequest struct {
	Key       *Key
	Plaintext []byte
}

// EncryptResponse holds the encrypted data key.
type EncryptResponse struct{ Ciphertext []byte }

// DecryptRequest asks to decrypt Ciphertext with Key.
type DecryptRequest struct {
	Key        *Key
	Ciphertext []byte
}

// DecryptResponse holds the data key.
type DecryptResponse struct{ Plaintext []byte }

// KeyServiceClient encrypts and decrypts data keys.
type KeyServiceClient interface {
	Encrypt(ctx context.Context, req *EncryptRequest) (*EncryptResponse, error)
	Decrypt(ctx context.Context, req *DecryptRequest) (*DecryptResponse, error)
}

// NewLocalClient returns the client that asks each master key itself.
func NewLocalClient() KeyServiceClient { return local{} }

type local struct{}

func (local) Encrypt(_ context.Context, req *EncryptRequest) (*EncryptResponse, error) {
	if err := req.Key.master.Encrypt(req.Plaintext); err != nil {
		return nil, err
	}
	return &EncryptResponse{Ciphertext: req.Key.master.EncryptedDataKey()}, nil
}

func (local) Decrypt(_ context.Context, req *DecryptRequest) (*DecryptResponse, error) {
	plain, err := req.Key.master.Decrypt()
	if err != nil {
		return nil, err
	}
	return &DecryptResponse{Plaintext: plain}, nil
}

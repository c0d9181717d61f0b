package sync

import (
	"context"
	"fmt"
	"os"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gitsync-io/gitsync/pkg/sync/render"
)

// loadKeys reads the sync's age keys, from files and its Secret, and gives
// them to its renderer. A key that cannot be read is worth a retry: the
// Secret may be created or fixed without a new revision.
func (s *Syncer) loadKeys(ctx context.Context) error {
	d := s.opts.Decryption
	if d == nil {
		return nil
	}
	keys := map[string][]byte{}
	for _, f := range d.KeyFiles {
		data, err := os.ReadFile(f)
		if err != nil {
			return fmt.Errorf("decryption key: %w", err)
		}
		keys[f] = data
	}
	if d.SecretRef != "" {
		secret, err := s.shared.client.CoreV1().Secrets(s.opts.Namespace).Get(ctx, d.SecretRef, metav1.GetOptions{})
		if err != nil {
			return fmt.Errorf("decryption.secretRef: Secret %s/%s: %w", s.opts.Namespace, d.SecretRef, err)
		}
		found := false
		for name, data := range secret.Data {
			if strings.HasSuffix(name, ".agekey") {
				keys["Secret "+s.opts.Namespace+"/"+d.SecretRef+" key "+name] = data
				found = true
			}
		}
		if !found {
			return fmt.Errorf("decryption.secretRef: Secret %s/%s has no key ending in .agekey (age identities, as age-keygen writes them)", s.opts.Namespace, d.SecretRef)
		}
	}
	dec, err := render.NewDecryptor(keys)
	if err != nil {
		return err
	}
	s.renderer.SetDecryptor(dec)
	return nil
}

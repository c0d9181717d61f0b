package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"net/http"
	"strings"
)

// credential is where a provider puts the proof that it knows the secret.
type credential struct {
	headers []string // tried in order; the first one present is used
	prefix  string   // comes before the hex digest, such as "sha256="
	token   bool     // the header holds the secret itself, not an HMAC of the body
}

// find returns the credential's header value, if the request has one.
func (c credential) find(h http.Header) (string, bool) {
	v, ok := firstHeader(h, c.headers)
	return strings.TrimSpace(v), ok
}

// verify reports whether value proves knowledge of secret for body. Its
// time does not depend on how much of value is right.
func (c credential) verify(value string, secret, body []byte) bool {
	if c.token {
		return equalToken(value, secret)
	}
	digest, ok := strings.CutPrefix(value, c.prefix)
	if !ok {
		return false
	}
	got, err := hex.DecodeString(digest)
	if err != nil {
		return false
	}
	return hmac.Equal(got, sign(secret, body))
}

// sign is the HMAC-SHA256 of body with secret.
func sign(secret, body []byte) []byte {
	mac := hmac.New(sha256.New, secret)
	mac.Write(body)
	return mac.Sum(nil)
}

// equalToken compares digests of the token and the secret, so that timing
// reveals neither the secret's content nor its length.
func equalToken(token string, secret []byte) bool {
	got, want := sha256.Sum256([]byte(token)), sha256.Sum256(secret)
	return subtle.ConstantTimeCompare(got[:], want[:]) == 1
}

package knownhosts

import (
	"crypto/ed25519"
	"errors"
	"net"
	"slices"

	"golang.org/x/crypto/ssh"
	xknownhosts "golang.org/x/crypto/ssh/knownhosts"
)

// preferredAlgorithms are the host key algorithms in OpenSSH's order of preference
// (x/crypto's default prefers ECDSA and RSA; OpenSSH, and so most known_hosts files,
// ed25519). SHA-1 RSA comes last, for servers too old for anything else. Certificates are
// not offered: @cert-authority lines are not supported.
func preferredAlgorithms() []string {
	return []string{
		ssh.KeyAlgoED25519,
		ssh.KeyAlgoECDSA256, ssh.KeyAlgoECDSA384, ssh.KeyAlgoECDSA521,
		ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256, ssh.KeyAlgoRSA,
	}
}

// Algorithms returns the host key algorithms to offer to address (host:port): those of the
// keys the file lists for it, so that the server shows a key that can be checked (a host
// known by one key type would otherwise look changed when it shows another,
// golang/go#29286), or every preferred one for a host the file does not list.
func (f *File) Algorithms(address string) []string {
	preferred := preferredAlgorithms()
	var algorithms []string
	for _, keyType := range f.knownKeyTypes(address) {
		for _, algorithm := range signatureAlgorithms(keyType) {
			if !slices.Contains(algorithms, algorithm) {
				algorithms = append(algorithms, algorithm)
			}
		}
	}
	if len(algorithms) == 0 {
		return preferred
	}
	slices.SortStableFunc(algorithms, func(a, b string) int { return rank(preferred, a) - rank(preferred, b) })
	return algorithms
}

// rank is algorithm's place in preferred; one it does not list comes after all of them.
func rank(preferred []string, algorithm string) int {
	if i := slices.Index(preferred, algorithm); i >= 0 {
		return i
	}
	return len(preferred)
}

// signatureAlgorithms lists the algorithms a key of keyType signs with: an RSA key signs
// with SHA-2 or, for old servers, SHA-1.
func signatureAlgorithms(keyType string) []string {
	if keyType == ssh.KeyAlgoRSA {
		return []string{ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256, ssh.KeyAlgoRSA}
	}
	return []string{keyType}
}

// knownKeyTypes asks the file which keys it lists for address, by presenting a key it
// cannot know.
func (f *File) knownKeyTypes(address string) []string {
	pub, _, err := ed25519.GenerateKey(nil)
	if err != nil {
		return nil
	}
	probe, err := ssh.NewPublicKey(pub)
	if err != nil {
		return nil
	}
	var keyErr *xknownhosts.KeyError
	if !errors.As(f.lookup(address, &net.TCPAddr{IP: net.IPv4zero}, probe), &keyErr) {
		return nil
	}
	var types []string
	for _, k := range keyErr.Want {
		types = append(types, k.Key.Type())
	}
	return types
}

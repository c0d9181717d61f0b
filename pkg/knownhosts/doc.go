// Package knownhosts checks SSH host keys against an OpenSSH known_hosts file, for every SSH
// connection gitsync makes: git over SSH (package sync/source) and bootstrap's nodes (package
// bootstrap/ssh). A listed key passes; a changed or @revoked key is always refused, naming the
// file, the line and the fix; an unknown host is refused, or recorded when new keys are
// accepted (OpenSSH's StrictHostKeyChecking=accept-new). Hashed hosts and [host]:port entries
// are read as OpenSSH writes them (golang.org/x/crypto/ssh/knownhosts does the parsing).
//
// It opens no connection: callers put File.Check and File.Algorithms in their
// ssh.ClientConfig. It imports nothing of gitsync, go-git or Kubernetes.
package knownhosts

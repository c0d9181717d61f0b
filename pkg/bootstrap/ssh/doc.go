// Package ssh runs commands on a remote Debian/Ubuntu machine over SSH, for
// gitsync bootstrap: Dial verifies the host key against known_hosts with package
// knownhosts (OpenSSH accept-new semantics behind a flag, changed keys always refused), Run
// executes one argv (safely quoted, optionally under sudo) and captures its
// exit status and output, Upload and ReadFile move files over the session's
// stdin and stdout. Every command is written, with secrets redacted, to a log.
//
// It is a runner only: what to run on a node (facts, plans, kubeadm) belongs
// to package bootstrap. It owns golang.org/x/crypto/ssh and imports nothing
// from Kubernetes.
package ssh

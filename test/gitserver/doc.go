// Package gitserver gives tests real git remotes: bare repositories made with
// the git CLI (Repo), served over smart HTTP with basic auth by Debian's
// git http-backend (StartHTTP) and over SSH with public-key auth and host keys
// by an in-process server that runs the real git-upload-pack (StartSSH).
//
// It fakes nothing and never skips: a test on a machine without git fails
// with the command that installs it.
package gitserver

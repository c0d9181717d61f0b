// Package bootstrap tests `gitsync bootstrap`, the built binary, against real
// Debian hosts: systemd-nspawn nodes with their own root file systems,
// network namespaces and sshd (test/nodes).
package bootstrap

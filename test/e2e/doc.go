// Package e2e runs the gitsync binary, as users do, against the local control
// plane (test/testenv) and real git servers over HTTP and SSH
// (test/gitserver). It imports nothing from internal/.
package e2e

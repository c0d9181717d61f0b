// Package manifests tests the install manifests of manifests/gitsync: a
// policy over every rendered object (security context, resources, probes,
// high availability, no secret values), and an install of the cluster-wide
// and the namespaced variant into the local control plane (test/testenv) by
// the gitsync binary itself, from a git repository holding the manifests.
package manifests

// Package health waits until applied objects are ready, as kstatus
// (sigs.k8s.io/cli-utils) defines it: Current. It computes status from the
// objects the apply returned and watches only those not yet Current. It does
// not apply or list anything else.
package health

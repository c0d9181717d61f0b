// Package bench measures gitsync side by side with kubectl's server-side
// apply on the local control plane: the same objects, the same non-admin
// identity, the same run. `make bench` prints the tables the README quotes.
package bench

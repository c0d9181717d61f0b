// Package inventory is the in-cluster record of what one sync owns: the set
// of object ids it applied, plus the sync's status, kept in a ConfigMap in the
// sync's namespace. It holds the compact encoding and a small store; it does
// not apply or delete objects.
package inventory

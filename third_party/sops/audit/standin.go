// Package audit is gitsync's stand-in for SOPS's package of the same name
// (see third_party/README.md): SOPS's audit log writes to a PostgreSQL
// database it is configured with; gitsync has no such configuration.
package audit

// DecryptEvent is a decryption of the file.
type DecryptEvent struct{ File string }

// EncryptEvent is an encryption of the file.
type EncryptEvent struct{ File string }

// SubmitEvent does nothing.
func SubmitEvent(event interface{}) {}

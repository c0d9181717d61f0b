// Package download fetches files over HTTP for gitsync: Get is a GET bounded in size and
// time whose errors never repeat the URL (which may hold credentials), and Cache keeps what
// was downloaded on disk, one file per URL, each checked against the SHA-256 it was stored
// with and written atomically.
//
// Which URL to fetch (mirrors), which checksum a file must have, and how a failure is worded
// for the user are the callers' (package bootstrap for release files and signing keys,
// package sync/render for remote resources).
package download

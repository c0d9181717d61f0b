package knownhosts

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"sync"

	"golang.org/x/crypto/ssh"
	xknownhosts "golang.org/x/crypto/ssh/knownhosts"
)

// File is one known_hosts file, as read by Open (and again after Check records a key).
// It is safe for concurrent use.
type File struct {
	path      string
	acceptNew bool

	mu    sync.Mutex
	known ssh.HostKeyCallback
}

// Open reads the known_hosts file at path; a missing file lists no host. With acceptNew,
// Check records the key of a host the file does not list, creating the file (0600) and its
// directory (0700) when missing.
func Open(path string, acceptNew bool) (*File, error) {
	f := &File{path: path, acceptNew: acceptNew}
	if err := f.load(); err != nil {
		return nil, fmt.Errorf("known_hosts: %w", err)
	}
	return f, nil
}

func (f *File) load() error {
	var files []string
	if _, err := os.Stat(f.path); err == nil {
		files = append(files, f.path)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	known, err := xknownhosts.New(files...)
	if err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.known = known
	return nil
}

// lookup runs x/crypto's check of the file as last read.
func (f *File) lookup(host string, remote net.Addr, key ssh.PublicKey) error {
	f.mu.Lock()
	known := f.known
	f.mu.Unlock()
	return known(host, remote, key)
}

// Check is an ssh.HostKeyCallback: a listed key passes; a changed or revoked key is refused
// with a *ChangedKeyError; an unknown host is recorded (with acceptNew) or refused with an
// *UnknownHostError.
func (f *File) Check(host string, remote net.Addr, key ssh.PublicKey) error {
	err := f.lookup(host, remote, key)
	var keyErr *xknownhosts.KeyError
	var revoked *xknownhosts.RevokedError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &revoked):
		return &ChangedKeyError{Host: xknownhosts.Normalize(host), Key: key, Known: []xknownhosts.KnownKey{revoked.Revoked}, Revoked: true}
	case !errors.As(err, &keyErr):
		return fmt.Errorf("host key %s of %s: %w", ssh.FingerprintSHA256(key), host, err)
	case len(keyErr.Want) > 0:
		return &ChangedKeyError{Host: xknownhosts.Normalize(host), Key: key, Known: keyErr.Want}
	case f.acceptNew:
		return f.record(host, key)
	}
	return &UnknownHostError{Host: xknownhosts.Normalize(host), Key: key, File: f.path}
}

var _ ssh.HostKeyCallback = (*File)(nil).Check

// record appends the host's key to the file, then reads the file again so that the next
// Check knows the host.
func (f *File) record(host string, key ssh.PublicKey) error {
	line := xknownhosts.Line([]string{xknownhosts.Normalize(host)}, key) + "\n"
	if err := appendLine(f.path, line); err != nil {
		return fmt.Errorf("recording host key of %s in %s: %w", host, f.path, err)
	}
	if err := f.load(); err != nil {
		return fmt.Errorf("known_hosts: %w", err)
	}
	return nil
}

// appendLine appends line to the file at path, creating it 0600 (and its directory 0700)
// when missing, and starting a new line first when the file does not end with one.
func appendLine(path, line string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	file, err := os.OpenFile(path, os.O_RDWR|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	if !endsWithNewline(file) {
		line = "\n" + line
	}
	_, err = file.WriteString(line)
	return errors.Join(err, file.Close())
}

// endsWithNewline reports whether file is empty or ends with a newline, so that an appended
// line never joins the last one.
func endsWithNewline(file *os.File) bool {
	info, err := file.Stat()
	if err != nil || info.Size() == 0 {
		return true
	}
	last := make([]byte, 1)
	_, err = file.ReadAt(last, info.Size()-1)
	return err != nil || last[0] == '\n'
}

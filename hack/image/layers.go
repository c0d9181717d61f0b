package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strconv"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// entry is one file or directory of a layer, owned by root unless uid says.
type entry struct {
	name string // relative to /, directories end in "/"
	mode int64  // permission bits, plus 01000 for sticky
	uid  int
	data []byte // nil for a directory
}

// passwd and group are distroless' entries for root, nobody and nonroot.
var (
	passwd = "root:x:0:0:root:/root:/sbin/nologin\n" +
		"nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n" +
		"nonroot:x:" + strconv.Itoa(nonroot) + ":" + strconv.Itoa(nonroot) + ":nonroot:/home/nonroot:/sbin/nologin\n"
	group = "root:x:0:\nnobody:x:65534:\nnonroot:x:" + strconv.Itoa(nonroot) + ":\n"
)

// baseEntries is the file system under the binary: users, CA bundle, /tmp.
func baseEntries(caCerts string) ([]entry, error) {
	certs, err := os.ReadFile(caCerts)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s: no CA bundle on this machine; install Debian's with: apt-get install -y ca-certificates", caCerts)
	} else if err != nil {
		return nil, fmt.Errorf("read the CA bundle: %w", err)
	}
	if !bytes.Contains(certs, []byte("-----BEGIN CERTIFICATE-----")) {
		return nil, fmt.Errorf("%s holds no PEM certificate; reinstall it with: apt-get install -y --reinstall ca-certificates", caCerts)
	}
	return []entry{
		{name: "etc/", mode: 0o755},
		{name: "etc/group", mode: 0o644, data: []byte(group)},
		{name: "etc/passwd", mode: 0o644, data: []byte(passwd)},
		{name: "etc/ssl/", mode: 0o755},
		{name: "etc/ssl/certs/", mode: 0o755},
		{name: "etc/ssl/certs/ca-certificates.crt", mode: 0o644, data: certs},
		{name: "home/", mode: 0o755},
		{name: "home/nonroot/", mode: 0o700, uid: nonroot},
		{name: "tmp/", mode: 0o1777},
	}, nil
}

// layer makes a gzip-compressed layer of entries, in order, every file
// stamped with mtime. The tar and gzip streams depend on nothing else, so
// the same entries always give the same digest.
func layer(entries []entry, mtime time.Time) (v1.Layer, error) {
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.DefaultCompression)
	if err != nil {
		return nil, err
	}
	tw := tar.NewWriter(zw)
	for _, e := range entries {
		if err := writeEntry(tw, e, mtime); err != nil {
			return nil, fmt.Errorf("layer: /%s: %w", e.name, err)
		}
	}
	if err := errors.Join(tw.Close(), zw.Close()); err != nil {
		return nil, fmt.Errorf("layer: %w", err)
	}
	blob := buf.Bytes()
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(blob)), nil
	})
}

func writeEntry(tw *tar.Writer, e entry, mtime time.Time) error {
	hdr := &tar.Header{
		Name:    e.name,
		Mode:    e.mode,
		Uid:     e.uid,
		Gid:     e.uid,
		ModTime: mtime,
	}
	if e.data == nil {
		hdr.Typeflag = tar.TypeDir
	} else {
		hdr.Typeflag, hdr.Size = tar.TypeReg, int64(len(e.data))
	}
	if err := tw.WriteHeader(hdr); err != nil {
		return err
	}
	_, err := tw.Write(e.data)
	return err
}

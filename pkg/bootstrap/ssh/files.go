package ssh

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strings"
)

// Upload writes data to path on the host with the given permission bits,
// creating missing parent directories (0755), by streaming it over stdin
// through `install -D -m MODE /dev/stdin PATH` (no SFTP needed). With sudo
// the file is written as root and owned by root. The data is never logged.
func (c *Client) Upload(ctx context.Context, path string, mode os.FileMode, data []byte, sudo bool) error {
	if !strings.HasPrefix(path, "/") {
		return fmt.Errorf("%s: upload %s: the path must be absolute", c.host, path)
	}
	if mode&^os.ModePerm != 0 {
		return fmt.Errorf("%s: upload %s: mode %v: only permission bits are supported", c.host, path, mode)
	}
	_, err := c.Run(ctx, Command{
		Args:  []string{"install", "-D", "-m", fmt.Sprintf("%04o", mode.Perm()), "/dev/stdin", path},
		Sudo:  sudo,
		Stdin: bytes.NewReader(data),
	})
	return err
}

// ReadFile returns the contents of path on the host (`cat`, as root with
// sudo). The contents are not logged, only their size: they are often
// credentials (admin.conf).
func (c *Client) ReadFile(ctx context.Context, path string, sudo bool) ([]byte, error) {
	var out bytes.Buffer
	_, err := c.Run(ctx, Command{
		Args:       []string{"cat", "--", path},
		Sudo:       sudo,
		Stdout:     &out,
		HideOutput: true,
	})
	if err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

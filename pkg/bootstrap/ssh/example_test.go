package ssh_test

import (
	"context"
	"fmt"
	"os"

	"github.com/gitsync-io/gitsync/pkg/bootstrap/ssh"
)

// Connect to a node, check that sudo works, install a file and run a
// command as root.
func Example() {
	ctx := context.Background()
	cfg := ssh.DefaultConfig()
	cfg.Address = "192.168.1.60"
	cfg.User = "ubuntu"
	cfg.KeyFile = os.ExpandEnv("$HOME/.ssh/id_ed25519")
	cfg.AcceptNew = false // --ssh-accept-new
	cfg.Log = os.Stderr

	node, err := ssh.Dial(ctx, cfg)
	if err != nil {
		fmt.Println(err) // an *ssh.UnknownHostError names the fingerprint and the fix
		return
	}
	defer node.Close()

	if err := node.CheckSudo(ctx); err != nil {
		fmt.Println(err) // an *ssh.SudoError says what to change on the node
		return
	}
	conf := []byte("overlay\nbr_netfilter\n")
	if err := node.Upload(ctx, "/etc/modules-load.d/k8s.conf", 0o644, conf, true); err != nil {
		fmt.Println(err)
		return
	}
	res, err := node.Run(ctx, ssh.Command{Args: []string{"modprobe", "br_netfilter"}, Sudo: true})
	if err != nil {
		fmt.Println(err) // an *ssh.ExitError carries the command, its status and its stderr tail
		return
	}
	fmt.Println(res.ExitStatus)
}

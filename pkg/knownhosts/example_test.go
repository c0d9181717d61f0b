package knownhosts_test

import (
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/crypto/ssh"

	"github.com/gitsync-io/gitsync/pkg/knownhosts"
)

// Check and Algorithms go into the client configuration of every SSH connection.
func Example() {
	home, _ := os.UserHomeDir()
	hosts, err := knownhosts.Open(filepath.Join(home, ".ssh", "known_hosts"), false)
	if err != nil {
		fmt.Println(err)
		return
	}
	address := "git.example.com:22"
	config := &ssh.ClientConfig{
		User:              "git",
		HostKeyCallback:   hosts.Check,
		HostKeyAlgorithms: hosts.Algorithms(address),
	}
	_ = config // ssh.Dial("tcp", address, config)
}

package bootstrap

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/gitsync-io/gitsync/pkg/bootstrap/ssh"
)

// Where gitsync keeps what it gives kubeadm on a control plane. Both files hold secrets (the
// bootstrap token, the certificate key), so they are root's alone.
const (
	stateDir    = "/etc/kubernetes/gitsync"
	secretsFile = stateDir + "/secrets"
	initFile    = stateDir + "/kubeadm.yaml"
)

// secrets returns the cluster's join secrets kept on the first control plane; ok is false when
// there are none yet.
func (h *Host) secrets(ctx context.Context) (s Secrets, ok bool, err error) {
	data, err := h.run.ReadFile(ctx, secretsFile, true)
	var exit *ssh.ExitError
	if errors.As(err, &exit) {
		return Secrets{}, false, nil // not there yet
	} else if err != nil {
		return Secrets{}, false, err
	}
	for _, line := range strings.Split(string(data), "\n") {
		k, v, _ := strings.Cut(line, "=")
		switch k {
		case "token":
			s.Token = v
		case "certificateKey":
			s.CertificateKey = v
		}
	}
	if s.Token == "" {
		return Secrets{}, false, fmt.Errorf("%s holds no token: remove it to make new secrets", secretsFile)
	}
	return s, true, nil
}

func (s Secrets) file() File {
	return File{Path: secretsFile, Mode: 0o600, Content: "token=" + s.Token + "\ncertificateKey=" + s.CertificateKey + "\n"}
}

// kubeadmConfigStep writes the kubeadm configuration of `kubeadm init` onto the first control
// plane, with join secrets made once and kept there, and has the node's kubeadm validate it.
func kubeadmConfigStep() Step {
	return Step{
		Name: "kubeadm-config",
		Check: func(ctx context.Context, h *Host) (Status, error) {
			s, ok, err := h.secrets(ctx)
			switch {
			case err != nil:
				return Status{}, err
			case !ok:
				return notDone("no bootstrap token yet")
			}
			h.redact(s)
			cfg, err := h.Cluster.InitConfig(s)
			if err != nil {
				return Status{}, err
			}
			f := File{Path: initFile, Mode: 0o600, Content: string(cfg)}
			same, why, err := h.probe(ctx, sameFiles(f)+" || { echo "+quote(initFile+" differs")+"; exit 1; }\n"+
				"kubeadm config validate --config "+initFile+" >/dev/null 2>&1 || { echo 'kubeadm config validate fails'; exit 1; }")
			if err != nil || same {
				return Status{Done: same}, err
			}
			return notDone(why)
		},
		Apply: func(ctx context.Context, h *Host) error {
			s, ok, err := h.secrets(ctx)
			if err != nil {
				return err
			}
			if !ok {
				if s, err = h.Cluster.NewSecrets(); err != nil {
					return err
				}
				if err := h.write(ctx, s.file()); err != nil {
					return err
				}
			}
			h.redact(s)
			cfg, err := h.Cluster.InitConfig(s)
			if err != nil {
				return err
			}
			if err := h.write(ctx, File{Path: initFile, Mode: 0o600, Content: string(cfg)}); err != nil {
				return err
			}
			_, err = h.sh(ctx, "kubeadm config validate --config "+initFile)
			return err
		},
		Plan: func(*Host) []string {
			return []string{"make a bootstrap token (and a certificate key with several control planes) unless " + secretsFile + " holds them",
				"write " + initFile + " (mode 600)", "kubeadm config validate --config " + initFile}
		},
	}
}

// redact keeps the join secrets out of the log from now on.
func (h *Host) redact(s Secrets) {
	if r, ok := h.run.(interface{ Redact(...string) }); ok {
		r.Redact(s.Token, s.CertificateKey)
	}
}

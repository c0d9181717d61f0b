package bootstrap

import (
	"context"
	"fmt"
	"strings"
)

// What kubeadm leaves on a control plane that gitsync reads.
const (
	adminConf   = "/etc/kubernetes/admin.conf"
	kubeletConf = "/etc/kubernetes/kubelet.conf"
	caCert      = "/etc/kubernetes/pki/ca.crt"
	joinFile    = stateDir + "/join.yaml"
)

// kubectl runs as the cluster's administrator on the first control plane.
const kubectl = "kubectl --kubeconfig " + adminConf

// kubeadmInitStep runs `kubeadm init` on the first control plane with the configuration the
// kubeadm-config step wrote. It is done when the API server answers with admin.conf. A node
// kubeadm started on but left without a working API server is not run again: that needs a
// look and a reset, which the error says.
func kubeadmInitStep() Step {
	return Step{
		Name: "kubeadm-init",
		Check: func(ctx context.Context, h *Host) (Status, error) {
			ok, state, err := h.probe(ctx, `
if [ -f `+adminConf+` ]; then
  `+kubectl+` get --raw /readyz >/dev/null 2>&1 && exit 0
  echo down; exit 1
fi
if [ -e /etc/kubernetes/manifests/kube-apiserver.yaml ] || [ -e `+caCert+` ]; then echo partial; exit 1; fi
echo none; exit 1`)
			switch {
			case err != nil:
				return Status{}, err
			case ok:
				return doneBecause("the API server answers")
			case state == "down":
				return Status{}, fmt.Errorf("%s exists but the API server does not answer (%s get --raw /readyz): "+
					"look at `journalctl -u kubelet` and `crictl ps -a` on %s", adminConf, kubectl, h.Node.Name)
			case state == "partial":
				return Status{}, fmt.Errorf("an earlier kubeadm init stopped half-way (certificates or manifests are in /etc/kubernetes, %s is not): "+
					"run `gitsync bootstrap reset --config <cluster file> --node %s`, then bootstrap again", adminConf, h.Node.Name)
			}
			return notDone("kubeadm init has not run")
		},
		Apply: func(ctx context.Context, h *Host) error {
			_, err := h.sh(ctx, initCommand(h.Cluster))
			return err
		},
		Plan: func(h *Host) []string { return []string{initCommand(h.Cluster)} },
	}
}

// initCommand is `kubeadm init`. The token and the certificate key are gitsync's own, so
// kubeadm need not print them; with several control planes it uploads the certificates, for
// the others to download with the key.
func initCommand(c *Cluster) string {
	cmd := "kubeadm init --config " + initFile + " --skip-token-print --skip-certificate-key-print"
	if len(c.ControlPlanes()) > 1 {
		cmd += " --upload-certs"
	}
	return cmd
}

// joinSecretsStep makes sure the bootstrap token is valid in the cluster (it lives two
// hours, and a later run may join more nodes) and, with control planes to join, that the
// certificates are uploaded under the certificate key (they are deleted with the token that
// owns them). controlPlanes and workers are the nodes still to join; with none it is done.
func joinSecretsStep(controlPlanes, workers int) Step {
	needed := func(ctx context.Context, h *Host) (tokenMissing, certsMissing bool, err error) {
		s, ok, err := h.secrets(ctx)
		if err != nil {
			return false, false, err
		} else if !ok {
			return false, false, fmt.Errorf("%s is missing on %s", secretsFile, h.Node.Name)
		}
		h.redact(s)
		id, _, _ := strings.Cut(s.Token, ".") // the token's public half
		has, err := h.test(ctx, kubectl+" -n kube-system get secret "+quote("bootstrap-token-"+id)+" >/dev/null 2>&1 || exit 1")
		if err != nil {
			return false, false, err
		}
		if controlPlanes == 0 {
			return !has, false, nil
		}
		certs, err := h.test(ctx, kubectl+" -n kube-system get secret kubeadm-certs >/dev/null 2>&1 || exit 1")
		return !has, !certs, err
	}
	return Step{
		Name: "join-secrets",
		Check: func(ctx context.Context, h *Host) (Status, error) {
			if controlPlanes+workers == 0 {
				return doneBecause("every node has joined")
			}
			token, certs, err := needed(ctx, h)
			switch {
			case err != nil:
				return Status{}, err
			case token:
				return notDone("the bootstrap token has expired or was deleted")
			case certs:
				return notDone("the control-plane certificates are not uploaded")
			}
			return done()
		},
		Apply: func(ctx context.Context, h *Host) error {
			token, certs, err := needed(ctx, h)
			if err != nil {
				return err
			}
			if token {
				if _, err := h.sh(ctx, "kubeadm token create --config "+initFile); err != nil {
					return err
				}
			}
			if certs {
				_, err = h.sh(ctx, "kubeadm init phase upload-certs --upload-certs --config "+initFile)
			}
			return err
		},
		Plan: func(*Host) []string {
			return []string{"kubeadm token create --config " + initFile + "   (if the token expired)",
				"kubeadm init phase upload-certs --upload-certs --config " + initFile + "   (with control planes to join)"}
		},
	}
}

// joinSecrets are the first control plane's secrets with the hash of the CA kubeadm init
// made there, read from the node and hashed by gitsync.
func (h *Host) joinSecrets(ctx context.Context) (Secrets, error) {
	s, ok, err := h.secrets(ctx)
	if err != nil {
		return Secrets{}, err
	} else if !ok {
		return Secrets{}, fmt.Errorf("%s is missing on %s", secretsFile, h.Node.Name)
	}
	ca, err := h.run.ReadFile(ctx, caCert, true)
	if err != nil {
		return Secrets{}, fmt.Errorf("read %s on %s: %w", caCert, h.Node.Name, err)
	}
	s.CACertHash, err = CACertHash(ca)
	return s, err
}

// joinStep joins a node with `kubeadm join`: a worker, or with the certificate key another
// control plane. The node has joined once it has a kubelet.conf. secrets is called only
// when the node has to join.
func joinStep(secrets func(context.Context) (Secrets, error)) Step {
	return Step{
		Name: "kubeadm-join",
		Check: func(ctx context.Context, h *Host) (Status, error) {
			joined, err := h.test(ctx, "[ -f "+kubeletConf+" ]")
			switch {
			case err != nil:
				return Status{}, err
			case joined:
				return doneBecause(kubeletConf + " exists")
			}
			return notDone("not in the cluster")
		},
		Apply: func(ctx context.Context, h *Host) error {
			s, err := secrets(ctx)
			if err != nil {
				return err
			}
			h.redact(s)
			cfg, err := h.Cluster.JoinConfig(h.Node, s)
			if err != nil {
				return err
			}
			if err := h.write(ctx, File{Path: joinFile, Mode: 0o600, Content: string(cfg)}); err != nil {
				return err
			}
			_, err = h.sh(ctx, "kubeadm join --config "+joinFile)
			return err
		},
		Plan: func(h *Host) []string {
			what := "as a worker"
			if h.Node.Role == ControlPlane {
				what = "as a control plane, with the certificate key"
			}
			return []string{fmt.Sprintf("write %s (mode 600): join %s, the token and the CA hash gitsync reads from the first control plane", joinFile, what),
				"kubeadm join --config " + joinFile}
		},
	}
}

// AdminConfig is the cluster administrator's kubeconfig kubeadm wrote on the first control
// plane, as it is there: its server is that node's address.
func (h *Host) AdminConfig(ctx context.Context) ([]byte, error) {
	data, err := h.run.ReadFile(ctx, adminConf, true)
	if err != nil {
		return nil, fmt.Errorf("read %s on %s: %w", adminConf, h.Node.Name, err)
	}
	return data, nil
}

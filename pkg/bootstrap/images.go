package bootstrap

import (
	"context"
	"strings"
)

// imagesStep pulls the control-plane images on a control plane before kubeadm needs them:
// on a slow link the pull is most of kubeadm init's time, and here it is a step of its own
// that names the image it failed on and resumes on the next run with the images it has.
// They come from imageRepository, through mirrors.registries.
func imagesStep() Step {
	return Step{
		Name: "images",
		Check: func(ctx context.Context, h *Host) (Status, error) {
			ok, missing, err := h.probe(ctx, `command -v kubeadm >/dev/null && [ -x `+containerdBinDir+`/ctr ] || { echo "kubeadm and containerd are not installed yet"; exit 1; }
images=$(kubeadm config images list `+imageFlags(h.Cluster)+`) || exit 2
have=$(`+containerdBinDir+`/ctr -n k8s.io images ls -q 2>/dev/null)
missing=
for i in $images; do printf '%s\n' "$have" | grep -qxF "$i" || missing="$missing $i"; done
[ -z "$missing" ] || { echo "missing:$missing"; exit 1; }`)
			if err != nil || ok {
				return Status{Done: ok}, err
			}
			return notDone(strings.TrimSpace(missing))
		},
		Apply: func(ctx context.Context, h *Host) error {
			_, err := h.sh(ctx, pullCommand(h.Cluster))
			return err
		},
		Plan: func(h *Host) []string { return []string{pullCommand(h.Cluster)} },
	}
}

func pullCommand(c *Cluster) string {
	return "kubeadm config images pull " + imageFlags(c) + " --cri-socket " + CRISocket
}

// imageFlags name the images of the cluster's version in its image repository, as its
// kubeadm configuration does.
func imageFlags(c *Cluster) string {
	return "--kubernetes-version " + quote(c.KubernetesVersion) + " --image-repository " + quote(c.ImageRepository)
}

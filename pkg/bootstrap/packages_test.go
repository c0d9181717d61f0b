package bootstrap

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gitsync-io/gitsync/test/aptrepo"
)

func TestKubernetesRepository(t *testing.T) {
	for _, tc := range []struct {
		name, version, mirror string
		want                  repository
	}{
		{"pkgs.k8s.io by default", "v1.37.2", "", repository{URL: "https://pkgs.k8s.io/core:/stable:/v1.37/deb/", Version: "1.37.2"}},
		{"a mirror replaces the base", "v1.36.4", "http://mirror.example.org/kubernetes/core:/stable:",
			repository{URL: "http://mirror.example.org/kubernetes/core:/stable:/v1.36/deb/", Version: "1.36.4"}},
		{"a trailing slash of the mirror is ignored", "v1.36.4", "http://mirror.example.org/k8s/",
			repository{URL: "http://mirror.example.org/k8s/v1.36/deb/", Version: "1.36.4"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &Cluster{KubernetesVersion: tc.version, Mirrors: Mirrors{Kubernetes: tc.mirror}}
			if diff := cmp.Diff(tc.want, kubernetesRepository(c)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
	t.Run("the list names the repository, signed by the uploaded key", func(t *testing.T) {
		list := kubernetesRepository(&Cluster{KubernetesVersion: "v1.37.2"}).listFile()
		want := "deb [signed-by=/etc/apt/keyrings/kubernetes-apt-keyring.asc] https://pkgs.k8s.io/core:/stable:/v1.37/deb/ /\n"
		if list.Path != "/etc/apt/sources.list.d/kubernetes.list" || !strings.HasSuffix(list.Content, want) {
			t.Errorf("%s:\n%s", list.Path, list.Content)
		}
	})
}

func TestPackagesDiffer(t *testing.T) {
	repo := repository{URL: "https://pkgs.k8s.io/core:/stable:/v1.37/deb/", Version: "1.37.2"}
	held := "kubeadm 1.37.2-1.1 hold installed\nkubectl 1.37.2-1.1 hold installed\nkubelet 1.37.2-1.1 hold installed\n"
	for _, tc := range []struct {
		name, out string
		want      []string
	}{
		{"done: all three at the pin and held", held, nil},
		{"any revision of the pinned version will do", strings.ReplaceAll(held, "-1.1", "-2.0"), nil},
		{"nothing installed on a fresh node", "differs /etc/apt/sources.list.d/kubernetes.list\ndiffers /etc/apt/keyrings/kubernetes-apt-keyring.asc\n",
			[]string{"kubelet is not installed", "kubeadm is not installed", "kubectl is not installed",
				"/etc/apt/sources.list.d/kubernetes.list does not name https://pkgs.k8s.io/core:/stable:/v1.37/deb/",
				"/etc/apt/keyrings/kubernetes-apt-keyring.asc is not the key of https://pkgs.k8s.io/core:/stable:/v1.37/deb/Release.key"}},
		{"an older version, or one not held", strings.Replace(strings.Replace(held, "kubeadm 1.37.2-1.1", "kubeadm 1.36.4-1.1", 1), "kubectl 1.37.2-1.1 hold", "kubectl 1.37.2-1.1 install", 1),
			[]string{"kubeadm 1.36.4-1.1 is installed, want 1.37.2", "kubectl is not held"}},
		{"removed, its configuration left", strings.Replace(held, "kubelet 1.37.2-1.1 hold installed", "kubelet 1.37.2-1.1 deinstall config-files", 1),
			[]string{"kubelet is not installed"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, packagesDiffer(tc.out, repo)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestPinVersions(t *testing.T) {
	repo := repository{URL: "https://pkgs.k8s.io/core:/stable:/v1.37/deb/", Version: "1.37.2"}
	const madison = `   kubelet | 1.37.2-1.1 | https://pkgs.k8s.io/core:/stable:/v1.37/deb  Packages
   kubelet | 1.37.1-1.1 | https://pkgs.k8s.io/core:/stable:/v1.37/deb  Packages
   kubeadm | 1.37.2-1.2 | https://pkgs.k8s.io/core:/stable:/v1.37/deb  Packages
   kubeadm | 1.37.2-1.1 | https://pkgs.k8s.io/core:/stable:/v1.37/deb  Packages
   kubectl | 1.37.2-1.1 | https://pkgs.k8s.io/core:/stable:/v1.37/deb  Packages
`
	t.Run("takes the newest revision of the pinned version", func(t *testing.T) {
		pins, err := pinVersions(madison, repo)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]string{"kubelet=1.37.2-1.1", "kubeadm=1.37.2-1.2", "kubectl=1.37.2-1.1"}, pins); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
	})
	t.Run("a version the repository does not have is named with what it has", func(t *testing.T) {
		_, err := pinVersions(strings.ReplaceAll(madison, "kubectl | 1.37.2", "kubectl | 1.37.0"), repo)
		want := "https://pkgs.k8s.io/core:/stable:/v1.37/deb/ offers no kubectl 1.37.2 (versions: 1.37.0-1.1)"
		if err == nil || err.Error() != want {
			t.Errorf("got %v, want %s", err, want)
		}
	})
}

func TestSigningKey(t *testing.T) {
	key := aptrepo.NewKey(t, "unit")
	serve := func(status int, body string) string {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(status)
			_, _ = w.Write([]byte(body))
		}))
		t.Cleanup(srv.Close)
		return srv.URL + "/v1.37/deb/Release.key"
	}
	t.Run("an armored public key is taken as served, with its fingerprint", func(t *testing.T) {
		url := serve(http.StatusOK, key.Armored())
		got, err := (&keyFetcher{}).get(t.Context(), url)
		if err != nil {
			t.Fatal(err)
		}
		if got.Armored != key.Armored() || got.Fingerprint != key.Fingerprint() {
			t.Errorf("got fingerprint %s, want %s", got.Fingerprint, key.Fingerprint())
		}
	})
	for _, tc := range []struct {
		name   string
		status int
		body   string
		want   string
	}{
		{"a missing key names the status", http.StatusNotFound, "not found", "404 Not Found (is mirrors.kubernetes a mirror of https://pkgs.k8s.io/core:/stable:"},
		{"an HTML page is not a key", http.StatusOK, "<html>captive portal</html>", "not an ASCII-armored OpenPGP public key"},
		{"a truncated key is refused", http.StatusOK, key.Armored()[:len(key.Armored())/2], "no END PGP PUBLIC KEY BLOCK line"},
		{"a key cut short inside its armor is refused", http.StatusOK, cutShort(key.Armored()), "damaged key: "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			url := serve(tc.status, tc.body)
			_, err := (&keyFetcher{}).get(t.Context(), url)
			if err == nil || !strings.Contains(err.Error(), url) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want an error naming %s and saying %q", err, url, tc.want)
			}
		})
	}
}

// cutShort drops the middle of the key's base64 lines, keeping the armor's start and end.
func cutShort(armored string) string {
	lines := strings.Split(armored, "\n")
	var kept []string
	for i, l := range lines {
		if i < 4 || i > len(lines)/2 {
			kept = append(kept, l)
		}
	}
	return strings.Join(kept, "\n")
}

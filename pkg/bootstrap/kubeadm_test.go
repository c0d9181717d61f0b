package bootstrap

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"flag"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gitsync-io/gitsync/test/testenv"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/ from the current output")

const ha = `apiVersion: gitsync.io/v1alpha1
kind: Cluster
name: lab
kubernetesVersion: v1.37.2
controlPlaneEndpoint: k8s-api.lab.internal
imageRepository: registry.example.cn/google_containers
ssh: {agent: true}
nodes:
- {name: cp1, address: 198.18.0.10, role: control-plane}
- {name: cp2, address: 198.18.0.11, role: control-plane}
- {name: cp3, address: 198.18.0.12, role: control-plane}
- {name: w1, address: 198.18.0.20, role: worker}
gitops: {repo: https://git.example.org/ops/cluster.git}
`

// oneNode is a cluster of one machine: its control plane runs the workloads too.
const oneNode = `apiVersion: gitsync.io/v1alpha1
kind: Cluster
ssh: {agent: true}
nodes:
- {name: box, address: 198.18.0.10, role: control-plane}
gitops: {repo: https://git.example.org/ops/cluster.git}
`

// inContainers is a cluster of machines that boot cgroup v1 and are themselves containers,
// with more kubelet and kube-proxy settings: what the real-cluster test's nodes need.
const inContainers = `apiVersion: gitsync.io/v1alpha1
kind: Cluster
kubernetesVersion: v1.37.2
ssh: {agent: true}
kubelet:
  allowCgroupV1: true
  cgroupDriver: cgroupfs
  config: {failSwapOn: false, imageGCHighThresholdPercent: 100, evictionHard: {memory.available: "0%", nodefs.available: "0%"}}
kubeProxy:
  config: {conntrack: {maxPerCore: 0}}
containerd: {version: 2.4.2, restrictOOMScoreAdj: true}
nodes:
- {name: cp1, address: 198.18.0.10, role: control-plane}
- {name: w1, address: 198.18.0.11, role: worker}
gitops: {repo: https://git.example.org/ops/cluster.git}
`

// Fixed secrets, so the golden files stay put.
var secrets = Secrets{
	Token:          "abcdef.0123456789abcdef",
	CertificateKey: "e6a2eb8581237ab72a4f494f30285ec12a9694d750b9785706a83bfcbbbd2204",
	CACertHash:     "sha256:7c81f3a8d1c6b5c1a8a1e0b1e6d6fd8e5b3e4a1d0c2b7f8e9a6d5c4b3a2f1e0d",
}

// TestKubeadmConfigs renders every kind of kubeadm configuration to a golden file and has the
// real kubeadm (built from k8s.io/kubernetes by `make tools-all`) validate each.
func TestKubeadmConfigs(t *testing.T) {
	kubeadm := kubeadmBinary(t)
	single, err := ParseCluster([]byte(minimal))
	if err != nil {
		t.Fatal(err)
	}
	lab, err := ParseCluster([]byte(ha))
	if err != nil {
		t.Fatal(err)
	}
	alone, err := ParseCluster([]byte(oneNode))
	if err != nil {
		t.Fatal(err)
	}
	v1, err := ParseCluster([]byte(inContainers))
	if err != nil {
		t.Fatal(err)
	}
	render := map[string]func() ([]byte, error){
		"init-one-node.yaml":         func() ([]byte, error) { return alone.InitConfig(Secrets{Token: secrets.Token}) },
		"init-single.yaml":           func() ([]byte, error) { return single.InitConfig(Secrets{Token: secrets.Token}) },
		"join-worker.yaml":           func() ([]byte, error) { return single.JoinConfig(single.Nodes[1], secrets) },
		"init-ha.yaml":               func() ([]byte, error) { return lab.InitConfig(secrets) },
		"join-control-plane.yaml":    func() ([]byte, error) { return lab.JoinConfig(lab.Nodes[1], secrets) },
		"join-worker-via-vip.yaml":   func() ([]byte, error) { return lab.JoinConfig(lab.Nodes[3], secrets) },
		"init-cgroup-v1.yaml":        func() ([]byte, error) { return v1.InitConfig(Secrets{Token: secrets.Token}) },
		"join-worker-cgroup-v1.yaml": func() ([]byte, error) { return v1.JoinConfig(v1.Nodes[1], secrets) },
	}
	for name, fn := range render {
		t.Run(name, func(t *testing.T) {
			got, err := fn()
			if err != nil {
				t.Fatal(err)
			}
			golden := filepath.Join("testdata", name)
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test ./pkg/bootstrap -run TestKubeadmConfigs -update)", err)
			}
			if diff := cmp.Diff(string(want), string(got)); diff != "" {
				t.Errorf("%s (-golden +got):\n%s", name, diff)
			}
			out, err := exec.Command(kubeadm, "config", "validate", "--config", golden).CombinedOutput()
			if err != nil || !strings.Contains(string(out), "ok") {
				t.Errorf("kubeadm config validate %s: %v\n%s", golden, err, out)
			}
		})
	}
}

// TestKubeadmValidateCatchesMistakes shows that the check above can fail: kubeadm decodes
// strictly and validates values, the kubelet's and kube-proxy's configurations included (the
// cluster file passes kubelet.config and kubeProxy.config through).
func TestKubeadmValidateCatchesMistakes(t *testing.T) {
	kubeadm := kubeadmBinary(t)
	v1, err := os.ReadFile("testdata/init-cgroup-v1.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for mistake, want := range map[string]string{
		"failSwapOn: false\n": `unknown field "failSwapon"`,
		"maxPerCore: 0\n":     `unknown field "conntrack.maxPerCor"`,
	} {
		with := map[string]string{"failSwapOn: false\n": "failSwapon: false\n", "maxPerCore: 0\n": "maxPerCor: 0\n"}[mistake]
		bad := strings.Replace(string(v1), mistake, with, 1)
		if bad == string(v1) {
			t.Fatalf("%q is not in init-cgroup-v1.yaml", mistake)
		}
		file := filepath.Join(t.TempDir(), "init.yaml")
		if err := os.WriteFile(file, []byte(bad), 0o600); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(kubeadm, "config", "validate", "--config", file).CombinedOutput()
		if err == nil || !strings.Contains(string(out), want) {
			t.Errorf("kubeadm config validate accepted %q or did not name it (want %q): %v\n%s", with, want, err, out)
		}
	}
	good, err := os.ReadFile("testdata/join-control-plane.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for mistake, want := range map[string]string{
		"  bindPort: 6443\n": `unknown field "controlPlane.bogus"`,
		"name: cp2\n":        "", // replaced below by a v1beta3-style map
	} {
		bad := strings.Replace(string(good), mistake, mistake+"  bogus: 1\n", 1)
		if want == "" {
			bad, want = strings.Replace(string(good), "  - name: node-ip\n    value: 198.18.0.11\n", "    node-ip: 198.18.0.11\n", 1), "kubeletExtraArgs"
		}
		file := filepath.Join(t.TempDir(), "join.yaml")
		if err := os.WriteFile(file, []byte(bad), 0o600); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(kubeadm, "config", "validate", "--config", file).CombinedOutput()
		if err == nil || !strings.Contains(string(out), want) {
			t.Errorf("kubeadm config validate accepted a mistake or did not name it (want %q): %v\n%s", want, err, out)
		}
	}
}

func TestJoinConfigNeedsWhatJoiningTakes(t *testing.T) {
	lab, err := ParseCluster([]byte(ha))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lab.JoinConfig(lab.Nodes[3], Secrets{Token: secrets.Token}); err == nil || !strings.Contains(err.Error(), "CA certificate hash") {
		t.Errorf("join without the CA hash: %v", err)
	}
	if _, err := lab.JoinConfig(lab.Nodes[1], Secrets{Token: secrets.Token, CACertHash: secrets.CACertHash}); err == nil || !strings.Contains(err.Error(), "certificate key") {
		t.Errorf("control-plane join without the certificate key: %v", err)
	}
}

func TestNewSecrets(t *testing.T) {
	single, _ := ParseCluster([]byte(minimal))
	lab, _ := ParseCluster([]byte(ha))
	s1, err := single.NewSecrets()
	if err != nil {
		t.Fatal(err)
	}
	s2, err := lab.NewSecrets()
	if err != nil {
		t.Fatal(err)
	}
	token := regexp.MustCompile(`^[a-z0-9]{6}\.[a-z0-9]{16}$`)
	if !token.MatchString(s1.Token) || !token.MatchString(s2.Token) || s1.Token == s2.Token {
		t.Errorf("tokens %q %q: want two different bootstrap tokens", s1.Token, s2.Token)
	}
	if s1.CertificateKey != "" || !regexp.MustCompile(`^[0-9a-f]{64}$`).MatchString(s2.CertificateKey) {
		t.Errorf("certificate keys %q (one control plane: none) %q (three: 64 hex digits)", s1.CertificateKey, s2.CertificateKey)
	}
}

// TestCACertHash compares the hash with what the shell recipe kubeadm's documentation gives
// computes, with openssl (pkey, so that ECDSA CAs work too).
func TestCACertHash(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "kubernetes"}, IsCA: true,
		NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour), BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	ca := filepath.Join(t.TempDir(), "ca.crt")
	if err := os.WriteFile(ca, caPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("sh", "-c", "openssl x509 -pubkey -in "+ca+" | openssl pkey -pubin -outform der | openssl dgst -sha256 -hex | sed 's/^.* //'").Output()
	if err != nil {
		t.Fatalf("openssl: %v", err)
	}
	got, err := CACertHash(caPEM)
	if err != nil || got != "sha256:"+strings.TrimSpace(string(out)) {
		t.Errorf("CACertHash = %s, %v; openssl says sha256:%s", got, err, strings.TrimSpace(string(out)))
	}
	if _, err := CACertHash([]byte("not a certificate")); err == nil {
		t.Error("CACertHash accepted garbage")
	}
}

func kubeadmBinary(t *testing.T) string {
	t.Helper()
	kubeadm, err := testenv.Binary("kubeadm")
	if err != nil {
		t.Fatal(err)
	}
	return kubeadm
}

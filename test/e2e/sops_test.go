package e2e

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes"

	"github.com/gitsync-io/gitsync/test/sopsfile"
	"github.com/gitsync-io/gitsync/test/testenv"
)

var secrets = schema.GroupVersionResource{Version: "v1", Resource: "secrets"}

const (
	sopsPassword = "e2e-sops-Pa55-Zk4"
	sopsEnvToken = "e2e-sops-env-Zk4"
)

// sopsApp is baseApp plus a kustomization with a SOPS-encrypted Secret and
// a Secret generated from an encrypted dotenv file, all for recipient.
func sopsApp(t *testing.T, recipient, password string) map[string]string {
	files := baseApp()
	files["app/kustomization.yaml"] = "resources: [a.yaml, b.yaml, deployment.yaml, service.yaml, db.yaml]\n" +
		"secretGenerator:\n- name: env\n  envs: [token.env]\ngeneratorOptions: {disableNameSuffixHash: true}\n"
	files["app/db.yaml"] = string(sopsfile.Encrypt(t, "db.yaml",
		[]byte("apiVersion: v1\nkind: Secret\nmetadata: {name: db}\nstringData: {password: "+password+"}\n"),
		sopsfile.Options{EncryptedRegex: "^(data|stringData)$"}, recipient))
	files["app/token.env"] = string(sopsfile.Encrypt(t, "token.env", []byte("TOKEN="+sopsEnvToken+"\n"), sopsfile.Options{}, recipient))
	return files
}

// TestSOPS syncs SOPS-encrypted Secrets with --decryption-key-file: the
// cluster gets the plain values, no output and no file of the cache holds
// them; without the key, with another key, or after the file was changed,
// the sync fails naming the file and nothing is applied or pruned.
func TestSOPS(t *testing.T) {
	alice, mallory := sopsfile.NewKey(t), sopsfile.NewKey(t)
	keys := t.TempDir()
	for name, id := range map[string]string{"alice.agekey": alice.Identity, "mallory.agekey": mallory.Identity} {
		if err := os.WriteFile(filepath.Join(keys, name), []byte(id+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	aliceKey, malloryKey := filepath.Join(keys, "alice.agekey"), filepath.Join(keys, "mallory.agekey")

	f := newFixture(t)
	f.repo.Commit(t, "encrypted", sopsApp(t, alice.Recipient, sopsPassword))
	good := f.repo.Head(t)
	r := f.mustSync("--decryption-key-file", aliceKey)
	if got := string(f.secretData(t, "db", "password")); got != sopsPassword {
		t.Errorf("Secret db password = %q, want the decrypted value", got)
	}
	if got := string(f.secretData(t, "env", "TOKEN")); got != sopsEnvToken {
		t.Errorf("Secret env TOKEN = %q, want the decrypted value", got)
	}
	noSOPSLeak(t, "sync", r.Stdout+r.Stderr, sopsPassword)
	noSOPSLeakOnDisk(t, f.cache, sopsPassword, sopsEnvToken)

	t.Run("diff masks a changed encrypted value", func(t *testing.T) {
		f.repo.Commit(t, "new password", map[string]string{"app/db.yaml": sopsApp(t, alice.Recipient, "e2e-sops-New-Zk4")["app/db.yaml"]})
		r := f.run("diff", "--decryption-key-file", aliceKey)
		if r.Code != 1 || !strings.Contains(r.Stdout, "Secret") {
			t.Errorf("diff: exit %d, want 1 and the Secret named:\n%s", r.Code, r)
		}
		noSOPSLeak(t, "diff", r.Stdout+r.Stderr, sopsPassword, "e2e-sops-New-Zk4")
		f.repo.Reset(t, good)
	})

	t.Run("render hides the values unless --show-secrets", func(t *testing.T) {
		render := func(extra ...string) result {
			return gitsync(t, []string{"GITSYNC_PASSWORD=" + gitPassword}, append([]string{"render", "--repo", f.repoURL(), "--path", "app",
				"--username", gitUser, "--cache-dir", f.cache, "--decryption-key-file", aliceKey}, extra...)...)
		}
		if r := render(); r.Code != 0 || strings.Contains(r.Stdout, sopsPassword) || !strings.Contains(r.Stdout, "password: '***'") {
			t.Errorf("render: exit %d:\n%s", r.Code, r)
		}
		if r := render("--show-secrets"); r.Code != 0 || !strings.Contains(r.Stdout, "password: "+sopsPassword) {
			t.Errorf("render --show-secrets: exit %d:\n%s", r.Code, r)
		}
	})

	// Each refused revision also changes ConfigMap a and removes b.
	change := map[string]string{"app/a.yaml": configMap("a", "changed"), "app/b.yaml": "",
		"app/kustomization.yaml": strings.Replace(sopsApp(t, alice.Recipient, sopsPassword)["app/kustomization.yaml"], "b.yaml, ", "", 1)}
	for _, tc := range []struct {
		name  string
		files map[string]string
		args  []string
		want  []string
	}{
		{"without a key", nil, nil, []string{"app/db.yaml", "cannot decrypt", alice.Recipient, "no decryption key"}},
		{"with another key", nil, []string{"--decryption-key-file", malloryKey}, []string{"app/db.yaml", alice.Recipient, "none of the sync's age keys"}},
		{"a file changed after encryption", map[string]string{"app/db.yaml": strings.Replace(sopsApp(t, alice.Recipient, sopsPassword)["app/db.yaml"], "name: db", "name: dc", 1)},
			[]string{"--decryption-key-file", aliceKey}, []string{"app/db.yaml", "MAC does not match"}},
	} {
		t.Run("refuses "+tc.name, func(t *testing.T) {
			f.repo.Reset(t, good)
			files := map[string]string{}
			for k, v := range change {
				files[k] = v
			}
			for k, v := range tc.files {
				files[k] = v
			}
			f.repo.Commit(t, tc.name, files)
			r := f.sync(tc.args...)
			if r.Code == 0 {
				t.Fatalf("sync succeeded:\n%s", r)
			}
			oneLine(t, r, tc.want...)
			if a, b := data(f.get(configMaps, "a")), f.get(configMaps, "b"); a != "one" || b == nil {
				t.Errorf("ConfigMap a = %q and b present: %v; want the last good state", a, b != nil)
			}
			if st := f.status(); st["lastAppliedRevision"] != good || st["objects"] != float64(6) || st["ready"] != false {
				t.Errorf("status = %v, want last applied %s, 6 objects, not ready", st, good)
			}
			if got := string(f.secretData(t, "db", "password")); got != sopsPassword {
				t.Errorf("Secret db password = %q after a refused revision", got)
			}
			noSOPSLeak(t, "sync", r.Stdout+r.Stderr, sopsPassword)
		})
	}
}

// TestSOPSFromASecret runs gitsync run --config with decryption.secretRef:
// the age key comes from a Secret in gitsync's namespace, read at each run.
func TestSOPSFromASecret(t *testing.T) {
	key := sopsfile.NewKey(t)
	f := newFixture(t)
	f.repo.Commit(t, "encrypted", sopsApp(t, key.Recipient, sopsPassword))
	config := f.writeConfig("300ms", fmt.Sprintf("- name: app\n  source: repo\n  path: app\n  namespace: %s\n  timeout: 30s\n  decryption: {provider: sops, secretRef: {name: sops-age}}", f.ns))
	p, _ := f.runConfig(config)
	p.eventually("the sync says the Secret is missing", 30*time.Second, func() bool {
		st := f.statusOf("app")
		return st != nil && strings.Contains(fmt.Sprint(st["error"]), "Secret "+f.ns+"/sops-age")
	})
	cs, err := kubernetes.NewForConfig(testenv.Config(t))
	if err != nil {
		t.Fatal(err)
	}
	_, err = cs.CoreV1().Secrets(f.ns).Create(context.Background(), &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "sops-age"}, Data: map[string][]byte{"age.agekey": []byte(key.Identity + "\n")},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	p.eventually("the Secret is applied, decrypted", 30*time.Second, func() bool {
		return f.get(secrets, "db") != nil && string(f.secretData(t, "db", "password")) == sopsPassword
	})
	noSOPSLeak(t, "gitsync run", p.logs.String(), sopsPassword)
	if err := p.stop(); err != nil {
		t.Errorf("gitsync run exited with %v; logs:\n%s", err, p.logs.String())
	}
}

// secretData returns a key of a Secret in the fixture's namespace.
func (f *fixture) secretData(t *testing.T, name, key string) []byte {
	t.Helper()
	cs, err := kubernetes.NewForConfig(testenv.Config(t))
	if err != nil {
		t.Fatal(err)
	}
	s, err := cs.CoreV1().Secrets(f.ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("Secret %s: %v", name, err)
	}
	return s.Data[key]
}

func noSOPSLeak(t *testing.T, what, output string, values ...string) {
	t.Helper()
	for _, v := range append(values, sopsEnvToken) {
		if strings.Contains(output, v) || strings.Contains(output, b64(v)) {
			t.Errorf("%s shows the decrypted value %q:\n%s", what, v, output)
		}
	}
}

// noSOPSLeakOnDisk checks that no file under dir holds a decrypted value.
func noSOPSLeakOnDisk(t *testing.T, dir string, values ...string) {
	t.Helper()
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return nil // a link into a snapshot, say
		}
		for _, v := range values {
			if strings.Contains(string(data), v) || strings.Contains(string(data), b64(v)) {
				t.Errorf("%s holds the decrypted value %q", path, v)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// Package lifecycle is run by ../../lifecycle_test.go as a separate test binary
// to prove the control plane is torn down however the tests end.
package lifecycle

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gitsync-io/gitsync/test/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m, testenv.Options{}) }

// record tells the outer test where the plane lives before this one ends.
func record(t *testing.T) {
	dir := filepath.Dir(testenv.Kubeconfig(t))
	if err := os.WriteFile(os.Getenv("LIFECYCLE_OUT"), []byte(dir), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestFails(t *testing.T) {
	record(t)
	t.Fatal("failing on purpose")
}

func TestPanics(t *testing.T) {
	record(t)
	panic("panicking on purpose")
}

func TestHangs(t *testing.T) {
	record(t)
	time.Sleep(time.Hour) // ended by -test.timeout
}

func TestPasses(t *testing.T) { record(t) }

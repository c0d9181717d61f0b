// Package lifecycle is the test binary of TestNodesAreGoneHoweverTestsEnd:
// each test starts a one-node cluster, records it in $LIFECYCLE_OUT and ends
// in its own way.
package lifecycle_test

import (
	"encoding/json"
	"os"
	"testing"
	"time"

	"github.com/gitsync-io/gitsync/test/nodes"
)

// Record is what the outer test reads from $LIFECYCLE_OUT.
type Record struct {
	Dir, Bridge string
}

func start(t *testing.T) {
	out := os.Getenv("LIFECYCLE_OUT")
	if out == "" {
		t.Fatal("LIFECYCLE_OUT is not set: this binary is run by TestNodesAreGoneHoweverTestsEnd")
	}
	c := nodes.Start(t, nodes.Options{Nodes: []nodes.NodeOptions{{Name: "solo"}}})
	data, err := json.Marshal(Record{Dir: c.Dir, Bridge: c.Bridge})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(out+".tmp", data, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(out+".tmp", out); err != nil {
		t.Fatal(err)
	}
}

func TestPasses(t *testing.T) { start(t) }

func TestFails(t *testing.T) {
	start(t)
	t.Fatal("failing on purpose")
}

func TestPanics(t *testing.T) {
	start(t)
	panic("panicking on purpose")
}

func TestHangs(t *testing.T) {
	start(t)
	time.Sleep(time.Hour)
}

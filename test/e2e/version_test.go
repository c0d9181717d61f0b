package e2e

import (
	"strings"
	"testing"
)

func TestVersionNamesTheKubernetesClient(t *testing.T) {
	r := gitsync(t, nil, "version")
	if r.Code != 0 || !strings.Contains(r.Stdout, "kubernetes client v0.37.2") {
		t.Errorf("gitsync version:\n%s", r)
	}
}

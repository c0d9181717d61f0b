package ssh_test

import (
	"strings"
	"testing"
)

func TestCheckSudo(t *testing.T) {
	t.Parallel()
	h := newTestHost(t)
	c := h.dial(t)

	t.Run("needs no sudo for root", func(t *testing.T) {
		if h.user != "root" {
			t.Fatalf("the tests run as %s: this case needs root", h.user)
		}
		if err := c.CheckSudo(t.Context()); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(h.log.String(), "sudo") {
			t.Errorf("root ran sudo:\n%s", h.log.String())
		}
	})
}

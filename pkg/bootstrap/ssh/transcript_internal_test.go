package ssh

import (
	"bytes"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestTailBuffer(t *testing.T) {
	b := &tailBuffer{max: 5}
	for _, w := range []string{"ab", "cd", "efg", "", "hijklmnop", "q"} {
		_, _ = b.Write([]byte(w))
	}
	if got := string(b.bytes()); got != "mnopq" {
		t.Errorf("tail = %q, want %q", got, "mnopq")
	}
}

func TestPIDFilter(t *testing.T) {
	for _, tc := range []struct {
		name    string
		writes  []string
		wantOut string
		wantPID int
	}{
		{"strips the marker line and records the PID", []string{pidMarker + "1234\nreal stderr\n"}, "real stderr\n", 1234},
		{"finds a marker split across writes", []string{"gitsync-ssh", "-pid:77", "\nx", "y\n"}, "xy\n", 77},
		{"passes lines a login shell printed before the marker", []string{"bashrc says hi\n", pidMarker + "9\nafter"}, "bashrc says hi\nafter", 9},
		{"passes stderr without a marker through", []string{"no marker, no newline"}, "no marker, no newline", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			f := newPIDFilter(&out)
			for _, w := range tc.writes {
				if n, err := f.Write([]byte(w)); n != len(w) || err != nil {
					t.Fatalf("Write(%q) = %d, %v", w, n, err)
				}
			}
			f.flush()
			if diff := cmp.Diff(tc.wantOut, out.String()); diff != "" {
				t.Errorf("stderr (-want +got):\n%s", diff)
			}
			if f.await(0) != tc.wantPID {
				t.Errorf("pid = %d, want %d", f.await(0), tc.wantPID)
			}
		})
	}
	t.Run("gives up looking after maxBeforeMarker bytes without a newline", func(t *testing.T) {
		var out bytes.Buffer
		f := newPIDFilter(&out)
		long := strings.Repeat("x", maxBeforeMarker+1)
		_, _ = f.Write([]byte(long))
		_, _ = f.Write([]byte("\n" + pidMarker + "5\n"))
		if out.String() != long+"\n"+pidMarker+"5\n" || f.await(0) != 0 {
			t.Errorf("got %d bytes and pid %d", out.Len(), f.await(0))
		}
	})
}

func TestRedactor(t *testing.T) {
	r := &redactor{}
	r.add("", "abc", "abcdef")
	if got, want := r.apply("x abcdef abc"), "x [redacted] [redacted]"; got != want {
		t.Errorf("apply = %q, want %q", got, want)
	}
}

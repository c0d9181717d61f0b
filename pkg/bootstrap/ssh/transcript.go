package ssh

import (
	"bytes"
	"cmp"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
)

// redactor replaces secrets with a placeholder.
type redactor struct {
	mu      sync.RWMutex
	secrets []string // longest first, so a secret containing another goes whole
}

const redacted = "[redacted]"

func (r *redactor) add(secrets ...string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, s := range secrets {
		if s != "" && !slices.Contains(r.secrets, s) {
			r.secrets = append(r.secrets, s)
		}
	}
	slices.SortFunc(r.secrets, func(a, b string) int { return cmp.Compare(len(b), len(a)) })
}

func (r *redactor) apply(s string) string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	for _, secret := range r.secrets {
		s = strings.ReplaceAll(s, secret, redacted)
	}
	return s
}

// transcript writes the commands run on one host and their output to the
// log, a whole line per Write, secrets redacted.
type transcript struct {
	mu     sync.Mutex
	w      io.Writer
	host   string
	redact *redactor
}

func (t *transcript) printf(format string, args ...any) {
	line := t.redact.apply(fmt.Sprintf(format, args...))
	t.mu.Lock()
	defer t.mu.Unlock()
	_, _ = io.WriteString(t.w, "["+t.host+"] "+line+"\n")
}

// command logs the header line of a command.
func (t *transcript) command(line string) { t.printf("$ %s", line) }

// output returns a writer that logs each line written to it with the
// stream's prefix ("out" or "err"); hide logs only the byte count. Call
// close when the stream ends.
func (t *transcript) output(stream string, hide bool) *lineWriter {
	return &lineWriter{t: t, prefix: "  " + stream + "| ", hide: hide}
}

// maxLogLine bounds a line held back waiting for its newline.
const maxLogLine = 4096

// lineWriter splits a stream into lines for the transcript.
type lineWriter struct {
	t      *transcript
	prefix string
	hide   bool
	buf    []byte
	total  int
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.total += len(p)
	if w.hide {
		return len(p), nil
	}
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 && len(w.buf) < maxLogLine {
			return len(p), nil
		}
		if i < 0 {
			i = len(w.buf)
		}
		w.t.printf("%s%s", w.prefix, strings.TrimSuffix(string(w.buf[:i]), "\r"))
		w.buf = w.buf[min(i+1, len(w.buf)):]
	}
}

// close logs what is left of the stream.
func (w *lineWriter) close() {
	switch {
	case w.hide && w.total > 0:
		w.t.printf("%s(%d bytes not logged)", w.prefix, w.total)
	case len(w.buf) > 0:
		w.t.printf("%s%s", w.prefix, string(w.buf))
		w.buf = nil
	}
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	max int
	buf []byte
}

func (b *tailBuffer) Write(p []byte) (int, error) {
	n := len(p)
	if len(p) >= b.max {
		p = p[len(p)-b.max:]
		b.buf = b.buf[:0]
	}
	if over := len(b.buf) + len(p) - b.max; over > 0 {
		b.buf = append(b.buf[:0], b.buf[over:]...)
	}
	b.buf = append(b.buf, p...)
	return n, nil
}

func (b *tailBuffer) bytes() []byte { return bytes.Clone(b.buf) }

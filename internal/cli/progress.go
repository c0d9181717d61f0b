package cli

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"golang.org/x/term"

	gsync "github.com/gitsync-io/gitsync/pkg/sync"
)

// progressLine shows how far a long apply or prune is on one terminal line,
// rewritten at most ten times a second.
type progressLine struct {
	w     io.Writer
	mu    sync.Mutex
	last  time.Time
	shown bool
}

// newProgress returns a progress line on w if w is a terminal, else nil.
func newProgress(w io.Writer) *progressLine {
	if f, ok := w.(*os.File); !ok || !term.IsTerminal(int(f.Fd())) {
		return nil
	}
	return &progressLine{w: w}
}

func (p *progressLine) update(phase gsync.Phase, done, total int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if done < total && time.Since(p.last) < 100*time.Millisecond {
		return
	}
	p.last, p.shown = time.Now(), true
	fmt.Fprintf(p.w, "\r\033[K%s %d/%d", phase, done, total)
}

// clear removes the line before the summary is printed.
func (p *progressLine) clear() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.shown {
		fmt.Fprint(p.w, "\r\033[K")
		p.shown = false
	}
}

package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/go-logr/logr"

	gsync "github.com/gitsync-io/gitsync/pkg/sync"
	"github.com/gitsync-io/gitsync/pkg/sync/apply"
)

// printer writes a sync's outcome: a summary for people, or JSON.
type printer struct {
	s    Streams
	json bool
}

func newPrinter(s Streams, output string) (*printer, error) {
	switch output {
	case "", "text":
		return &printer{s: s}, nil
	case "json":
		return &printer{s: s, json: true}, nil
	}
	return nil, fmt.Errorf("--output %q: want text or json", output)
}

// changeJSON is one object's entry in -o json.
type changeJSON struct {
	Object string `json:"object"`
	Action string `json:"action"`
	Reason string `json:"reason,omitempty"`
	Error  string `json:"error,omitempty"`
	// TakenFrom is the sync ("namespace/name") the object was taken over
	// from with force.
	TakenFrom string `json:"takenFrom,omitempty"`
}

type resultJSON struct {
	*gsync.Result
	Changes []changeJSON `json:"changes"`
	Error   string       `json:"error,omitempty"`
	Phase   string       `json:"phase,omitempty"`
}

func (p *printer) result(r *gsync.Result, err error) error {
	if p.json {
		return p.resultJSON(r, err)
	}
	verb := "synced"
	if r.DryRun {
		verb = "dry run, would sync"
	}
	for _, c := range changes(r) {
		switch {
		case c.TakenFrom != "":
			fmt.Fprintf(p.s.Out, "%s %s, taken over from sync %s\n", c.Object, c.Action, c.TakenFrom)
		case c.Action != string(apply.Unchanged) && c.Action != string(apply.Skipped) && c.Action != string(apply.Failed):
			fmt.Fprintf(p.s.Out, "%s %s\n", c.Object, c.Action)
		}
	}
	p.recovery(r.Recovery)
	if r.SignedBy != "" {
		fmt.Fprintf(p.s.Out, "revision %s is signed by %s\n", short(r.Revision), r.SignedBy)
	}
	if r.Chart != "" {
		fmt.Fprintf(p.s.Out, "chart %s\n", r.Chart)
	}
	for _, h := range r.Hooks {
		fmt.Fprintf(p.s.Out, "hook %s\n", h)
	}
	if err != nil {
		fmt.Fprintf(p.s.ErrOut, "error: %s/%s at %s: %v\n", r.Namespace, r.Name, short(r.Revision), err)
		return nil
	}
	t := r.Timings
	_, werr := fmt.Fprintf(p.s.Out, "%s %s/%s to %s: %s in %s (fetch %s, render %s, apply %s, prune %s, health %s)\n",
		verb, r.Namespace, r.Name, short(r.Revision), counts(r), secs(t.Total), secs(t.Fetch), secs(t.Render), secs(t.Apply), secs(t.Prune), secs(t.Health))
	return werr
}

// recovery says that a lost inventory was rebuilt, and what could not be
// listed.
func (p *printer) recovery(rc *gsync.Recovery) {
	if rc == nil || (rc.Objects == 0 && len(rc.Unlisted) == 0) {
		return
	}
	fmt.Fprintln(p.s.Out, rc) // -o json lists every type not listed
}

func (p *printer) resultJSON(r *gsync.Result, err error) error {
	out := resultJSON{Result: r, Changes: changes(r)}
	if err != nil {
		out.Error = err.Error()
		var e *gsync.Error
		if errors.As(err, &e) {
			out.Phase = string(e.Phase)
		}
	}
	enc := json.NewEncoder(p.s.Out)
	return enc.Encode(out)
}

func changes(r *gsync.Result) []changeJSON {
	out := []changeJSON{}
	for _, cs := range []*apply.ChangeSet{r.Applied, r.Pruned} {
		if cs == nil {
			continue
		}
		for _, c := range cs.Changes {
			e := changeJSON{Object: objectName(c), Action: string(c.Action), Reason: c.Reason}
			if c.TakenFrom != "" {
				e.TakenFrom = apply.SyncName(c.TakenFrom)
			}
			if c.Err != nil {
				e.Error = c.Err.Error()
			}
			out = append(out, e)
		}
	}
	return out
}

// objectName is kubectl's "kind.group/name" with the namespace in front.
func objectName(c apply.Change) string {
	kind := strings.ToLower(c.ID.GroupKind.Kind)
	if c.ID.GroupKind.Group != "" {
		kind += "." + c.ID.GroupKind.Group
	}
	if c.ID.Namespace != "" {
		return c.ID.Namespace + " " + kind + "/" + c.ID.Name
	}
	return kind + "/" + c.ID.Name
}

func counts(r *gsync.Result) string {
	shown := []apply.Action{apply.Created, apply.Configured, apply.Unchanged, apply.Deleted, apply.Failed}
	parts := make([]string, 0, len(shown))
	for _, a := range shown {
		parts = append(parts, fmt.Sprintf("%d %s", r.Counts[a], a))
	}
	return strings.Join(parts, ", ")
}

func secs(d time.Duration) string { return fmt.Sprintf("%.2fs", d.Seconds()) }

func short(rev string) string {
	if len(rev) > 12 {
		return rev[:12]
	}
	if rev == "" {
		return "(no revision)"
	}
	return rev
}

// withLogger puts a structured logger writing to ErrOut into ctx, as JSON
// when format is "json".
func withLogger(ctx context.Context, s Streams, format string) context.Context {
	var h slog.Handler = slog.NewTextHandler(s.ErrOut, nil)
	if format == "json" {
		h = slog.NewJSONHandler(s.ErrOut, nil)
	}
	return logr.NewContext(ctx, logr.FromSlogHandler(h))
}

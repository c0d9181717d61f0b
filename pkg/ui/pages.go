package ui

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"net/http"
	"net/url"
	"strings"
	"time"

	template "github.com/DataDog/datadog-agent/pkg/template/html"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"

	gsync "github.com/gitsync-io/gitsync/pkg/sync"
	"github.com/gitsync-io/gitsync/pkg/sync/apply"
)

// page is what every template gets.
type page struct {
	Title   string
	Access  access
	Next    string // after login
	Problem string // shown on the login page
	Now     time.Time

	Syncs []row         // overview
	Graph template.HTML // overview: the dependencies, as SVG
	Sync  *detail       // one sync
	Diff  *diff         // a sync's pending changes
}

// row is one sync as the overview lists it. The templates read fields and
// call funcs, never methods: their template package calls none (see
// third_party/README.md).
type row struct {
	gsync.View
	Page    string // its page
	Icon    string
	Commit  string // link to the applied revision, when the forge is known
	LastRun *gsync.Run
	// LastAt is when the sync last ran in this process, else when its
	// status was last written.
	LastAt time.Time
}

// detail is one sync's page.
type detail struct {
	row
	Groups   []group
	Total    int
	Shown    int
	Query    string
	Status   string
	ByStatus map[status.Status]int
	Filters  []status.Status
}

// group is the objects of one kind.
type group struct {
	Kind    string
	Objects []objectRow
}

type objectRow struct {
	Namespace, Name, Message string
	Status                   status.Status
	Hidden                   bool // filtered out
}

type pages struct {
	tmpl *template.Template
}

func parsePages() pages {
	funcs := template.FuncMap{
		"short":   short,
		"ago":     ago,
		"in":      in,
		"seconds": func(d time.Duration) string { return fmt.Sprintf("%.1f s", d.Seconds()) },
		"clock":   func(t time.Time) string { return t.Format(time.TimeOnly) },
		"count":   func(counts map[apply.Action]int, a string) int { return counts[apply.Action(a)] },
		"lower":   func(s any) string { return strings.ToLower(fmt.Sprint(s)) },
	}
	sub, _ := fs.Sub(assets, "assets")
	return pages{tmpl: template.Must(template.New("").Funcs(funcs).ParseFS(sub, "*.html"))}
}

// icons mark each state with a symbol beside its colour, so a failing sync
// stands out without colour too.
var icons = map[gsync.State]string{
	gsync.StateReady:     "✔",
	gsync.StateApplying:  "↻",
	gsync.StateWaiting:   "◷",
	gsync.StateFailed:    "✖",
	gsync.StateStalled:   "⚠",
	gsync.StateSuspended: "‖",
	gsync.StatePending:   "…",
}

// render writes template name, or only its live part when the page's
// script asks for it (X-Gitsync-Fragment) to swap it in and the page has one.
func (h *handler) render(w http.ResponseWriter, r *http.Request, name string, p page) {
	p.Now = time.Now()
	if p.Access == (access{}) {
		p.Access = h.access(r)
	}
	tmpl := name
	if r.Header.Get("X-Gitsync-Fragment") == "1" && h.pages.tmpl.Lookup(name+"-live") != nil {
		tmpl = name + "-live"
	}
	var buf bytes.Buffer
	if err := h.pages.tmpl.ExecuteTemplate(&buf, tmpl, p); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(buf.Bytes())
}

func (h *handler) overview(w http.ResponseWriter, r *http.Request, a access) {
	views := h.opts.Syncs.Views()
	rows := make([]row, 0, len(views))
	for _, v := range views {
		rows = append(rows, newRow(v))
	}
	h.render(w, r, "overview", page{Title: "Syncs", Access: a, Syncs: rows, Graph: graph(views)})
}

func newRow(v gsync.View) row {
	rw := row{View: v, Page: syncPath(v.Namespace, v.Name), Icon: icons[v.State], Commit: commitURL(v.Source, v.LastAppliedRevision)}
	rw.LastAt = v.Time
	if len(v.Runs) > 0 {
		rw.LastRun = &v.Runs[0]
		rw.LastAt = rw.LastRun.Start
		if rw.LastRun.Repeats > 0 {
			rw.LastAt = rw.LastRun.Last
		}
	}
	return rw
}

// withObjects reads the view and the objects of the sync the request
// names, answering the request itself when it cannot.
func (h *handler) withObjects(w http.ResponseWriter, r *http.Request) (gsync.View, []gsync.ObjectView, bool) {
	ns, name := r.PathValue("namespace"), r.PathValue("name")
	v, ok := h.opts.Syncs.View(ns, name)
	if !ok {
		http.NotFound(w, r)
		return v, nil, false
	}
	objects, err := h.opts.Syncs.Objects(ns, name)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return v, nil, false
	}
	return v, objects, true
}

func (h *handler) sync(w http.ResponseWriter, r *http.Request, a access) {
	v, objects, ok := h.withObjects(w, r)
	if !ok {
		return
	}
	d := &detail{row: newRow(v), Query: r.URL.Query().Get("q"), Status: r.URL.Query().Get("status"),
		Total: len(objects), ByStatus: map[status.Status]int{}, Filters: statuses}
	for _, o := range objects {
		d.ByStatus[o.Status]++
		kind := o.ID.GroupKind.Kind
		if g := o.ID.GroupKind.Group; g != "" {
			kind += "." + g
		}
		if len(d.Groups) == 0 || d.Groups[len(d.Groups)-1].Kind != kind {
			d.Groups = append(d.Groups, group{Kind: kind})
		}
		or := objectRow{Namespace: o.ID.Namespace, Name: o.ID.Name, Status: o.Status, Message: o.Message}
		or.Hidden = !matches(kind, or, d.Query, d.Status)
		if !or.Hidden {
			d.Shown++
		}
		g := &d.Groups[len(d.Groups)-1]
		g.Objects = append(g.Objects, or)
	}
	h.render(w, r, "sync", page{Title: v.Name, Access: a, Sync: d})
}

// statuses are the kstatus values an object may show, in filter order.
var statuses = []status.Status{status.CurrentStatus, status.InProgressStatus, status.FailedStatus,
	status.TerminatingStatus, status.NotFoundStatus, status.UnknownStatus}

// matches applies the page's filters: text in the kind, namespace or name,
// and the status. The page's script applies the same rules as one types.
func matches(kind string, o objectRow, query, st string) bool {
	if st != "" && !strings.EqualFold(st, o.Status.String()) {
		return false
	}
	q := strings.ToLower(strings.TrimSpace(query))
	return q == "" || strings.Contains(strings.ToLower(kind+" "+o.Namespace+"/"+o.Name), q)
}

// diff is a sync's pending changes.
type diff struct {
	row
	Revision string
	Objects  []objectDiff
	Err      string
}

type objectDiff struct {
	Ref, Action, Err string
	Lines            []diffLine
}

// diffLine is a line of a unified diff and its class: add, del, hunk or "".
type diffLine struct{ Class, Text string }

// diffTimeout bounds a dry run asked for from the page.
const diffTimeout = time.Minute

// diff shows what a sync of the newest revision would change: the
// server-side dry run of gitsync diff, made only when asked for, so opening
// the sync's page costs the API server nothing.
func (h *handler) diff(w http.ResponseWriter, r *http.Request, a access) {
	ns, name := r.PathValue("namespace"), r.PathValue("name")
	v, ok := h.opts.Syncs.View(ns, name)
	if !ok {
		http.NotFound(w, r)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), diffTimeout)
	defer cancel()
	d := &diff{row: newRow(v)}
	revision, diffs, err := h.opts.Syncs.Diff(ctx, ns, name)
	d.Revision = revision
	if err != nil {
		d.Err = err.Error()
	}
	for _, od := range diffs {
		o := objectDiff{Ref: od.Ref, Action: string(od.Action)}
		if od.Err != nil {
			o.Err = od.Err.Error()
		}
		for line := range strings.SplitSeq(strings.TrimRight(od.Diff, "\n"), "\n") {
			o.Lines = append(o.Lines, diffLine{Class: lineClass(line), Text: line})
		}
		d.Objects = append(d.Objects, o)
	}
	h.render(w, r, "diff", page{Title: v.Name + ": pending changes", Access: a, Diff: d})
}

func lineClass(line string) string {
	switch {
	case strings.HasPrefix(line, "+++"), strings.HasPrefix(line, "---"):
		return "file"
	case strings.HasPrefix(line, "@@"):
		return "hunk"
	case strings.HasPrefix(line, "+"):
		return "add"
	case strings.HasPrefix(line, "-"):
		return "del"
	}
	return ""
}

func (h *handler) apiSyncs(w http.ResponseWriter, _ *http.Request, _ access) {
	writeJSON(w, h.opts.Syncs.Views())
}

// apiObject is an object in the API's output.
type apiObject struct {
	Group     string        `json:"group,omitempty"`
	Kind      string        `json:"kind"`
	Namespace string        `json:"namespace,omitempty"`
	Name      string        `json:"name"`
	Status    status.Status `json:"status"`
	Message   string        `json:"message,omitempty"`
}

func (h *handler) apiSync(w http.ResponseWriter, r *http.Request, _ access) {
	v, objects, ok := h.withObjects(w, r)
	if !ok {
		return
	}
	out := struct {
		gsync.View
		Objects []apiObject `json:"objects"`
	}{View: v, Objects: make([]apiObject, 0, len(objects))}
	for _, o := range objects {
		out.Objects = append(out.Objects, apiObject{Group: o.ID.GroupKind.Group, Kind: o.ID.GroupKind.Kind,
			Namespace: o.ID.Namespace, Name: o.ID.Name, Status: o.Status, Message: o.Message})
	}
	writeJSON(w, out)
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// events streams a "change" event soon after anything the pages show
// changes (server-sent events); the page's script then fetches its live
// part again. A comment every 15 s keeps proxies from closing the stream.
func (h *handler) events(w http.ResponseWriter, r *http.Request, _ access) {
	flusher, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "streaming unsupported", http.StatusInternalServerError)
		return
	}
	changes, stop := h.opts.Syncs.Changes()
	defer stop()
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = fmt.Fprint(w, "retry: 1000\n\n")
	flusher.Flush()
	keepAlive := time.NewTicker(15 * time.Second)
	defer keepAlive.Stop()
	for n := 1; ; {
		select {
		case <-r.Context().Done():
			return
		case <-changes:
			_, _ = fmt.Fprintf(w, "event: change\ndata: %d\n\n", n)
			n++
		case <-keepAlive.C:
			_, _ = fmt.Fprint(w, ": keep-alive\n\n")
		}
		flusher.Flush()
	}
}

func syncPath(namespace, name string) string {
	return Prefix + "syncs/" + url.PathEscape(namespace) + "/" + url.PathEscape(name)
}

func short(rev string) string {
	if len(rev) > 12 {
		return rev[:12]
	}
	return rev
}

// ago says how long before now t was, coarsely.
func ago(now, t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return coarse(now.Sub(t)) + " ago"
}

// in says how long after now t is, coarsely.
func in(now, t time.Time) string {
	if t.IsZero() {
		return "now"
	}
	d := t.Sub(now)
	if d < time.Second {
		return "now"
	}
	return "in " + coarse(d)
}

func coarse(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(max(d.Seconds(), 0)))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh", int(d.Hours()))
	}
	return fmt.Sprintf("%dd", int(d.Hours()/24))
}

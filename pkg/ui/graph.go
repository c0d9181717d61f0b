package ui

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strings"

	template "github.com/DataDog/datadog-agent/pkg/template/html"

	gsync "github.com/gitsync-io/gitsync/pkg/sync"
)

// Sizes of the dependency graph, in SVG units.
const (
	nodeW, nodeH = 180, 40
	gapX, gapY   = 70, 16
	pad          = 8
)

// graph draws the dependsOn graph of the syncs as SVG: one column per
// depth (a sync is one column right of its deepest dependency), each node
// linking to its sync's page and coloured (and marked) by its state. It is
// no role="img": it holds links. It is empty when no sync depends on
// another.
func graph(views []gsync.View) template.HTML {
	byName := map[string]gsync.View{}
	linked := map[string]bool{}
	for _, v := range views {
		byName[v.Name] = v
		for _, d := range v.DependsOn {
			linked[v.Name], linked[d] = true, true
		}
	}
	if len(linked) == 0 {
		return ""
	}
	depth := map[string]int{}
	var depthOf func(name string, seen map[string]bool) int
	depthOf = func(name string, seen map[string]bool) int {
		if d, ok := depth[name]; ok {
			return d
		}
		if seen[name] { // a cycle: the config refuses them, draw it anyway
			return 0
		}
		seen[name] = true
		d := 0
		for _, dep := range byName[name].DependsOn {
			d = max(d, depthOf(dep, seen)+1)
		}
		depth[name] = d
		return d
	}
	var columns [][]string
	for _, name := range slices.Sorted(maps.Keys(linked)) {
		d := depthOf(name, map[string]bool{})
		for len(columns) <= d {
			columns = append(columns, nil)
		}
		columns[d] = append(columns[d], name)
	}
	type point struct{ x, y int }
	at := map[string]point{}
	rows := 0
	for c, names := range columns {
		for r, name := range names {
			at[name] = point{pad + c*(nodeW+gapX), pad + r*(nodeH+gapY)}
		}
		rows = max(rows, len(names))
	}
	width := 2*pad + len(columns)*nodeW + (len(columns)-1)*gapX
	height := 2*pad + rows*nodeH + (rows-1)*gapY

	var b strings.Builder
	var desc []string
	fmt.Fprintf(&b, `<svg class="graph" xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" aria-labelledby="graph-title" aria-describedby="graph-desc">`, width, height, width, height)
	b.WriteString(`<title id="graph-title">Dependencies between syncs</title>`)
	b.WriteString(`<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0L10,5L0,10z"/></marker></defs>`)
	for _, name := range slices.Sorted(maps.Keys(linked)) {
		v := byName[name]
		deps := slices.Clone(v.DependsOn)
		slices.Sort(deps)
		for _, d := range deps {
			from, to := at[d], at[name]
			x1, y1, x2, y2 := from.x+nodeW, from.y+nodeH/2, to.x, to.y+nodeH/2
			mid := (x1 + x2) / 2
			fmt.Fprintf(&b, `<path class="edge" d="M%d,%d C%d,%d %d,%d %d,%d" marker-end="url(#arrow)"/>`, x1, y1, mid, y1, mid, y2, x2, y2)
			desc = append(desc, fmt.Sprintf("%s waits for %s", name, d))
		}
	}
	for _, name := range slices.Sorted(maps.Keys(linked)) {
		p, v := at[name], byName[name]
		state, label := cmp.Or(v.State, gsync.StatePending), string(v.State)
		if _, here := byName[name]; !here {
			label = "run by another shard"
		}
		if v.Name != "" {
			fmt.Fprintf(&b, `<a href="%s">`, template.HTMLEscapeString(syncPath(v.Namespace, name)))
		}
		fmt.Fprintf(&b, `<g class="node %s"><rect x="%d" y="%d" width="%d" height="%d" rx="6"/>`, strings.ToLower(string(state)), p.x, p.y, nodeW, nodeH)
		fmt.Fprintf(&b, `<text x="%d" y="%d">%s %s</text>`, p.x+10, p.y+17, icons[state], template.HTMLEscapeString(clip(name, 20)))
		fmt.Fprintf(&b, `<text class="sub" x="%d" y="%d">%s</text></g>`, p.x+10, p.y+33, label)
		if v.Name != "" {
			b.WriteString(`</a>`)
		}
	}
	fmt.Fprintf(&b, `<desc id="graph-desc">%s.</desc></svg>`, template.HTMLEscapeString(strings.Join(desc, "; ")))
	return template.HTML(b.String()) // every name in it is escaped above
}

// clip shortens s to n runes with an ellipsis.
func clip(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

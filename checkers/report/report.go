// Package report writes a run as one self-contained HTML page: a timeline
// with a lane per node (raft state and term, roles, downtime, pauses,
// faults), the mesh's partitions, a row per client with its operations as
// bars from invoke to return, the liveness monitors' hot spans, and the
// violations drawn as red lines across everything and listed at the top.
//
// The page carries its data as one JSON blob and draws itself with inline
// JavaScript; it fetches nothing. The static part goes through html/template,
// and the blob through encoding/json inside a script element of type
// application/json, so no string from a history can break out of it.
//
// Write reads its Input and never modifies it.
package report

import (
	_ "embed"
	"fmt"
	"html/template"
	"io"
	"slices"
	"time"
	"unicode/utf8"

	"revoada.dev/revoada/checkers"
)

// Input is everything a report shows. Times are simulated.
type Input struct {
	Title       string // e.g. "leader-kill seed 7"
	Scenario    string
	Seed        uint64
	Fingerprint string
	Duration    time.Duration // simulated; the axis extends to cover any later time in the input
	Nodes       []string      // lane order; nodes named only by marks get lanes after these, sorted
	Marks       []checkers.Mark
	History     []checkers.Op
	Violations  []Violation
	Monitors    []Monitor // liveness monitors' hot spans
	Links       []Link    // other files beside the report to link to
}

// Violation is a property a checker found broken, at a point in time.
type Violation struct {
	Property string
	At       time.Duration
	Node     string // "" when it concerns no single node
	Detail   string
}

// Monitor is a liveness monitor's record: the spans in which it was hot
// (waiting for something to happen) and whether it failed (ended hot or
// stayed hot past its bound).
type Monitor struct {
	Name   string
	Hot    []Span
	Failed bool
}

// Span is a stretch of simulated time.
type Span struct{ From, To time.Duration }

// Link names another file to link to from the report, such as
// "linearizability.html" beside it.
type Link struct{ Name, Href string }

// Limits on what one operation carries into the page, so that a history of
// large values stays a page of bounded size. Longer strings are cut at a
// rune boundary and end in "…".
const (
	valueBytesMax = 160
	keyBytesMax   = 160
)

// The outcome classes an operation bar is coloured by.
const (
	classOK      = 0 // ok
	classRefused = 1 // a definite refusal: conflict, not-found, invalid, …
	classUnknown = 2 // effect unknown: timeout, crashed, unfinished, error
)

// opFields is the width of one operation's row in the page's JSON:
// client, invoke, return, class, verb, key, outcome, value, revision,
// served, node, items, expect, flags. Strings are indexes into the string
// table; expect is -1 when unset; flags bit 0 is a local read, bit 1 an
// operation with no return (drawn to the end).
const opFields = 14

// data is the JSON blob the page draws from. Times are microseconds.
type data struct {
	End        int64             `json:"end"`
	Nodes      []string          `json:"nodes"`
	Lanes      []lane            `json:"lanes"`
	Mesh       mesh              `json:"mesh"`
	Strs       []string          `json:"strs"`
	Clients    []int             `json:"clients"`
	Ops        [][opFields]int64 `json:"ops"`
	Monitors   []monitorData     `json:"monitors"`
	Violations [][4]any          `json:"violations"` // at, property, node, detail
}

type monitorData struct {
	Name   string     `json:"name"`
	Failed bool       `json:"failed"`
	Hot    [][2]int64 `json:"hot"`
}

// page is what the template fills the static part from.
type page struct {
	Title       string
	Scenario    string
	Seed        uint64
	Fingerprint string
	Duration    string
	Nodes       int
	Ops         int
	Links       []Link
	Violations  []violationRow
	CSS         template.CSS
	JS          template.JS
	Data        data
}

type violationRow struct {
	At                     string
	AtMicros               int64
	Property, Node, Detail string
}

//go:embed report.css
var css string

//go:embed report.js
var js string

//go:embed report.html.tmpl
var pageText string

var pageTemplate = template.Must(template.New("report").Parse(pageText))

// Write renders in as one HTML page to w. It answers the first error from
// w or from rendering, prefixed "report:".
func Write(w io.Writer, in Input) error {
	end := extent(in)
	marks := sortedMarks(in.Marks)
	nodes := laneNodes(in.Nodes, marks)
	d := data{
		End:        micros(end),
		Nodes:      nodes,
		Lanes:      buildLanes(nodes, marks, end),
		Mesh:       buildMesh(marks, end),
		Monitors:   monitors(in.Monitors),
		Violations: [][4]any{},
	}
	d.Strs, d.Clients, d.Ops = encodeOps(in.History, end)
	title := in.Title
	if title == "" {
		title = "revoada run"
	}
	p := page{
		Title:       title,
		Scenario:    in.Scenario,
		Seed:        in.Seed,
		Fingerprint: in.Fingerprint,
		Duration:    seconds(end),
		Nodes:       len(nodes),
		Ops:         len(in.History),
		Links:       in.Links,
		CSS:         template.CSS(css),
		JS:          template.JS(js),
	}
	vs := slices.Clone(in.Violations)
	slices.SortStableFunc(vs, func(a, b Violation) int { return cmpDuration(a.At, b.At) })
	for _, v := range vs {
		d.Violations = append(d.Violations, [4]any{micros(v.At), v.Property, v.Node, v.Detail})
		p.Violations = append(p.Violations, violationRow{
			At: seconds(v.At), AtMicros: micros(v.At),
			Property: v.Property, Node: v.Node, Detail: v.Detail,
		})
	}
	p.Data = d
	if err := pageTemplate.Execute(w, p); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	return nil
}

// extent answers the end of the time axis: the run's duration, or the
// latest time anything in the input names, or one second for an empty run.
func extent(in Input) time.Duration {
	end := in.Duration
	grow := func(t time.Duration) { end = max(end, t) }
	for _, m := range in.Marks {
		grow(m.At)
	}
	for i := range in.History {
		grow(in.History[i].Invoke)
		grow(in.History[i].Return)
	}
	for _, v := range in.Violations {
		grow(v.At)
	}
	for _, m := range in.Monitors {
		for _, s := range m.Hot {
			grow(s.To)
		}
	}
	if end <= 0 {
		end = time.Second
	}
	return end
}

func seconds(d time.Duration) string { return fmt.Sprintf("%.3f s", d.Seconds()) }

// encodeOps answers the history as compact rows sorted by client, then
// invoke time, with the strings they use interned in one table.
func encodeOps(history []checkers.Op, end time.Duration) (strs []string, clients []int, rows [][opFields]int64) {
	index := map[string]int64{}
	intern := func(s string) int64 {
		if i, ok := index[s]; ok {
			return i
		}
		i := int64(len(strs))
		index[s] = i
		strs = append(strs, s)
		return i
	}
	intern("")
	order := make([]int, len(history))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int {
		x, y := &history[a], &history[b]
		if x.Client != y.Client {
			return x.Client - y.Client
		}
		return cmpDuration(x.Invoke, y.Invoke)
	})
	rows = make([][opFields]int64, 0, len(history))
	clients = []int{}
	for _, i := range order {
		o := &history[i]
		if len(clients) == 0 || clients[len(clients)-1] != o.Client {
			clients = append(clients, o.Client)
		}
		ret, flags := o.Return, int64(0)
		if o.Local {
			flags |= 1
		}
		if ret < o.Invoke || (ret == 0 && o.Outcome == checkers.OutcomeUnfinished) {
			ret, flags = end, flags|2
		}
		expect := int64(-1)
		if o.Expect.Set {
			expect = int64(o.Expect.Revision)
		}
		rows = append(rows, [opFields]int64{
			int64(o.Client), micros(o.Invoke), micros(ret), outcomeClass(o),
			intern(o.Verb), intern(clip(o.Key, keyBytesMax)), intern(o.Outcome),
			intern(clip(o.Value, valueBytesMax)), int64(o.Revision), int64(o.Served),
			intern(o.Node), int64(len(o.Items) + len(o.Events)), expect, flags,
		})
	}
	return strs, clients, rows
}

// outcomeClass sorts an outcome into ok, a definite refusal, or unknown
// effect (checkers.Op.Unknown).
func outcomeClass(o *checkers.Op) int64 {
	switch {
	case o.Outcome == checkers.OutcomeOK:
		return classOK
	case o.Unknown():
		return classUnknown
	}
	return classRefused
}

// clip cuts s to at most n bytes on a rune boundary, marking the cut.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

func monitors(ms []Monitor) []monitorData {
	out := make([]monitorData, 0, len(ms))
	for _, m := range ms {
		md := monitorData{Name: m.Name, Failed: m.Failed, Hot: make([][2]int64, 0, len(m.Hot))}
		for _, s := range m.Hot {
			md.Hot = append(md.Hot, [2]int64{micros(s.From), micros(s.To)})
		}
		out = append(out, md)
	}
	return out
}

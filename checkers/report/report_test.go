package report

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"revoada.dev/revoada/checkers"
	"revoada.dev/revoada/core/store"
)

const s = time.Second

// sample is a small run: five nodes, a leader that crashes and is replaced,
// a pause, a partition and its heal, mesh-wide and node faults, three
// clients with every outcome class, a monitor and a violation.
func sample() Input {
	nodes := []string{"n1", "n2", "n3", "n4", "n5"}
	var marks []checkers.Mark
	for _, n := range nodes {
		marks = append(marks,
			checkers.Mark{At: 0, Node: n, Kind: checkers.MarkStart, Detail: "1"},
			checkers.Mark{At: 0, Node: n, Kind: checkers.MarkState, Detail: "follower term 0"},
		)
	}
	marks = append(marks,
		checkers.Mark{At: 1 * s, Node: "n1", Kind: checkers.MarkState, Detail: "leader term 1"},
		checkers.Mark{At: 1 * s, Node: "n1", Kind: checkers.MarkRoles, Detail: "control-plane"},
		checkers.Mark{At: 1 * s, Node: "n4", Kind: checkers.MarkRoles, Detail: "worker"},
		checkers.Mark{At: 2 * s, Node: "n2", Kind: checkers.MarkPause},
		checkers.Mark{At: 2500 * time.Millisecond, Node: "n2", Kind: checkers.MarkResume},
		checkers.Mark{At: 3 * s, Node: "n1", Kind: checkers.MarkCrash},
		checkers.Mark{At: 3200 * time.Millisecond, Node: "n3", Kind: checkers.MarkState, Detail: "candidate term 2"},
		checkers.Mark{At: 3300 * time.Millisecond, Node: "n3", Kind: checkers.MarkState, Detail: "leader term 2"},
		checkers.Mark{At: 4 * s, Node: "n1", Kind: checkers.MarkStart, Detail: "2"},
		checkers.Mark{At: 4100 * time.Millisecond, Node: "n1", Kind: checkers.MarkState, Detail: "follower term 2"},
		checkers.Mark{At: 5 * s, Kind: checkers.MarkPartition, Detail: "n1,n2 | n3,n4,n5"},
		checkers.Mark{At: 5500 * time.Millisecond, Kind: checkers.MarkFault, Detail: "loss 10%"},
		checkers.Mark{At: 5700 * time.Millisecond, Node: "n4", Kind: checkers.MarkShift, Detail: "n4 → control-plane"},
		checkers.Mark{At: 6 * s, Kind: checkers.MarkHeal},
	)
	ops := []checkers.Op{
		{Client: 1, Node: "n1", Verb: "apply", Key: "a", Value: "v1", Invoke: 1100 * time.Millisecond, Return: 1200 * time.Millisecond, Outcome: checkers.OutcomeOK, Revision: 2},
		{Client: 1, Node: "n1", Verb: "get", Key: "a", Value: "v1", Invoke: 1300 * time.Millisecond, Return: 1350 * time.Millisecond, Outcome: checkers.OutcomeOK, Revision: 2, Served: 2},
		{Client: 1, Node: "n1", Verb: "apply", Key: "a", Value: "v2", Invoke: 2900 * time.Millisecond, Return: 3 * s, Outcome: checkers.OutcomeCrashed},
		{Client: 2, Node: "n3", Verb: "apply", Key: "b", Value: "w", Expect: store.Expect{Set: true, Revision: 7}, Invoke: 1500 * time.Millisecond, Return: 1600 * time.Millisecond, Outcome: checkers.OutcomeConflict},
		{Client: 2, Node: "n3", Verb: "delete", Key: "zz", Invoke: 1700 * time.Millisecond, Return: 1800 * time.Millisecond, Outcome: checkers.OutcomeNotFound},
		{Client: 2, Node: "n2", Verb: "list", Invoke: 5100 * time.Millisecond, Return: 6500 * time.Millisecond, Outcome: checkers.OutcomeTimeout},
		{Client: 3, Node: "n4", Verb: "watch", Invoke: 500 * time.Millisecond, Outcome: checkers.OutcomeUnfinished},
		{Client: 3, Node: "n4", Verb: "get", Key: "a", Local: true, Invoke: 2 * s, Return: 2100 * time.Millisecond, Outcome: checkers.OutcomeOK},
	}
	return Input{
		Title:       "leader-kill seed 7",
		Scenario:    "leader-kill",
		Seed:        7,
		Fingerprint: "abc123",
		Duration:    8 * s,
		Nodes:       nodes,
		Marks:       marks,
		History:     ops,
		Violations: []Violation{{
			Property: "linearizability", At: 3500 * time.Millisecond, Node: "n3",
			Detail: "get a answered v1 after v2 was acknowledged",
		}},
		Monitors: []Monitor{
			{Name: "leader-elected", Hot: []Span{{3 * s, 3300 * time.Millisecond}}},
			{Name: "client-progress", Hot: []Span{{5 * s, 8 * s}}, Failed: true},
		},
		Links: []Link{{Name: "linearizability", Href: "linearizability.html"}},
	}
}

func write(t *testing.T, in Input) string {
	t.Helper()
	var b bytes.Buffer
	if err := Write(&b, in); err != nil {
		t.Fatalf("Write: %v", err)
	}
	return b.String()
}

// blob answers the page's JSON data, decoded.
func blob(t *testing.T, page string) data {
	t.Helper()
	const open = `<script type="application/json" id="data">`
	i := strings.Index(page, open)
	if i < 0 {
		t.Fatalf("no data script in page")
	}
	rest := page[i+len(open):]
	j := strings.Index(rest, "</script>")
	if j < 0 {
		t.Fatalf("data script not closed")
	}
	var d data
	if err := json.Unmarshal([]byte(rest[:j]), &d); err != nil {
		t.Fatalf("data is not JSON: %v\n%.400s", err, rest[:j])
	}
	return d
}

var voidElements = map[string]bool{
	"area": true, "base": true, "br": true, "col": true, "embed": true, "hr": true, "img": true,
	"input": true, "link": true, "meta": true, "source": true, "track": true, "wbr": true,
}

var tagRE = regexp.MustCompile(`<(/?)([a-zA-Z][a-zA-Z0-9-]*)((?:[^>"']|"[^"]*"|'[^']*')*)>`)

// checkWellFormed checks the page's tags nest and close, skipping the raw
// text of script and style elements as an HTML parser does.
func checkWellFormed(t *testing.T, page string) {
	t.Helper()
	if !strings.HasPrefix(page, "<!DOCTYPE html>") {
		t.Errorf("page does not start with a doctype")
	}
	var stack []string
	for rest := page; ; {
		loc := tagRE.FindStringSubmatchIndex(rest)
		if loc == nil {
			break
		}
		closing, name := rest[loc[2]:loc[3]] == "/", strings.ToLower(rest[loc[4]:loc[5]])
		rest = rest[loc[1]:]
		switch {
		case closing:
			if len(stack) == 0 || stack[len(stack)-1] != name {
				t.Fatalf("</%s> closes %v", name, stack)
			}
			stack = stack[:len(stack)-1]
		case voidElements[name]:
		case name == "script" || name == "style":
			end := strings.Index(strings.ToLower(rest), "</"+name)
			if end < 0 {
				t.Fatalf("<%s> never closed", name)
			}
			rest = rest[end+len(name)+3:]
		default:
			stack = append(stack, name)
		}
	}
	if len(stack) != 0 {
		t.Errorf("unclosed elements: %v", stack)
	}
}

func TestWriteCarriesTheRun(t *testing.T) {
	in := sample()
	page := write(t, in)
	checkWellFormed(t, page)
	for _, want := range []string{
		"<title>leader-kill seed 7</title>", "abc123", "8.000 s",
		`href="linearizability.html"`, "linearizability", "get a answered v1 after v2 was acknowledged",
		`class="violation-row" data-at="3500000"`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if strings.Contains(page, "http://") || strings.Contains(page, "https://") {
		t.Errorf("page refers to something outside itself")
	}
	d := blob(t, page)
	if !slices.Equal(d.Nodes, in.Nodes) || len(d.Lanes) != 5 {
		t.Fatalf("nodes %v, %d lanes", d.Nodes, len(d.Lanes))
	}
	if len(d.Ops) != len(in.History) || !slices.Equal(d.Clients, []int{1, 2, 3}) {
		t.Fatalf("%d ops, clients %v", len(d.Ops), d.Clients)
	}
	if d.End != 8e6 {
		t.Errorf("end %d µs, want 8e6", d.End)
	}
	classes := map[int64]int{}
	for _, o := range d.Ops {
		classes[o[3]]++
	}
	if classes[classOK] != 3 || classes[classRefused] != 2 || classes[classUnknown] != 3 {
		t.Errorf("outcome classes %v", classes)
	}
	// The watch never returned: it runs to the end, flagged.
	for _, o := range d.Ops {
		if d.Strs[o[4]] == "watch" && (o[2] != d.End || o[13]&2 == 0) {
			t.Errorf("unfinished watch row %v", o)
		}
		if d.Strs[o[4]] == "apply" && d.Strs[o[6]] == "conflict" && o[12] != 7 {
			t.Errorf("conflicting apply lost its expected revision: %v", o)
		}
	}
	if len(d.Violations) != 1 || len(d.Monitors) != 2 || !d.Monitors[1].Failed {
		t.Errorf("violations %v, monitors %+v", d.Violations, d.Monitors)
	}
}

// TestLanes checks the stretches derived from the marks against the
// timeline sample() describes.
func TestLanes(t *testing.T) {
	in := sample()
	marks := sortedMarks(in.Marks)
	lanes := buildLanes(in.Nodes, marks, 8*s)
	str := func(v any) string { return fmt.Sprint(v) }
	n1 := lanes[0]
	if got, want := str(n1.States), "[[0 1000000 follower 0] [1000000 3000000 leader 1] [4100000 8000000 follower 2]]"; got != want {
		t.Errorf("n1 states %s, want %s", got, want)
	}
	if got, want := str(n1.Down), "[[3000000 4000000 crashed]]"; got != want {
		t.Errorf("n1 down %s, want %s", got, want)
	}
	if got, want := str(n1.Roles), "[[1000000 8000000 control-plane]]"; got != want {
		t.Errorf("n1 roles %s, want %s", got, want)
	}
	if got, want := str(lanes[1].Paused), "[[2000000 2500000]]"; got != want {
		t.Errorf("n2 paused %s, want %s", got, want)
	}
	if got, want := str(lanes[2].States), "[[0 3200000 follower 0] [3200000 3300000 candidate 2] [3300000 8000000 leader 2]]"; got != want {
		t.Errorf("n3 states %s, want %s", got, want)
	}
	if got := str(lanes[3].Marks); !strings.Contains(got, "shift") {
		t.Errorf("n4 marks %s lack the shift", got)
	}
	m := buildMesh(marks, 8*s)
	if got, want := str(m.Partitions), "[[5000000 6000000 n1,n2 | n3,n4,n5]]"; got != want {
		t.Errorf("partitions %s, want %s", got, want)
	}
	if got, want := str(m.Marks), "[[5500000 fault loss 10%]]"; got != want {
		t.Errorf("mesh marks %s, want %s", got, want)
	}
	// A node that first starts late was down until then; one named only
	// by a mark gets a lane after the given ones.
	late := []checkers.Mark{
		{At: 2 * s, Node: "n9", Kind: checkers.MarkStart},
		{At: 3 * s, Node: "n9", Kind: checkers.MarkPause},
	}
	nodes := laneNodes([]string{"n1"}, late)
	if !slices.Equal(nodes, []string{"n1", "n9"}) {
		t.Fatalf("lane nodes %v", nodes)
	}
	ls := buildLanes(nodes, late, 4*s)
	if got, want := str(ls[1].Down)+str(ls[1].Paused), "[[0 2000000 not started]][[3000000 4000000]]"; got != want {
		t.Errorf("late node %s, want %s", got, want)
	}
}

func TestHostileStringsStayInert(t *testing.T) {
	const evil = `</script><script>alert(1)</script><!-- <img src=x onerror=alert(2)>`
	in := sample()
	in.Title = evil
	in.Scenario = evil
	in.Fingerprint = evil
	in.Nodes = append(in.Nodes, evil)
	in.Marks = append(in.Marks, checkers.Mark{At: s, Node: evil, Kind: evil, Detail: evil},
		checkers.Mark{At: 5 * s, Kind: checkers.MarkPartition, Detail: evil})
	in.History = append(in.History, checkers.Op{Client: 9, Node: evil, Verb: evil, Key: evil, Value: evil, Outcome: evil, Invoke: s, Return: 2 * s})
	in.Violations = append(in.Violations, Violation{Property: evil, Node: evil, Detail: evil, At: s})
	in.Monitors = append(in.Monitors, Monitor{Name: evil})
	in.Links = append(in.Links, Link{Name: evil, Href: "javascript:alert(3)"})
	page := write(t, in)
	checkWellFormed(t, page)
	if n := strings.Count(page, "<script"); n != 2 {
		t.Errorf("%d script tags, want 2", n)
	}
	if n := strings.Count(page, "</script"); n != 2 {
		t.Errorf("%d script ends, want 2", n)
	}
	for _, bad := range []string{"alert(1)</script>", "<img", "<!--", "javascript:alert"} {
		if strings.Contains(page, bad) {
			t.Errorf("page contains %q", bad)
		}
	}
	d := blob(t, page)
	found := false
	for _, v := range d.Violations {
		found = found || v[3] == evil
	}
	if !found || !slices.Contains(d.Strs, evil) || d.Nodes[5] != evil {
		t.Errorf("hostile strings did not survive as data")
	}
}

func TestEmpty(t *testing.T) {
	page := write(t, Input{})
	checkWellFormed(t, page)
	if !strings.Contains(page, "No violations.") {
		t.Errorf("empty run does not say it has no violations")
	}
	const open = `<script type="application/json" id="data">`
	i := strings.Index(page, open)
	raw := page[i+len(open) : i+len(open)+strings.Index(page[i+len(open):], "</script>")]
	if strings.Contains(raw, "null") {
		t.Errorf("empty data has nulls the page would trip on: %s", raw)
	}
	d := blob(t, page)
	if d.End != 1e6 || len(d.Nodes) != 0 || len(d.Ops) != 0 {
		t.Errorf("empty data %+v", d)
	}
	// Nodes but no marks: lanes with nothing on them.
	d = blob(t, write(t, Input{Nodes: []string{"n1", "n2"}, Duration: 3 * s}))
	if len(d.Lanes) != 2 || len(d.Lanes[0].States) != 0 || len(d.Lanes[0].Down) != 0 {
		t.Errorf("markless lanes %+v", d.Lanes)
	}
}

func TestWriteLeavesInputAlone(t *testing.T) {
	in := sample()
	slices.Reverse(in.Marks)
	before := fmt.Sprint(in)
	write(t, in)
	if fmt.Sprint(in) != before {
		t.Errorf("Write modified its input")
	}
}

// bigInput is a run of n operations over five nodes and 50 clients, with
// 24-byte values and a leader change every ten seconds.
func bigInput(n int) Input {
	in := Input{Title: "big", Nodes: []string{"n1", "n2", "n3", "n4", "n5"}}
	outcomes := []string{checkers.OutcomeOK, checkers.OutcomeOK, checkers.OutcomeOK, checkers.OutcomeConflict, checkers.OutcomeTimeout}
	verbs := []string{"apply", "get", "apply", "delete", "list"}
	for i := range n {
		at := time.Duration(i) * 10 * time.Millisecond
		in.History = append(in.History, checkers.Op{
			Client: i % 50, Node: in.Nodes[i%5], Verb: verbs[i%5], Key: fmt.Sprintf("pods/default/web-%d", i%500),
			Value: fmt.Sprintf("value-%018d", i), Invoke: at, Return: at + 37*time.Millisecond,
			Outcome: outcomes[i%5], Revision: store.Revision(i), Served: store.Revision(i),
		})
		if i%1000 == 0 {
			in.Marks = append(in.Marks, checkers.Mark{At: at, Node: in.Nodes[(i/1000)%5], Kind: checkers.MarkState,
				Detail: fmt.Sprintf("leader term %d", i/1000)})
		}
	}
	in.Duration = time.Duration(n) * 10 * time.Millisecond
	return in
}

type counter int

func (c *counter) Write(p []byte) (int, error) { *c += counter(len(p)); return len(p), nil }

// TestSize bounds the page for 10,000 operations at 10 MB, and checks that
// 100,000 still write.
func TestSize(t *testing.T) {
	const bytesMax = 10 << 20
	var c counter
	if err := Write(&c, bigInput(10_000)); err != nil {
		t.Fatal(err)
	}
	t.Logf("10,000 ops: %d bytes (%.1f per op)", c, float64(c)/10_000)
	if c > bytesMax {
		t.Errorf("10,000 ops make %d bytes, more than %d", c, bytesMax)
	}
	if testing.Short() {
		return
	}
	c = 0
	if err := Write(&c, bigInput(100_000)); err != nil {
		t.Fatal(err)
	}
	t.Logf("100,000 ops: %d bytes", c)
}

func TestClip(t *testing.T) {
	if got := clip("héllo", 2); got != "h…" {
		t.Errorf("clip cut inside a rune: %q", got)
	}
	if got := clip(strings.Repeat("x", valueBytesMax+50), valueBytesMax); len(got) != valueBytesMax+len("…") {
		t.Errorf("clip length %d", len(got))
	}
	if err := Write(io.Discard, Input{History: []checkers.Op{{Value: strings.Repeat("é", 1000)}}}); err != nil {
		t.Fatal(err)
	}
}

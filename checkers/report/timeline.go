package report

import (
	"slices"
	"strconv"
	"strings"
	"time"

	"revoada.dev/revoada/checkers"
)

// lane is one node's derived timeline: stretches of raft state, roles,
// downtime and pauses, and the marks drawn as points. Times are
// microseconds of simulated time.
type lane struct {
	States [][4]any   `json:"states"` // from, to, state, term
	Roles  [][3]any   `json:"roles"`  // from, to, role
	Down   [][3]any   `json:"down"`   // from, to, why
	Paused [][2]int64 `json:"paused"`
	Marks  [][3]any   `json:"marks"` // at, kind, detail
}

// mesh is what concerns the whole mesh: partitions (with their groups) and
// marks that name no node.
type mesh struct {
	Partitions [][3]any `json:"partitions"` // from, to, groups
	Marks      [][3]any `json:"marks"`
}

// micros converts a simulated duration to the page's unit.
func micros(d time.Duration) int64 { return int64(d / time.Microsecond) }

// laneNodes answers the lane order: the given nodes first, then any other
// node a mark names, sorted.
func laneNodes(nodes []string, marks []checkers.Mark) []string {
	out := append(make([]string, 0, len(nodes)), nodes...)
	seen := make(map[string]bool, len(nodes))
	for _, n := range nodes {
		seen[n] = true
	}
	var extra []string
	for _, m := range marks {
		if m.Node != "" && !seen[m.Node] {
			seen[m.Node] = true
			extra = append(extra, m.Node)
		}
	}
	slices.Sort(extra)
	return append(out, extra...)
}

// sortedMarks answers a copy of marks in time order, keeping the given
// order among marks at the same instant. The caller's slice is not touched.
func sortedMarks(marks []checkers.Mark) []checkers.Mark {
	out := slices.Clone(marks)
	slices.SortStableFunc(out, func(a, b checkers.Mark) int {
		return cmpDuration(a.At, b.At)
	})
	return out
}

func cmpDuration(a, b time.Duration) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// laneBuilder follows one node's marks in time order.
type laneBuilder struct {
	out       lane
	up        bool
	downFrom  time.Duration
	downWhy   string
	paused    bool
	pauseFrom time.Duration
	state     string // "" for none
	term      int64
	stateFrom time.Duration
	role      string // "" for none
	roleFrom  time.Duration
}

// buildLanes derives one lane per node from marks sorted by time, each
// stretch closed at the next mark that ends it or at end.
func buildLanes(nodes []string, marks []checkers.Mark, end time.Duration) []lane {
	bs := make(map[string]*laneBuilder, len(nodes))
	for _, n := range nodes {
		bs[n] = &laneBuilder{up: true}
	}
	// A node whose first start comes after time zero, with no crash before
	// it, was not running until then.
	first := make(map[string]bool, len(nodes))
	for _, m := range marks {
		if m.Kind != checkers.MarkStart && m.Kind != checkers.MarkCrash || first[m.Node] {
			continue
		}
		first[m.Node] = true
		if b := bs[m.Node]; b != nil && m.Kind == checkers.MarkStart && m.At > 0 {
			b.up, b.downFrom, b.downWhy = false, 0, "not started"
		}
	}
	for _, m := range marks {
		if b := bs[m.Node]; b != nil {
			b.step(m)
		}
	}
	out := make([]lane, len(nodes))
	for i, n := range nodes {
		b := bs[n]
		b.finish(end)
		out[i] = b.out
	}
	return out
}

func (b *laneBuilder) step(m checkers.Mark) {
	switch m.Kind {
	case checkers.MarkStart:
		if !b.up {
			b.closeDown(m.At)
		}
		b.up = true
	case checkers.MarkCrash:
		b.mark(m)
		if b.up {
			b.closeState(m.At)
			b.closePause(m.At)
			b.up, b.downFrom, b.downWhy = false, m.At, "crashed"
		}
	case checkers.MarkPause:
		if !b.paused {
			b.paused, b.pauseFrom = true, m.At
		}
	case checkers.MarkResume:
		b.closePause(m.At)
	case checkers.MarkState:
		b.closeState(m.At)
		b.state, b.term = parseState(m.Detail)
		b.stateFrom = m.At
	case checkers.MarkRoles:
		b.closeRole(m.At)
		b.role, b.roleFrom = strings.TrimSpace(m.Detail), m.At
	default:
		b.mark(m)
	}
}

func (b *laneBuilder) mark(m checkers.Mark) {
	b.out.Marks = append(b.out.Marks, [3]any{micros(m.At), m.Kind, m.Detail})
}

func (b *laneBuilder) closeDown(at time.Duration) {
	if at > b.downFrom {
		b.out.Down = append(b.out.Down, [3]any{micros(b.downFrom), micros(at), b.downWhy})
	}
}

func (b *laneBuilder) closePause(at time.Duration) {
	if b.paused && at > b.pauseFrom {
		b.out.Paused = append(b.out.Paused, [2]int64{micros(b.pauseFrom), micros(at)})
	}
	b.paused = false
}

func (b *laneBuilder) closeState(at time.Duration) {
	if b.state != "" && at > b.stateFrom {
		b.out.States = append(b.out.States, [4]any{micros(b.stateFrom), micros(at), b.state, b.term})
	}
	b.state = ""
}

func (b *laneBuilder) closeRole(at time.Duration) {
	if b.role != "" && at > b.roleFrom {
		b.out.Roles = append(b.out.Roles, [3]any{micros(b.roleFrom), micros(at), b.role})
	}
	b.role = ""
}

// finish closes every open stretch at end. Roles are committed cluster
// state, so a crash does not end them; they run to the end.
func (b *laneBuilder) finish(end time.Duration) {
	if !b.up {
		b.closeDown(end)
	}
	b.closePause(end)
	b.closeState(end)
	b.closeRole(end)
	if b.out.States == nil {
		b.out.States = [][4]any{}
	}
	if b.out.Roles == nil {
		b.out.Roles = [][3]any{}
	}
	if b.out.Down == nil {
		b.out.Down = [][3]any{}
	}
	if b.out.Paused == nil {
		b.out.Paused = [][2]int64{}
	}
	if b.out.Marks == nil {
		b.out.Marks = [][3]any{}
	}
}

// parseState reads a MarkState detail, "leader term 3", into its state and
// term (-1 when the detail names none).
func parseState(detail string) (string, int64) {
	f := strings.Fields(detail)
	if len(f) == 0 {
		return "unknown", -1
	}
	term := int64(-1)
	for i := 1; i+1 < len(f); i++ {
		if f[i] == "term" {
			if t, err := strconv.ParseInt(f[i+1], 10, 64); err == nil {
				term = t
			}
		}
	}
	return f[0], term
}

// buildMesh derives the partition stretches and the node-less marks. A
// partition lasts until the next heal or the next partition, which
// replaces it.
func buildMesh(marks []checkers.Mark, end time.Duration) mesh {
	out := mesh{Partitions: [][3]any{}, Marks: [][3]any{}}
	open := false
	var from time.Duration
	var groups string
	closeAt := func(at time.Duration) {
		if open && at > from {
			out.Partitions = append(out.Partitions, [3]any{micros(from), micros(at), groups})
		}
		open = false
	}
	for _, m := range marks {
		switch {
		case m.Kind == checkers.MarkPartition:
			closeAt(m.At)
			open, from, groups = true, m.At, m.Detail
		case m.Kind == checkers.MarkHeal:
			closeAt(m.At)
		case m.Node == "":
			out.Marks = append(out.Marks, [3]any{micros(m.At), m.Kind, m.Detail})
		}
	}
	closeAt(end)
	return out
}

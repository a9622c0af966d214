package sim

import (
	"fmt"
	"slices"
)

// SelectorMesh is what resolving a selector reads of a mesh at one moment:
// the simulator's nodes, or a real run's view of its processes (package
// real/world). Nodes are indices 0..Nodes()-1, n1 being 0.
type SelectorMesh interface {
	Nodes() int
	// Leader is the running, unpaused node leading the highest term; -1
	// for none.
	Leader() int
	// Voters are the committed shape's voters, running or not, sorted.
	Voters() []int
	Up(i int) bool     // node i runs (paused or not)
	Worker(i int) bool // node i holds the worker role alone
	// Pick draws k distinct nodes of from (all of them if fewer), sorted.
	Pick(from []int, k int) []int
}

// Resolve is the nodes a selector picks now: a node name, a not-list (the
// complement), or a dynamic selector — leader (a random running voter
// when there is none), follower, random-voter, random-worker, random,
// minority and majority of the voters.
func Resolve(m SelectorMesh, sel Selector) []int {
	if sels, ok := sel.Negated(); ok {
		return Complement(m, sels, nil)
	}
	liveVoters := func() []int {
		return slices.DeleteFunc(m.Voters(), func(i int) bool { return !m.Up(i) })
	}
	switch sel {
	case "leader":
		if l := m.Leader(); l >= 0 {
			return []int{l}
		}
		return m.Pick(liveVoters(), 1)
	case "follower":
		l := m.Leader()
		return m.Pick(slices.DeleteFunc(liveVoters(), func(i int) bool { return i == l }), 1)
	case "random-voter":
		return m.Pick(liveVoters(), 1)
	case "random-worker":
		var ws []int
		for i := range m.Nodes() {
			if m.Worker(i) && m.Up(i) {
				ws = append(ws, i)
			}
		}
		return m.Pick(ws, 1)
	case "random":
		var live []int
		for i := range m.Nodes() {
			if m.Up(i) {
				live = append(live, i)
			}
		}
		return m.Pick(live, 1)
	case "minority", "majority":
		voters := m.Voters()
		k := (len(voters) - 1) / 2
		if sel == "majority" {
			k = len(voters)/2 + 1
		}
		return m.Pick(voters, k)
	}
	n, ok := sel.Node()
	if !ok {
		panic(fmt.Sprintf("sim: unvalidated selector %q", sel))
	}
	return []int{n - 1}
}

// Complement is every node of the mesh, up or down, that none of sels
// picks. A selector with an entry in picked stands for the nodes it picked
// there (in the same partition); the others are resolved now, in order.
func Complement(m SelectorMesh, sels []Selector, picked map[Selector][]int) []int {
	out := make([]bool, m.Nodes())
	for _, sel := range sels {
		nodes, ok := picked[sel]
		if !ok {
			nodes = Resolve(m, sel)
		}
		for _, i := range nodes {
			out[i] = true
		}
	}
	var rest []int
	for i, o := range out {
		if !o {
			rest = append(rest, i)
		}
	}
	return rest
}

package sim

import (
	"fmt"
	"slices"
	"time"

	"go.etcd.io/raft/v3"

	"revoada.dev/revoada/core/attest"
	"revoada.dev/revoada/core/node"
	"revoada.dev/revoada/core/roles"
	"revoada.dev/revoada/core/store"
)

// ViolationsMax bounds the violations one run records.
const ViolationsMax = 100

// The safety properties checked on every run.
const (
	PropOneLeader     = "one-leader-per-term"  // at most one leader per term
	PropLogAgreement  = "log-agreement"        // no two nodes apply different entries at one index
	PropShapeMatches  = "shape-matches-log"    // a node's shape is the one its applied log prefix implies
	PropVotersAreEtcd = "voters-are-etcd"      // raft voters = etcd holders at every applied index
	PropLeaderAfter   = "leader-after-heal"    // a leader within 10 election timeouts of the last heal
	PropAllApplied    = "committed-everywhere" // every committed entry applied on every live member
	PropCommandsDone  = "commands-complete"
	PropConverge      = "converge"
	PropPanic         = "panic"
	PropInvalidPlan   = "invalid-plan"
	PropWire          = "wire" // every message sent decodes from its wire encoding (net/wire) as itself
	// PropChain: every node's attested role history is the one its applied
	// log prefix implies, and at the end the history verifies
	// (attest.Verify), records every shape change, and leaves the shape
	// the log does.
	PropChain = "chain-agrees"
)

// checker judges what nodes publish (Ready's Status and Applied); it never
// reads node state. It replays the log through its own node.Machine to know
// the shape every prefix implies.
type checker struct {
	boot       roles.Shape
	violations []Violation
	leaders    map[uint64]int // term -> node index

	ref      *node.Machine
	shape    roles.Shape // ref's as of refIndex, a copy replaced (never written) when it changes
	refIndex uint64
	entries  map[uint64]roles.Digest // index -> entry digest
	shapes   map[uint64]roles.Digest // index -> shape digest after it
	chains   map[uint64]attest.Hash  // index -> the role history's head after it

	leftAt     map[roles.NodeID]time.Duration // when the committed shape last lost each node
	writes     []store.Event                  // every store write in log order: the linearization of writes
	members    []uint64                       // raft voters and learners at refIndex
	cpCount    int                            // control-plane nodes at refIndex
	cpChangeAt time.Duration
}

func newChecker(bootstrap roles.Shape) *checker {
	c := &checker{
		boot:    bootstrap,
		leaders: map[uint64]int{},
		ref:     node.NewMachine(bootstrap), shape: bootstrap.Clone(),
		entries: map[uint64]roles.Digest{}, shapes: map[uint64]roles.Digest{}, chains: map[uint64]attest.Hash{},
		refIndex: 1, cpCount: bootstrap.ControlPlaneCount(), leftAt: map[roles.NodeID]time.Duration{},
	}
	c.shapes[1] = bootstrap.Digest()
	c.chains[1] = c.ref.Chain().Head()
	for _, v := range bootstrap.Voters() {
		c.members = append(c.members, v.RaftID())
	}
	slices.Sort(c.members)
	return c
}

func (c *checker) fail(at time.Duration, prop, node, format string, args ...any) {
	if len(c.violations) < ViolationsMax {
		c.violations = append(c.violations, Violation{Property: prop, At: at, Node: node, Detail: fmt.Sprintf(format, args...)})
	}
}

func (c *checker) bootstrap() roles.Shape { return c.boot }

// hasViolation reports whether the property was violated so far.
func (c *checker) hasViolation(prop string) bool {
	return slices.ContainsFunc(c.violations, func(v Violation) bool { return v.Property == prop })
}

func (c *checker) status(at time.Duration, i int, name string, st node.Status) {
	if st.State != raft.StateLeader {
		return
	}
	if prev, ok := c.leaders[st.Term]; ok && prev != i {
		c.fail(at, PropOneLeader, name, "n%d and n%d both lead term %d", prev+1, i+1, st.Term)
		return
	}
	c.leaders[st.Term] = i
}

func (c *checker) applied(at time.Duration, name string, a node.Applied) {
	if !slices.Equal(a.ConfVoters, a.ShapeVoters) {
		c.fail(at, PropVotersAreEtcd, name, "index %d: raft voters %v, etcd holders %v", a.Index, a.ConfVoters, a.ShapeVoters)
	}
	if a.Raw != nil {
		c.entry(at, name, a)
	}
	want, ok := c.shapes[a.Index]
	switch {
	case !ok:
		c.fail(at, PropShapeMatches, name, "index %d applied before the log up to it was known", a.Index)
	case want != a.Shape:
		c.fail(at, PropShapeMatches, name, "index %d: shape %s, the log implies %s", a.Index, a.Shape.String()[:12], want.String()[:12])
	}
	if want, ok := c.chains[a.Index]; ok && want != a.Chain {
		c.fail(at, PropChain, name, "index %d: role history head %s, the log implies %s", a.Index, a.Chain.Short(), want.Short())
	}
}

// checkChain judges PropChain at the end of a run on the history the whole
// log implies.
func (c *checker) checkChain(at time.Duration) {
	chain := c.ref.Chain()
	switch r, err := attest.Verify(chain.Blocks(), nil); {
	case err != nil:
		c.fail(at, PropChain, "", "the role history does not verify: %v", err)
	case c.ref.Unsigned() > 0:
		c.fail(at, PropChain, "", "%d shape changes are not in the role history", c.ref.Unsigned())
	case !chain.Shape().Equal(c.ref.Shape()):
		c.fail(at, PropChain, "", "the role history's %d blocks leave shape %s, the log %s", r.Blocks, chain.Shape().Digest().String()[:12], c.ref.Shape().Digest().String()[:12])
	}
}

// entry checks agreement at the entry's index and, for a new index, replays
// it through the reference machine.
func (c *checker) entry(at time.Duration, name string, a node.Applied) {
	if d, seen := c.entries[a.Index]; seen {
		if d != a.Entry {
			c.fail(at, PropLogAgreement, name, "index %d: entry %s, another node applied %s", a.Index, a.Entry.String()[:12], d.String()[:12])
		}
		return
	}
	if a.Index != c.refIndex+1 {
		c.fail(at, PropLogAgreement, name, "index %d applied while the log is known only up to %d", a.Index, c.refIndex)
		return
	}
	before := c.ref.ShapeDigest()
	if ev := c.ref.Apply(a.Raw).Event(); ev != nil {
		c.writes = append(c.writes, *ev)
	}
	c.entries[a.Index] = a.Entry
	c.shapes[a.Index] = c.ref.ShapeDigest()
	c.chains[a.Index] = c.ref.Chain().Head()
	c.refIndex = a.Index
	c.members = append(slices.Clone(a.ConfVoters), a.ConfLearners...)
	slices.Sort(c.members)
	if c.shapes[a.Index] == before { // most entries: the shape is the same
		return
	}
	was, shape := c.shape, c.ref.Shape()
	c.shape = shape
	if shape.Len() < was.Len() {
		for _, m := range was.Members() {
			if _, ok := shape.Roles(m.Node); !ok {
				c.leftAt[m.Node] = at
			}
		}
	}
	if n := shape.ControlPlaneCount(); n != c.cpCount {
		c.cpCount, c.cpChangeAt = n, at
	}
}

// isMember reports whether a raft ID is a voter or learner of the latest
// configuration the log implies.
func (c *checker) isMember(raftID uint64) bool {
	_, ok := slices.BinarySearch(c.members, raftID)
	return ok
}

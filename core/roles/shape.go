package roles

import (
	"fmt"
	"maps"
	"slices"
)

// Member is one node of the shape with its roles.
type Member struct {
	Node  NodeID
	Roles Roles
}

// Shape is the mesh shape: every known node and the roles it holds. The zero
// Shape is empty and invalid; build one with NewShape.
type Shape struct {
	members map[NodeID]Roles
	// ids are the members' NodeIDs in order. Most shifts change roles, not
	// who is a member, so they are sorted by NewShape and shared by clones;
	// a Join or Leave replaces them with a new slice, never writes to them.
	ids []NodeID
}

// NewShape builds a shape from its members and validates it: at most
// ShapeMembersMax of them, so that every shape decodes.
func NewShape(members []Member) (Shape, error) {
	if len(members) > ShapeMembersMax {
		return Shape{}, fmt.Errorf("roles: a shape of %d nodes, limit %d", len(members), ShapeMembersMax)
	}
	s := Shape{members: make(map[NodeID]Roles, len(members))}
	raftIDs := make(map[uint64]NodeID, len(members))
	for _, m := range members {
		if _, dup := s.members[m.Node]; dup {
			return Shape{}, fmt.Errorf("roles: node %s listed twice", m.Node.Short())
		}
		if other, dup := raftIDs[m.Node.RaftID()]; dup {
			return Shape{}, fmt.Errorf("roles: nodes %s and %s share raft id %d", other.Short(), m.Node.Short(), m.Node.RaftID())
		}
		s.members[m.Node] = m.Roles
		raftIDs[m.Node.RaftID()] = m.Node
	}
	s.ids = slices.SortedFunc(maps.Keys(s.members), NodeID.Compare)
	return s, s.Validate()
}

// Validate checks the shape's invariants.
func (s Shape) Validate() error {
	for _, m := range s.Members() {
		if !m.Roles.valid() {
			return fmt.Errorf("roles: node %s holds an invalid role set %s", m.Node.Short(), m.Roles)
		}
	}
	if len(s.Voters()) == 0 {
		return fmt.Errorf("roles: no node holds etcd")
	}
	return nil
}

// Nodes lists every node in NodeID order, as Members does, without their
// roles and without a copy: the slice is the shape's, shared with its
// clones, and callers must only read it.
func (s Shape) Nodes() []NodeID { return s.ids }

// Len is the number of nodes.
func (s Shape) Len() int { return len(s.members) }

// Roles returns the roles of a node and whether the node is known.
func (s Shape) Roles(id NodeID) (Roles, bool) {
	r, ok := s.members[id]
	return r, ok
}

// Members lists every node in NodeID order.
func (s Shape) Members() []Member {
	out := make([]Member, 0, len(s.members))
	for _, id := range s.ids {
		out = append(out, Member{Node: id, Roles: s.members[id]})
	}
	return out
}

// Holders lists, in NodeID order, the nodes that hold every role of r.
func (s Shape) Holders(r Roles) []NodeID {
	var out []NodeID
	for _, id := range s.ids {
		if s.members[id].Has(r) {
			out = append(out, id)
		}
	}
	return out
}

// Voters lists the etcd holders, which are the Raft voters, in NodeID order.
func (s Shape) Voters() []NodeID { return s.Holders(Etcd) }

// ControlPlaneCount is the number of nodes holding any control-plane role.
func (s Shape) ControlPlaneCount() int {
	n := 0
	for _, r := range s.members {
		if r.IsControlPlane() {
			n++
		}
	}
	return n
}

// Clone returns an independent copy.
func (s Shape) Clone() Shape { return Shape{members: maps.Clone(s.members), ids: s.ids} }

// Equal reports whether two shapes hold the same nodes with the same roles.
func (s Shape) Equal(o Shape) bool { return maps.Equal(s.members, o.members) }

// VoterChange is the change a shift makes to the voter set.
type VoterChange struct {
	Add, Remove []NodeID // in NodeID order
}

// Empty reports whether the voter set is unchanged.
func (c VoterChange) Empty() bool { return len(c.Add) == 0 && len(c.Remove) == 0 }

// Plan applies the shift to a copy of the shape and returns the resulting
// shape and its voter change, or the rejection. The receiver is not changed.
func (s Shape) Plan(sh Shift) (Shape, VoterChange, *Rejection) {
	if len(sh) == 0 {
		return s, VoterChange{}, reject(0, ErrEmptyShift, "a shift needs at least one command")
	}
	next := s.Clone()
	for i, c := range sh {
		if c.Kind != Join && c.Kind != Leave && slices.ContainsFunc(sh[:i], func(j Command) bool { return j.Kind == Join && j.Node == c.Node }) {
			// Raft must know a node before it stages it as a learner.
			return s, VoterChange{}, reject(i, ErrInvalidCommand, "node %s joins in this shift: change its roles in a later one", c.Node.Short())
		}
		if rej := next.apply(i, c); rej != nil {
			return s, VoterChange{}, rej
		}
	}
	if len(next.Voters()) == 0 {
		return s, VoterChange{}, reject(len(sh)-1, ErrLastVoter, "the shift leaves no node holding etcd")
	}
	change := voterChange(s.Voters(), next.Voters())
	if len(change.Remove) > 0 && len(change.Remove) == len(s.Voters()) {
		return s, VoterChange{}, reject(len(sh)-1, ErrNoVoterStays, "the shift takes all %d voters out at once: keep one for a later shift", len(change.Remove))
	}
	return next, change, nil
}

// Apply applies the shift atomically. It returns whether the shape changed,
// or the rejection (in which case the shape is unchanged).
func (s *Shape) Apply(sh Shift) (changed bool, rej *Rejection) {
	next, _, rej := s.Plan(sh)
	if rej != nil {
		return false, rej
	}
	changed = !s.Equal(next)
	*s = next
	return changed, nil
}

func (s *Shape) apply(i int, c Command) *Rejection {
	if _, ok := reasonNames[c.Reason]; !ok {
		return reject(i, ErrInvalidCommand, "unknown reason %d", c.Reason)
	}
	if c.Addr != "" && c.Kind != Join || len(c.Addr) > AddrBytesMax {
		return reject(i, ErrInvalidCommand, "an address (%d bytes, at most %d) belongs to a join only", len(c.Addr), AddrBytesMax)
	}
	if c.Kind == Join || c.Kind == Leave {
		return s.admit(i, c)
	}
	cur, ok := s.members[c.Node]
	if !ok {
		return reject(i, ErrUnknownNode, "node %s is not in the mesh", c.Node.Short())
	}
	want := c.Roles
	if want == 0 {
		want = ControlPlane
	}
	switch c.Kind {
	case Promote, Demote:
		if want&^ControlPlane != 0 {
			return reject(i, ErrInvalidCommand, "%s takes control-plane roles, not %s", c.Kind, want&^ControlPlane)
		}
		if cur == Quarantined {
			return reject(i, ErrQuarantined, "node %s is quarantined", c.Node.Short())
		}
		if cur == Observer {
			return reject(i, ErrObserver, "node %s is an observer", c.Node.Short())
		}
		next := cur &^ Worker
		if c.Kind == Promote {
			next |= want
		} else {
			next &^= want
		}
		if next == 0 {
			next = Worker
		}
		s.members[c.Node] = next
	case Quarantine:
		if c.Roles != 0 {
			return reject(i, ErrInvalidCommand, "quarantine takes no roles")
		}
		s.members[c.Node] = Quarantined
	case Restore:
		if c.Roles != 0 {
			return reject(i, ErrInvalidCommand, "restore takes no roles")
		}
		if cur == Quarantined {
			s.members[c.Node] = Worker
		}
	default:
		return reject(i, ErrInvalidCommand, "unknown command kind %d", c.Kind)
	}
	if cur.Has(Etcd) && !s.members[c.Node].Has(Etcd) && len(s.Voters()) == 0 {
		return reject(i, ErrLastVoter, "node %s holds the last etcd role", c.Node.Short())
	}
	return nil
}

// admit applies a Join or a Leave: the commands that change who is a member.
func (s *Shape) admit(i int, c Command) *Rejection {
	if c.Roles != 0 {
		return reject(i, ErrInvalidCommand, "%s takes no roles", c.Kind)
	}
	cur, member := s.members[c.Node]
	switch {
	case c.Kind == Join && member, c.Kind == Leave && !member:
		return nil
	case c.Kind == Join:
		if len(s.members) >= ShapeMembersMax {
			return reject(i, ErrShapeFull, "the shape holds %d nodes, the most it may", len(s.members))
		}
		for _, id := range s.ids {
			if id.RaftID() == c.Node.RaftID() {
				return reject(i, ErrShapeFull, "node %s has the raft id of member %s", c.Node.Short(), id.Short())
			}
		}
		s.members[c.Node] = Worker
		at, _ := slices.BinarySearchFunc(s.ids, c.Node, NodeID.Compare)
		s.ids = slices.Insert(slices.Clip(s.ids), at, c.Node)
	default:
		delete(s.members, c.Node)
		s.ids = slices.DeleteFunc(slices.Clone(s.ids), func(id NodeID) bool { return id == c.Node })
		if cur.Has(Etcd) && len(s.Voters()) == 0 {
			return reject(i, ErrLastVoter, "node %s holds the last etcd role", c.Node.Short())
		}
	}
	return nil
}

func voterChange(before, after []NodeID) VoterChange {
	var ch VoterChange
	for _, id := range after {
		if _, found := slices.BinarySearchFunc(before, id, NodeID.Compare); !found {
			ch.Add = append(ch.Add, id)
		}
	}
	for _, id := range before {
		if _, found := slices.BinarySearchFunc(after, id, NodeID.Compare); !found {
			ch.Remove = append(ch.Remove, id)
		}
	}
	return ch
}

package roles_test

import (
	"bytes"
	"errors"
	"slices"
	"strings"
	"testing"

	"pgregory.net/rapid"

	"revoada.dev/revoada/core/roles"
	"revoada.dev/revoada/internal/testalloc"
)

func id(b byte) roles.NodeID {
	var n roles.NodeID
	n[0], n[31] = b, b
	return n
}

// twin is a node other than n with n's raft ID.
func twin(n roles.NodeID) roles.NodeID {
	n[31]++
	return n
}

func mesh(t interface{ Fatal(...any) }, cp, workers int) roles.Shape {
	var ms []roles.Member
	for i := range cp + workers {
		r := roles.Worker
		if i < cp {
			r = roles.ControlPlane
		}
		ms = append(ms, roles.Member{Node: id(byte(i + 1)), Roles: r})
	}
	s, err := roles.NewShape(ms)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestLastVoterIsKept(t *testing.T) {
	s := mesh(t, 1, 2)
	for _, c := range []roles.Command{
		{Kind: roles.Demote, Node: id(1), Reason: roles.Operator},
		{Kind: roles.Demote, Node: id(1), Roles: roles.Etcd, Reason: roles.Operator},
		{Kind: roles.Quarantine, Node: id(1), Reason: roles.HealthDegraded},
	} {
		changed, rej := s.Apply(roles.Shift{c})
		if changed || !errors.Is(rej, roles.ErrLastVoter) {
			t.Errorf("%v: changed %v, rejection %v; want last-voter", c, changed, rej)
		}
	}
	// Handing etcd over in one shift takes every voter out at once: the
	// leader, one of them, would have no voter to hand leadership to.
	swap := roles.Shift{
		{Kind: roles.Promote, Node: id(2), Reason: roles.Rebalance},
		{Kind: roles.Demote, Node: id(1), Reason: roles.Rebalance},
	}
	if changed, rej := s.Apply(swap); changed || !errors.Is(rej, roles.ErrNoVoterStays) {
		t.Fatalf("hand-over in one shift: changed %v, rejection %v; want no-voter-stays", changed, rej)
	}
	// In two shifts it is fine.
	for _, sh := range []roles.Shift{swap[:1], swap[1:]} {
		if _, rej := s.Apply(sh); rej != nil {
			t.Fatalf("%v rejected: %v", sh, rej)
		}
	}
	if got := s.Voters(); !slices.Equal(got, []roles.NodeID{id(2)}) {
		t.Errorf("voters %v, want [n2]", got)
	}
}

func TestRejections(t *testing.T) {
	s := mesh(t, 3, 2)
	if _, rej := s.Apply(roles.Shift{{Kind: roles.Quarantine, Node: id(4), Reason: roles.HealthDegraded}}); rej != nil {
		t.Fatal(rej)
	}
	cases := []struct {
		name string
		sh   roles.Shift
		want roles.RejectCode
	}{
		{"unknown node", roles.Shift{{Kind: roles.Promote, Node: id(9), Reason: roles.Operator}}, roles.ErrUnknownNode},
		{"promote quarantined", roles.Shift{{Kind: roles.Promote, Node: id(4), Reason: roles.Operator}}, roles.ErrQuarantined},
		{"promote worker role", roles.Shift{{Kind: roles.Promote, Node: id(5), Roles: roles.Worker, Reason: roles.Operator}}, roles.ErrInvalidCommand},
		{"bad reason", roles.Shift{{Kind: roles.Promote, Node: id(5)}}, roles.ErrInvalidCommand},
		{"bad kind", roles.Shift{{Kind: 99, Node: id(5), Reason: roles.Operator}}, roles.ErrInvalidCommand},
		{"restore with roles", roles.Shift{{Kind: roles.Restore, Node: id(4), Roles: roles.Etcd, Reason: roles.Operator}}, roles.ErrInvalidCommand},
		{"empty", roles.Shift{}, roles.ErrEmptyShift},
		{"an address on a promote", roles.Shift{{Kind: roles.Promote, Node: id(5), Reason: roles.Operator, Addr: "h:1"}}, roles.ErrInvalidCommand},
		{"an address too long", roles.Shift{{Kind: roles.Join, Node: id(9), Reason: roles.Operator, Addr: strings.Repeat("a", roles.AddrBytesMax+1)}}, roles.ErrInvalidCommand},
		{"join with roles", roles.Shift{{Kind: roles.Join, Node: id(9), Roles: roles.Etcd, Reason: roles.Operator}}, roles.ErrInvalidCommand},
		{"join a raft id twin", roles.Shift{{Kind: roles.Join, Node: twin(id(1)), Reason: roles.Operator}}, roles.ErrShapeFull},
		{"last voters leave", roles.Shift{{Kind: roles.Leave, Node: id(1), Reason: roles.Operator}, {Kind: roles.Leave, Node: id(2), Reason: roles.Operator}, {Kind: roles.Leave, Node: id(3), Reason: roles.Operator}}, roles.ErrLastVoter},
		{"promote after leave", roles.Shift{{Kind: roles.Leave, Node: id(5), Reason: roles.Operator}, {Kind: roles.Promote, Node: id(5), Reason: roles.Operator}}, roles.ErrUnknownNode},
		{"second command bad", roles.Shift{{Kind: roles.Promote, Node: id(5), Reason: roles.Operator}, {Kind: roles.Promote, Node: id(4), Reason: roles.Operator}}, roles.ErrQuarantined},
	}
	for _, c := range cases {
		before := s.Digest()
		changed, rej := s.Apply(c.sh)
		if changed || !errors.Is(rej, c.want) {
			t.Errorf("%s: changed %v, rejection %v; want %v", c.name, changed, rej, c.want)
		}
		if s.Digest() != before {
			t.Errorf("%s: a rejected shift changed the shape", c.name)
		}
	}
}

// model is the dumb reference: a map from node number to role set, with the
// rules written out longhand.
type model map[byte]roles.Roles

func (m model) apply(sh roles.Shift, known map[roles.NodeID]byte) (model, bool) {
	next := model{}
	for k, v := range m {
		next[k] = v
	}
	joined := map[byte]bool{}
	for _, c := range sh {
		k, ok := known[c.Node]
		if !ok || c.Reason < roles.ReplacingFailed || c.Reason > roles.Rebalance {
			return m, false
		}
		if c.Kind == roles.Join {
			joined[k] = true
		} else if c.Kind != roles.Leave && joined[k] {
			return m, false // its roles change in a later shift
		}
		cur, member := next[k]
		switch {
		case (c.Kind == roles.Join || c.Kind == roles.Leave) && c.Roles != 0:
			return m, false
		case c.Kind == roles.Join:
			if !member {
				next[k] = roles.Worker
			}
			continue
		case c.Kind == roles.Leave:
			delete(next, k)
			if cur.Has(roles.Etcd) && etcdHolders(next) == 0 {
				return m, false
			}
			continue
		case !member:
			return m, false
		}
		want := c.Roles
		if want == 0 {
			want = roles.ControlPlane
		}
		switch c.Kind {
		case roles.Promote, roles.Demote:
			if want&^roles.ControlPlane != 0 || cur == roles.Quarantined || cur == roles.Observer {
				return m, false
			}
			cp := cur & roles.ControlPlane
			if c.Kind == roles.Promote {
				cp |= want
			} else {
				cp &^= want
			}
			if cp == 0 {
				next[k] = roles.Worker
			} else {
				next[k] = cp
			}
		case roles.Quarantine:
			if c.Roles != 0 {
				return m, false
			}
			next[k] = roles.Quarantined
		case roles.Restore:
			if c.Roles != 0 {
				return m, false
			}
			if cur == roles.Quarantined {
				next[k] = roles.Worker
			}
		default:
			return m, false
		}
		if etcdHolders(next) == 0 {
			return m, false
		}
	}
	stays := false // a voter before the shift is one after it
	for k, r := range m {
		stays = stays || r.Has(roles.Etcd) && next[k].Has(roles.Etcd)
	}
	if etcdHolders(m) > 0 && !stays {
		return m, false // no voter stays: the leader would have none to hand over to
	}
	return next, true
}

func etcdHolders(m model) int {
	n := 0
	for _, r := range m {
		if r.Has(roles.Etcd) {
			n++
		}
	}
	return n
}

func genCommand(nodes int) *rapid.Generator[roles.Command] {
	return rapid.Custom(func(t *rapid.T) roles.Command {
		return roles.Command{
			Kind:   roles.Kind(rapid.IntRange(0, 7).Draw(t, "kind")),
			Node:   id(byte(rapid.IntRange(1, nodes+1).Draw(t, "node"))), // nodes+1 is unknown
			Roles:  roles.Roles(rapid.SampledFrom([]int{0, 0, 0, int(roles.Etcd), int(roles.APIServer | roles.Scheduler), int(roles.Worker), 0xff}).Draw(t, "roles")),
			Reason: roles.Reason(rapid.IntRange(0, 7).Draw(t, "reason")),
		}
	})
}

// TestShapeMatchesModel: over random shift sequences the shape agrees with
// the reference, keeps its invariants, leaves rejected shifts unapplied,
// reports the voter change it made, and is idempotent.
func TestShapeMatchesModel(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		cp, workers := rapid.IntRange(1, 5).Draw(t, "cp"), rapid.IntRange(0, 5).Draw(t, "workers")
		s := mesh(t, cp, workers)
		m := model{}
		known := map[roles.NodeID]byte{id(byte(cp + workers + 1)): byte(cp + workers + 1)} // may join
		for _, mem := range s.Members() {
			m[mem.Node[0]] = mem.Roles
			known[mem.Node] = mem.Node[0]
		}
		for range rapid.IntRange(1, 30).Draw(t, "steps") {
			sh := roles.Shift(rapid.SliceOfN(genCommand(cp+workers), 1, 3).Draw(t, "shift"))
			before := s.Clone()
			next, change, rej := s.Plan(sh)
			changed, rej2 := s.Apply(sh)
			if (rej == nil) != (rej2 == nil) {
				t.Fatalf("Plan and Apply disagree: %v vs %v", rej, rej2)
			}
			want, ok := m.apply(sh, known)
			if ok != (rej == nil) {
				t.Fatalf("shift %v: model accepts=%v, shape rejection %v", sh, ok, rej)
			}
			m = want
			for _, mem := range s.Members() {
				if m[mem.Node[0]] != mem.Roles {
					t.Fatalf("node %d: shape %s, model %s", mem.Node[0], mem.Roles, m[mem.Node[0]])
				}
			}
			byNode := func(a, b roles.Member) int { return a.Node.Compare(b.Node) }
			if ms := s.Members(); len(ms) != len(m) || !slices.IsSortedFunc(ms, byNode) {
				t.Fatalf("members %v: want the model's %d in NodeID order", ms, len(m))
			}
			if err := s.Validate(); err != nil {
				t.Fatalf("invariant broken: %v", err)
			}
			if rej != nil {
				if !s.Equal(before) {
					t.Fatal("rejected shift changed the shape")
				}
				continue
			}
			if changed != !before.Equal(next) {
				t.Fatalf("changed=%v but shapes equal=%v", changed, before.Equal(next))
			}
			for _, a := range change.Add {
				if r, _ := before.Roles(a); r.Has(roles.Etcd) {
					t.Fatalf("voter change adds existing voter %s", a.Short())
				}
			}
			// Each command is idempotent; a shift as a whole need not be
			// (promote X then quarantine X), which is why retries are
			// deduplicated by request ID in package node.
			if len(sh) == 1 {
				if again, rej := s.Apply(sh); rej != nil || again {
					t.Fatalf("re-applying %v: changed %v, rejection %v; want an unchanged no-op", sh, again, rej)
				}
			}
		}
	})
}

func TestEncodingRoundTrip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		sh := roles.Shift(rapid.SliceOfN(genCommand(6), 0, 10).Draw(t, "shift"))
		got, rest, err := roles.DecodeShift(roles.AppendShift(nil, sh))
		if err != nil || len(rest) != 0 || !slices.Equal(got, sh) {
			t.Fatalf("shift round trip: %v %v %v", got, rest, err)
		}
		s := mesh(t, rapid.IntRange(1, 4).Draw(t, "cp"), rapid.IntRange(0, 4).Draw(t, "w"))
		s2, rest, err := roles.DecodeShape(roles.AppendShape(nil, s))
		if err != nil || len(rest) != 0 || !s2.Equal(s) || s2.Digest() != s.Digest() {
			t.Fatalf("shape round trip: %v %v", rest, err)
		}
	})
}

func TestDigestIgnoresInsertionOrder(t *testing.T) {
	a, _ := roles.NewShape([]roles.Member{{Node: id(1), Roles: roles.ControlPlane}, {Node: id(2), Roles: roles.Worker}})
	b, _ := roles.NewShape([]roles.Member{{Node: id(2), Roles: roles.Worker}, {Node: id(1), Roles: roles.ControlPlane}})
	if a.Digest() != b.Digest() {
		t.Fatal("digest depends on insertion order")
	}
}

func TestNewShapeRejects(t *testing.T) {
	for name, ms := range map[string][]roles.Member{
		"no voter":  {{Node: id(1), Roles: roles.Worker}},
		"duplicate": {{Node: id(1), Roles: roles.ControlPlane}, {Node: id(1), Roles: roles.Worker}},
		"mixed set": {{Node: id(1), Roles: roles.ControlPlane | roles.Worker}},
		"empty set": {{Node: id(1), Roles: roles.ControlPlane}, {Node: id(2)}},
	} {
		if _, err := roles.NewShape(ms); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestNodeIDText(t *testing.T) {
	n := id(0xab)
	got, err := roles.ParseNodeID(n.String())
	if err != nil || got != n || len(n.Short()) != 12 {
		t.Fatalf("round trip: %v %v short %q", got, err, n.Short())
	}
	for _, bad := range []string{"", "xyz", n.String()[:63], n.String()[:62] + "zz"} {
		if _, err := roles.ParseNodeID(bad); !errors.Is(err, roles.ErrBadNodeID) {
			t.Errorf("ParseNodeID(%q) = %v, want ErrBadNodeID", bad, err)
		}
	}
}

func FuzzDecode(f *testing.F) {
	f.Add(roles.AppendShift(nil, roles.Shift{{Kind: roles.Promote, Node: id(1), Reason: roles.Operator}}))
	f.Add(roles.AppendShape(nil, mesh(f, 2, 1)))
	f.Add([]byte{1, 0xff, 0xff})
	for _, b := range hugeClaims(f) {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		testalloc.Check(t, testalloc.FuzzMax, func() {
			if sh, _, err := roles.DecodeShift(b); err == nil {
				s := mesh(t, 2, 2)
				s.Apply(sh) // must not panic, whatever the commands say
			}
			if s, _, err := roles.DecodeShape(b); err == nil {
				if err := s.Validate(); err != nil {
					t.Fatalf("decoded an invalid shape: %v", err)
				}
			}
		})
	})
}

func TestCompareAllocatesNothing(t *testing.T) {
	a, b := roles.NodeID{1, 2}, roles.NodeID{1, 3}
	if n := testing.AllocsPerRun(100, func() {
		if a.Compare(b) >= 0 || b.Compare(a) <= 0 || a.Compare(a) != 0 {
			t.Fatal("wrong order")
		}
	}); n != 0 {
		t.Fatalf("Compare allocates %v times", n)
	}
}

// TestShiftAddrEncoding: a shift that carries an address encodes as version
// 2 and decodes to itself; one that carries none is version 1, and a version
// 2 encoding without an address is refused as non-canonical.
func TestShiftAddrEncoding(t *testing.T) {
	with := roles.Shift{{Kind: roles.Join, Node: id(9), Reason: roles.Operator, Addr: "10.0.0.9:7000"}, {Kind: roles.Promote, Node: id(2), Reason: roles.Operator}}
	b := roles.AppendShift(nil, with)
	got, rest, err := roles.DecodeShift(b)
	if err != nil || len(rest) != 0 || !slices.Equal(got, with) || b[0] != 2 {
		t.Fatalf("round trip of %v: %v, %v, %d left, version %d", with, got, err, len(rest), b[0])
	}
	without := roles.Shift{{Kind: roles.Join, Node: id(9), Reason: roles.Operator}}
	if b := roles.AppendShift(nil, without); b[0] != 1 {
		t.Fatalf("a shift without addresses encodes as version %d", b[0])
	}
	v2 := append([]byte{2}, roles.AppendShift(nil, without)[1:]...)
	v2 = append(v2[:len(v2):len(v2)], 0) // an empty address
	if _, _, err := roles.DecodeShift(v2); !errors.Is(err, roles.ErrCorrupt) {
		t.Fatalf("a version-2 shift without an address decoded: %v", err)
	}
	for cut := range len(b) {
		if _, _, err := roles.DecodeShift(b[:cut]); err == nil {
			t.Fatalf("a shift cut to %d of %d bytes decoded", cut, len(b))
		}
	}
}

// TestNodesAreMembersNodes checks that Nodes lists Members' nodes in the
// same order, across a clone and a shift that adds a node.
func TestNodesAreMembersNodes(t *testing.T) {
	s, err := roles.NewShape([]roles.Member{{Node: id(3), Roles: roles.ControlPlane}, {Node: id(1), Roles: roles.Worker}, {Node: id(2), Roles: roles.Worker}})
	if err != nil {
		t.Fatal(err)
	}
	check := func(step string, s roles.Shape) {
		t.Helper()
		var want []roles.NodeID
		for _, m := range s.Members() {
			want = append(want, m.Node)
		}
		if got := s.Nodes(); !slices.Equal(got, want) {
			t.Fatalf("%s: Nodes %v, Members' nodes %v", step, got, want)
		}
	}
	check("new", s)
	check("clone", s.Clone())
	next, _, rej := s.Plan(roles.Shift{{Kind: roles.Join, Node: id(0), Reason: roles.Operator}})
	if rej != nil {
		t.Fatal(rej)
	}
	check("joined", next)
	check("before the join", s)
}

// TestCompareIsBytewise checks Compare against bytes.Compare over IDs that
// share prefixes of every length, and are equal.
func TestCompareIsBytewise(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		var a, b roles.NodeID
		for i := range a {
			a[i] = byte(rapid.IntRange(0, 2).Draw(t, "a"))
		}
		b = a
		if at := rapid.IntRange(-1, 31).Draw(t, "at"); at >= 0 {
			b[at] = byte(rapid.IntRange(0, 255).Draw(t, "b"))
		}
		if got, want := a.Compare(b), bytes.Compare(a[:], b[:]); got != want {
			t.Fatalf("%x.Compare(%x) = %d, bytewise %d", a, b, got, want)
		}
	})
}

func BenchmarkCompare(b *testing.B) {
	x, y := roles.NodeID{1, 2, 3}, roles.NodeID{1, 2, 4}
	for b.Loop() {
		if x.Compare(y) >= 0 {
			b.Fatal("wrong order")
		}
	}
}

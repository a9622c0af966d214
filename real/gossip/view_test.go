package gossip

import (
	"crypto/ed25519"
	"errors"
	"net"
	"testing"

	"github.com/hashicorp/memberlist"

	"revoada.dev/revoada/core/membership"
	"revoada.dev/revoada/core/roles"
)

// fakePeer is a key and the memberlist node that advertises its states,
// handed to a Gossip's delegates directly.
type fakePeer struct{ key ed25519.PrivateKey }

func (f fakePeer) id() roles.NodeID { return roles.NodeID(f.key.Public().(ed25519.PublicKey)) }

func (f fakePeer) node(t *testing.T, s membership.State) *memberlist.Node {
	t.Helper()
	s.Node = f.id()
	signed, err := membership.Sign(f.key, s)
	if err != nil {
		t.Fatal(err)
	}
	return &memberlist.Node{Name: f.id().String(), Addr: net.IPv4(127, 0, 0, 1), Port: 1,
		Meta: membership.AppendSignedState(nil, signed)}
}

// TestReplayRefused: a state older than the one held is refused, and so is
// another state under the held stamp; a newer one is taken as an Updated
// change.
func TestReplayRefused(t *testing.T) {
	g := startNode(t, "replay")
	d, e := (*delegate)(g.Gossip), (*events)(g.Gossip)
	p := fakePeer{newKey(t)}
	v2 := p.node(t, membership.State{Incarnation: 1, Version: 2, SoftwareVersion: "a"})
	if err := d.NotifyAlive(v2); err != nil {
		t.Fatal(err)
	}
	e.NotifyJoin(v2)
	for _, tc := range []struct {
		name string
		n    *memberlist.Node
		want error
	}{
		{"older version", p.node(t, membership.State{Incarnation: 1, Version: 1}), errReplayed},
		{"older incarnation", p.node(t, membership.State{Incarnation: 0, Version: 9}), errReplayed},
		{"same stamp, other state", p.node(t, membership.State{Incarnation: 1, Version: 2, SoftwareVersion: "b"}), errEquivocated},
		{"same state", v2, nil},
		{"newer", p.node(t, membership.State{Incarnation: 1, Version: 3}), nil},
	} {
		if err := d.NotifyAlive(tc.n); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
	e.NotifyUpdate(p.node(t, membership.State{Incarnation: 1, Version: 3}))
	if s, _ := g.State(p.id()); s.State.Version != 3 {
		t.Errorf("held version %d, want 3", s.State.Version)
	}
	e.NotifyUpdate(v2) // memberlist would not, after the refusal: the view ignores it too
	if s, _ := g.State(p.id()); s.State.Version != 3 {
		t.Errorf("an older update taken: version %d", s.State.Version)
	}
	if c := g.Counters(); c.Replayed != 2 || c.Equivocated != 1 {
		t.Errorf("counters %+v", c)
	}
	kinds := []membership.ChangeKind{}
	for _, c := range g.changes() {
		kinds = append(kinds, c.Kind)
	}
	if len(kinds) != 2 || kinds[0] != membership.Joined || kinds[1] != membership.Updated {
		t.Errorf("changes %v, want joined, updated", kinds)
	}
}

// TestViewBounds: a full view refuses a new node until one is Dead, then
// forgets the Dead one for it; changes over ChangesMax are dropped and
// counted.
func TestViewBounds(t *testing.T) {
	g := startWith(t, Config{Key: newKey(t), Mesh: "bounds", PeersMax: 2, ChangesMax: 4})
	d, e := (*delegate)(g.Gossip), (*events)(g.Gossip)
	a, b, c := fakePeer{newKey(t)}, fakePeer{newKey(t)}, fakePeer{newKey(t)}
	for _, p := range []fakePeer{a, b} {
		n := p.node(t, membership.State{})
		if err := d.NotifyAlive(n); err != nil {
			t.Fatal(err)
		}
		e.NotifyJoin(n)
	}
	cn := c.node(t, membership.State{})
	if err := d.NotifyAlive(cn); !errors.Is(err, errFull) {
		t.Fatalf("a third node in a view of 2: %v, want errFull", err)
	}
	e.NotifyLeave(a.node(t, membership.State{})) // a failed
	if err := d.NotifyAlive(cn); err != nil {
		t.Fatalf("with a Dead node to forget: %v", err)
	}
	e.NotifyJoin(cn) // the fifth change: dropped
	if _, ok := g.State(a.id()); ok {
		t.Error("the Dead node was not forgotten")
	}
	if _, ok := g.State(c.id()); !ok {
		t.Error("the new node is not in the view")
	}
	cs := g.changes()
	want := []membership.ChangeKind{membership.Joined, membership.Joined, membership.HealthChanged, membership.Forgotten}
	for i, k := range want {
		if i >= len(cs) || cs[i].Kind != k {
			t.Fatalf("changes %+v, want kinds %v", cs, want)
		}
	}
	if cs[3].Node != a.id() || cs[3].Was != membership.Dead {
		t.Errorf("forgotten %+v", cs[3])
	}
	if got := g.Counters(); got.Dropped != 2 || len(cs) != 4 {
		t.Errorf("dropped %d (want 2: the refused node, the fifth change), %d changes", got.Dropped, len(cs))
	}
}

// FuzzIdentify: any name and meta is refused or admitted with an error or a
// state of that name, never a panic; so is any leave intent.
//
//	go test -run '^$' -fuzz FuzzIdentify -fuzztime 30s ./real/gossip/
func FuzzIdentify(f *testing.F) {
	key := ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize))
	p := fakePeer{key}
	f.Add(p.id().String(), membership.AppendSignedState(nil, mustSign(f, key)))
	f.Add("x", []byte{2})
	f.Add(p.id().String(), appendIntent(nil, key, membership.Stamp{Node: p.id()}))
	f.Fuzz(func(t *testing.T, name string, meta []byte) {
		s, err := identify(name, meta)
		if err == nil && (s.State.Node.String() != name || !s.Verify()) {
			t.Fatalf("admitted %+v as %q", s.State, name)
		}
		if st, ok := decodeIntent(meta); ok && len(meta) != intentBytes {
			t.Fatalf("intent %+v from %d bytes", st, len(meta))
		}
	})
}

func mustSign(t testing.TB, key ed25519.PrivateKey) membership.SignedState {
	t.Helper()
	s, err := membership.Sign(key, membership.State{Node: roles.NodeID(key.Public().(ed25519.PublicKey)), GossipAddr: "127.0.0.1:7946"})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

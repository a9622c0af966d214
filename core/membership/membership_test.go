package membership

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"revoada.dev/revoada/core/roles"
)

// roundsTarget is ⌈3·log₂N⌉ gossip rounds.
func roundsTarget(n int) int { return int(math.Ceil(3 * math.Log2(float64(n)))) }

// TestConvergence: N nodes that all join through one seed agree (everyone
// Healthy, the same states everywhere) within ⌈3·log₂N⌉ rounds; split into
// two halves until each half holds the other Dead, and healed, they agree
// again within ⌈3·log₂N⌉ rounds of the heal. Every node of both halves
// must refute (its peers hold it Dead), so the heal is a storm of N new
// incarnations. The measured rounds are logged.
//
// Seeds 1-3 run on a clean network, seed 4 with 5% of messages lost (both
// phases). Measured with the defaults (Fanout 3, 32 states per message),
// `go test ./core/membership -run TestConvergence -v`: join 3/3-4/6 rounds
// and heal 2-3/5/5-6 rounds for N = 5/25/100; with 5% loss at most 5/7/8
// over 20 seeds (8 for N = 100).
func TestConvergence(t *testing.T) {
	for _, n := range []int{5, 25, 100} {
		if n == 100 && testing.Short() {
			continue
		}
		target := roundsTarget(n)
		var joins, heals []int
		for seed := uint64(1); seed <= 4; seed++ {
			c := newCluster(t, n, seed, nil)
			interval := c.nodes[0].cfg.GossipIntervalTicks
			loss := 0.0
			if seed == 4 {
				loss = 0.05
			}
			r := rand.New(rand.NewPCG(seed, 0x1055))
			lossy := func(int, int) bool { return r.Float64() < loss }
			c.cut = lossy
			c.joinAll(0)
			ticks, ok := c.runUntil(target*interval, c.agreed)
			if !ok {
				t.Fatalf("n=%d seed=%d: no agreement %d rounds after the join", n, seed, target)
			}
			joins = append(joins, ticksToRounds(ticks, interval))

			half := func(i int) bool { return i < n/2 }
			c.cut = func(a, b int) bool { return half(a) != half(b) || lossy(a, b) }
			if _, ok := c.runUntil(1000, func() bool { return c.splitDead(half) }); !ok {
				t.Fatalf("n=%d seed=%d: the halves never held each other Dead", n, seed)
			}
			refuted := c.sum(func(c Counters) uint64 { return c.Refuted })
			c.cut = lossy
			ticks, ok = c.runUntil(target*interval, c.agreed)
			if !ok {
				t.Fatalf("n=%d seed=%d: no agreement %d rounds after the heal", n, seed, target)
			}
			heals = append(heals, ticksToRounds(ticks, interval))
			// On a clean network every node refutes; with loss some already
			// refuted within their half, and that newer incarnation revives them.
			if got := c.sum(func(c Counters) uint64 { return c.Refuted }) - refuted; loss == 0 && got < uint64(n) {
				t.Errorf("n=%d seed=%d: %d refutations after the heal, want every node to refute", n, seed, got)
			}
		}
		t.Logf("N=%d: rounds to agree after the join %v, after the heal %v (target ⌈3·log₂N⌉ = %d; seeds 1-3 clean, 4 with 5%% loss)",
			n, joins, heals, target)
	}
}

// splitDead: every node holds every node of the other half Dead.
func (c *cluster) splitDead(half func(int) bool) bool {
	for i, m := range c.nodes {
		for j := range c.nodes {
			if half(i) != half(j) && m.Health(c.ids[j]) != Dead {
				return false
			}
		}
	}
	return true
}

// TestCrashAndRestart: a node that stops becomes Suspect, then Dead, on
// every other node; restarted with a higher incarnation it is Healthy again
// everywhere. Restarted without remembering its incarnation (or behind the
// version its peers hold) it is told by its peers and refutes above it.
func TestCrashAndRestart(t *testing.T) {
	for _, tc := range []struct {
		name        string
		n           int
		incarnation uint64 // of the restarted node; it ran at 1
	}{
		{"remembers", 5, 2},
		{"remembers", 25, 2},
		{"forgets", 5, 1},
		{"forgets", 25, 1},
	} {
		c := newCluster(t, tc.n, 11, nil)
		c.joinAll(0)
		if _, ok := c.runUntil(200, c.agreed); !ok {
			t.Fatalf("%s n=%d: no agreement after the join", tc.name, tc.n)
		}
		x := tc.n - 1
		for range 3 { // versions the peers hold and the restarted node forgets
			if err := c.nodes[x].UpdateSelf(func(s *State) { s.Capacity.Pods++ }); err != nil {
				t.Fatal(err)
			}
		}
		if _, ok := c.runUntil(200, c.agreed); !ok {
			t.Fatalf("%s n=%d: updates did not spread", tc.name, tc.n)
		}
		c.nodes[x] = nil
		ticks, ok := c.runUntil(1000, func() bool { return c.healthEverywhere(x, Dead) })
		if !ok {
			t.Fatalf("%s n=%d: crashed node not Dead everywhere", tc.name, tc.n)
		}
		for i := range c.nodes {
			if i == x {
				continue
			}
			seen := c.seen[i][x]
			if k := slices.Index(seen, Suspect); k < 0 || slices.Index(seen[k:], Dead) < 0 {
				t.Errorf("%s n=%d: node %d saw %v, want Suspect then Dead", tc.name, tc.n, i, seen)
			}
		}
		c.start(x, tc.incarnation)
		c.nodes[x].Join([]roles.NodeID{c.ids[0]})
		back, ok := c.runUntil(400, c.agreed)
		if !ok {
			t.Fatalf("%s n=%d: restarted node not Healthy everywhere", tc.name, tc.n)
		}
		if inc := c.nodes[x].Self().State.Incarnation; inc < 2 {
			t.Errorf("%s n=%d: restarted at incarnation %d, want above the first life's 1", tc.name, tc.n, inc)
		}
		t.Logf("%s n=%d: Dead everywhere %d ticks after the crash; Healthy everywhere %d ticks after the restart (incarnation %d)",
			tc.name, tc.n, ticks, back, c.nodes[x].Self().State.Incarnation)
	}
}

// TestRestartAtARefutedIncarnation: a node refuted a suspicion in its first
// life (incarnation 1 → 2) and signed versions there; it restarts at
// incarnation 2 and signs as many versions with other content. Its peers
// hold the first life's state under the same stamp and would keep it; the
// node, hearing a state of its own stamp that is not its own, refutes
// above it, and everyone ends up with the new life's state.
func TestRestartAtARefutedIncarnation(t *testing.T) {
	c := newCluster(t, 5, 13, nil)
	c.joinAll(0)
	if _, ok := c.runUntil(200, c.agreed); !ok {
		t.Fatal("no agreement after the join")
	}
	x := 4
	c.nodes[x].Refute()
	for range 2 {
		if err := c.nodes[x].UpdateSelf(func(s *State) { s.Capacity.Pods++ }); err != nil {
			t.Fatal(err)
		}
	}
	if _, ok := c.runUntil(200, c.agreed); !ok {
		t.Fatal("the first life's states did not spread")
	}
	first := c.nodes[x].Self().State
	c.nodes[x] = nil
	c.start(x, first.Incarnation)
	for range int(first.Version) {
		if err := c.nodes[x].UpdateSelf(func(s *State) { s.Capacity.Pods += 1000 }); err != nil {
			t.Fatal(err)
		}
	}
	second := c.nodes[x].Self().State.Capacity.Pods
	if st := c.nodes[x].Self().State; st.Stamp() != first.Stamp() {
		t.Fatalf("the second life is at %+v, want the first's stamp %+v", st.Stamp(), first.Stamp())
	}
	c.nodes[x].Join([]roles.NodeID{c.ids[0]})
	if _, ok := c.runUntil(400, c.agreed); !ok {
		t.Fatal("the restarted node's new state never spread")
	}
	for i, m := range c.nodes {
		for _, mb := range m.Members() {
			if mb.State.Node == c.ids[x] && (mb.State.Capacity.Pods != second || mb.State.Incarnation <= first.Incarnation) {
				t.Errorf("node %d holds the restarted node at %+v with %d pods", i, mb.State.Stamp(), mb.State.Capacity.Pods)
			}
		}
	}
}

// TestFalseSuspicionRefuted: a node cut off briefly is suspected, or
// suspects others, until one suspicion is raised. Cut both ways, the others
// suspect it; cut only inbound, it still reaches them (they keep hearing it)
// but hears nothing and accuses them. Whoever hears itself suspected
// refutes; nobody is ever Dead and all agree again.
func TestFalseSuspicionRefuted(t *testing.T) {
	for _, tc := range []struct {
		name  string
		cut   func(x, from, to int) bool
		until func(c *cluster, x int) bool
	}{
		{"inbound", func(x, _, to int) bool { return to == x }, func(c *cluster, x int) bool {
			return c.sum(func(c Counters) uint64 { return c.Suspected }) > 0
		}},
		{"both-ways", func(x, from, to int) bool { return to == x || from == x }, func(c *cluster, x int) bool {
			return len(c.everSaw(x, Suspect)) > 0
		}},
	} {
		c := newCluster(t, 5, 21, nil)
		c.joinAll(0)
		if _, ok := c.runUntil(200, c.agreed); !ok {
			t.Fatalf("%s: no agreement after the join", tc.name)
		}
		x := 2
		c.cut = func(from, to int) bool { return tc.cut(x, from, to) }
		cutTicks, ok := c.runUntil(200, func() bool { return tc.until(c, x) })
		if !ok {
			t.Fatalf("%s: nobody suspected anything while cut", tc.name)
		}
		c.cut = nil
		ticks, ok := c.runUntil(100, c.agreed)
		if !ok {
			t.Fatalf("%s: no agreement after the cut healed", tc.name)
		}
		for j := range c.nodes {
			if who := c.everSaw(j, Dead); len(who) > 0 {
				t.Errorf("%s: node %d held Dead by %v", tc.name, j, who)
			}
		}
		refuted := c.sum(func(c Counters) uint64 { return c.Refuted })
		if refuted == 0 {
			t.Errorf("%s: nobody refuted", tc.name)
		}
		if tc.name == "both-ways" && c.nodes[x].Self().State.Incarnation < 2 {
			t.Errorf("%s: suspected node did not refute", tc.name)
		}
		t.Logf("%s: cut %d ticks; suspected by %v; %d refutations; agreed %d ticks after", tc.name, cutTicks, c.everSaw(x, Suspect), refuted, ticks)
	}
}

// TestDeterministic: one seed gives one message sequence; another seed
// another.
func TestDeterministic(t *testing.T) {
	run := func(seed uint64) []byte { return churnTrace(t, seed, false) }
	a, b, other := run(5), run(5), run(6)
	if !bytes.Equal(a, b) {
		t.Fatalf("seed 5 twice: traces %x and %x differ", a, b)
	}
	if bytes.Equal(a, other) {
		t.Fatal("seeds 5 and 6 gave one trace")
	}
}

// TestRecycleKeepsTraces runs a join, a partition, its heal and a crash
// with and without Recycle after every step: the messages and changes are
// the same, so writing later messages over sent ones changes nothing.
func TestRecycleKeepsTraces(t *testing.T) {
	if a, b := churnTrace(t, 7, false), churnTrace(t, 7, true); !bytes.Equal(a, b) {
		t.Fatalf("traces %x without Recycle and %x with it differ", a, b)
	}
}

// churnTrace is the trace of 25 nodes that join, split in two halves, heal
// and lose one of them.
func churnTrace(t *testing.T, seed uint64, recycle bool) []byte {
	c := newCluster(t, 25, seed, nil)
	c.recycle = recycle
	c.joinAll(0)
	c.runUntil(40, func() bool { return false })
	c.cut = func(a, b int) bool { return (a < 12) != (b < 12) }
	c.runUntil(80, func() bool { return false })
	c.cut = nil
	c.nodes[3] = nil
	c.runUntil(80, func() bool { return false })
	return c.trace.Sum(nil)
}

type keyed struct {
	key ed25519.PrivateKey
	id  roles.NodeID
}

func newKey(seed byte) keyed {
	key := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{seed}, ed25519.SeedSize))
	var id roles.NodeID
	copy(id[:], key.Public().(ed25519.PublicKey))
	return keyed{key, id}
}

// fataler is what the helpers need of *testing.T and *rapid.T.
type fataler interface{ Fatal(args ...any) }

func newMember(t fataler, k keyed, tweak func(*Config)) *Membership {
	cfg := Config{Self: k.id, Key: k.key, Rand: rand.New(rand.NewPCG(1, 2))}
	if tweak != nil {
		tweak(&cfg)
	}
	m, err := New(cfg, State{GossipAddr: "a:1"})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func mustSign(t fataler, key ed25519.PrivateKey, s State) SignedState {
	ss, err := Sign(key, s)
	if err != nil {
		t.Fatal(err)
	}
	return ss
}

// TestForgedAndReplayed: states not signed by their own node are dropped
// and counted Forged; older ones Replayed; equal ones Duplicate.
func TestForgedAndReplayed(t *testing.T) {
	a, x, y := newKey(1), newKey(2), newKey(3)
	m := newMember(t, a, nil)
	deliver := func(ss ...SignedState) {
		m.Step(Message{From: x.id, To: a.id, Kind: PushPullFinal, States: ss})
	}
	sx := func(inc, ver uint64) State {
		return State{Node: x.id, Incarnation: inc, Version: ver, GossipAddr: "x:1"}
	}

	byY := SignedState{State: sx(1, 9), Sig: ed25519.Sign(y.key, SigningBytes(sx(1, 9)))}
	flipped := mustSign(t, x.key, sx(1, 9))
	flipped.Sig = slices.Clone(flipped.Sig)
	flipped.Sig[5] ^= 1
	altered := mustSign(t, x.key, sx(1, 9))
	altered.State.Roles = roles.ControlPlane
	aboutSelf := SignedState{State: State{Node: a.id, Incarnation: 7}, Sig: ed25519.Sign(y.key, SigningBytes(State{Node: a.id, Incarnation: 7}))}
	short := SignedState{State: sx(1, 9), Sig: []byte{1, 2, 3}}
	deliver(byY, flipped, altered, aboutSelf, short)
	if got := m.Counters(); got.Forged != 5 || got.Accepted != 0 {
		t.Fatalf("counters %+v, want 5 forged, none accepted", got)
	}
	if m.Health(x.id) != Unknown || m.Self().State.Incarnation != 0 {
		t.Fatal("a forged state changed the view")
	}

	deliver(mustSign(t, x.key, sx(1, 2)))
	deliver(mustSign(t, x.key, sx(1, 1)), mustSign(t, x.key, sx(0, 9)))
	deliver(mustSign(t, x.key, sx(1, 2)))
	deliver(mustSign(t, x.key, sx(2, 0)))
	got := m.Counters()
	if got.Accepted != 2 || got.Replayed != 2 || got.Duplicate != 1 || got.Forged != 5 {
		t.Fatalf("counters %+v, want 2 accepted, 2 replayed, 1 duplicate, 5 forged", got)
	}
	ms := m.Members()
	if i := slices.IndexFunc(ms, func(mb Member) bool { return mb.State.Node == x.id }); ms[i].State != sx(2, 0) {
		t.Fatalf("view holds %+v, want incarnation 2 version 0", ms[i].State)
	}
	var kinds []ChangeKind
	for _, ch := range m.Ready().Changes {
		kinds = append(kinds, ch.Kind)
	}
	if !slices.Equal(kinds, []ChangeKind{Joined, Updated}) {
		t.Fatalf("changes %v, want joined, updated", kinds)
	}
}

// TestBounds: every list in a message and in the view is capped by its named
// limit, and what is cut is counted.
func TestBounds(t *testing.T) {
	a := newKey(1)
	m := newMember(t, a, func(c *Config) { c.SeenMax, c.StatesPerMessageMax, c.SuspectsPerMessageMax = 3, 4, 2 })
	var states []SignedState
	var suspects []Suspicion
	for i := range 6 {
		k := newKey(byte(10 + i))
		states = append(states, mustSign(t, k.key, State{Node: k.id, Incarnation: 1}))
		suspects = append(suspects, Suspicion{k.id, 1})
	}
	m.Step(Message{From: states[0].State.Node, To: a.id, Kind: PushPullReply, States: states, Suspects: suspects})
	got := m.Counters()
	// 2 states over the per-message cap, 1 over SeenMax; 4 suspicions over theirs.
	if len(m.Members()) != 4 || got.Accepted != 3 || got.Dropped != 2+1+4 {
		t.Fatalf("members %d, counters %+v", len(m.Members()), got)
	}
	rd := m.Ready()
	if len(rd.Messages) != 1 || len(rd.Messages[0].States) > 4 {
		t.Fatalf("reply %+v", rd.Messages)
	}

	// A Dead member is forgotten to make room for a new one.
	m.cfg.SuspectGraceTicks = 1
	for range 200 {
		m.Tick()
	}
	if h := m.Health(states[1].State.Node); h != Dead {
		t.Fatalf("silent peer is %v after 200 ticks, want dead", h)
	}
	k := newKey(40)
	m.Step(Message{From: k.id, To: a.id, Kind: PushPullFinal, States: []SignedState{mustSign(t, k.key, State{Node: k.id})}})
	if m.Health(k.id) != Healthy || len(m.Members()) != 4 {
		t.Fatalf("new member not taken in place of a dead one: %v, %d members", m.Health(k.id), len(m.Members()))
	}
	if i := slices.IndexFunc(m.Ready().Changes, func(c Change) bool { return c.Kind == Forgotten }); i < 0 {
		t.Fatal("no Forgotten change")
	}
	if len(m.relays) != 0 || len(m.probes) > m.cfg.ProbesInFlightMax {
		t.Fatalf("relays %d probes %d", len(m.relays), len(m.probes))
	}

	// The outbox is capped.
	m = newMember(t, a, func(c *Config) { c.OutboxMax = 2 })
	for range 3 {
		m.Step(Message{From: k.id, To: a.id, Kind: Ping})
	}
	if len(m.Ready().Messages) != 2 || m.Counters().Dropped != 1 {
		t.Fatalf("outbox not capped: %+v", m.Counters())
	}
	m.Step(Message{From: k.id, To: k.id, Kind: Ping})
	m.Step(Message{From: k.id, To: a.id, Kind: 99})
	if m.Counters().Misrouted != 2 {
		t.Fatalf("misrouted %d, want 2", m.Counters().Misrouted)
	}
}

// TestNewAndUpdateSelf: config and state errors; UpdateSelf re-signs only a
// change, with the next Version; Refute raises the incarnation.
func TestNewAndUpdateSelf(t *testing.T) {
	a, b := newKey(1), newKey(2)
	r := rand.New(rand.NewPCG(1, 1))
	for _, cfg := range []Config{
		{Self: b.id, Key: a.key, Rand: r},
		{Self: a.id, Key: a.key[:10], Rand: r},
		{Self: a.id, Key: a.key},
		{Self: a.id, Key: a.key, Rand: r, Fanout: -1},
		{Self: a.id, Key: a.key, Rand: r, PhiThreshold: math.NaN()},
	} {
		if _, err := New(cfg, State{}); !errors.Is(err, ErrConfig) {
			t.Errorf("New(%+v): %v, want ErrConfig", cfg, err)
		}
	}
	if _, err := New(Config{Self: a.id, Key: a.key, Rand: r}, State{Node: b.id}); !errors.Is(err, ErrConfig) {
		t.Errorf("state of another node: %v", err)
	}
	long := string(bytes.Repeat([]byte{'x'}, StringBytesMax+1))
	if _, err := New(Config{Self: a.id, Key: a.key, Rand: r}, State{GossipAddr: long}); !errors.Is(err, ErrInvalidState) {
		t.Errorf("long address: %v", err)
	}

	m := newMember(t, a, nil)
	if err := m.UpdateSelf(func(s *State) { s.Roles = roles.ControlPlane; s.Node = b.id; s.Version = 40 }); err != nil {
		t.Fatal(err)
	}
	s := m.Self()
	if !s.Verify() || s.State.Node != a.id || s.State.Version != 1 || s.State.Roles != roles.ControlPlane {
		t.Fatalf("after update: %+v verify=%v", s.State, s.Verify())
	}
	if err := m.UpdateSelf(func(*State) {}); err != nil || m.Self().State.Version != 1 {
		t.Fatal("an update changing nothing bumped the version")
	}
	if err := m.UpdateSelf(func(s *State) { s.SoftwareVersion = long }); !errors.Is(err, ErrInvalidState) || m.Self().State.SoftwareVersion != "" {
		t.Fatalf("bad update: %v", err)
	}
	m.Refute()
	if s := m.Self(); s.State.Incarnation != 1 || s.State.Version != 0 || !s.Verify() || m.Counters().Refuted != 1 {
		t.Fatalf("after refute: %+v", s.State)
	}
	// Hearing itself suspected at its incarnation, a node refutes.
	m.Step(Message{From: b.id, To: a.id, Kind: Ping, Suspects: []Suspicion{{a.id, 1}}})
	if inc := m.Self().State.Incarnation; inc != 2 {
		t.Fatalf("incarnation %d after a suspicion of 1, want 2", inc)
	}
	m.Step(Message{From: b.id, To: a.id, Kind: Ping, Suspects: []Suspicion{{a.id, 1}}})
	if inc := m.Self().State.Incarnation; inc != 2 {
		t.Fatalf("a stale suspicion was refuted again: incarnation %d", inc)
	}
}

// TestIndirectProbe: a peer whose direct link is cut is reached through a
// PingReq relay and stays Healthy.
func TestIndirectProbe(t *testing.T) {
	c := newCluster(t, 5, 31, nil)
	c.joinAll(0)
	if _, ok := c.runUntil(200, c.agreed); !ok {
		t.Fatal("no agreement after the join")
	}
	c.cut = func(a, b int) bool { return (a == 0 && b == 1) || (a == 1 && b == 0) }
	relayed := 0
	c.observe = func(m Message) {
		if m.Kind == Ack && m.To == c.ids[0] && m.Target == c.ids[1] && m.From != c.ids[1] {
			relayed++
		}
	}
	healthy := 0
	c.runUntil(400, func() bool {
		if c.nodes[0].Health(c.ids[1]) == Healthy {
			healthy++
		}
		return false
	})
	if healthy != 400 || relayed == 0 {
		t.Fatalf("node 0 saw node 1 healthy %d/400 ticks across a cut link, %d relayed acks", healthy, relayed)
	}
	t.Logf("node 1 healthy at node 0 for 400 ticks across a cut link, kept alive by %d relayed acks", relayed)
	if len(c.everSaw(1, Dead)) > 0 || len(c.everSaw(0, Dead)) > 0 {
		t.Fatal("a cut link made a node Dead")
	}
}

// memberOf is node i's Member entry for node j.
func (c *cluster) memberOf(i, j int) Member {
	for _, mb := range c.nodes[i].Members() {
		if mb.State.Node == c.ids[j] {
			return mb
		}
	}
	c.t.Fatalf("node %d does not know node %d", i, j)
	return Member{}
}

// TestUptimeFromTheNodeItself: a member's uptime is what the member last
// said of itself, so it lags its ticks and never leads them, and it costs
// no signature: after the join no state is re-signed however long the mesh
// runs. A restart (a newer incarnation) hides the old life's uptime until
// the node speaks for itself again, so a node just restarted never looks
// long up; and no other node can speak for it.
func TestUptimeFromTheNodeItself(t *testing.T) {
	c := joinedCluster(t, 5, 3, 0)
	accepted := c.sum(func(k Counters) uint64 { return k.Accepted })
	c.runUntil(300, func() bool { return false })
	if again := c.sum(func(k Counters) uint64 { return k.Accepted }); again != accepted {
		t.Fatalf("%d states accepted on a quiet mesh: uptime is being re-signed", again-accepted)
	}
	for i := range c.nodes {
		for j := range c.nodes {
			up, now := c.memberOf(i, j).UptimeTicks, c.nodes[j].now
			if up > now || up+40 < now {
				t.Errorf("node %d says node %d is up %d ticks; it is up %d", i, j, up, now)
			}
		}
	}

	x := 4
	c.start(x, 2)
	c.nodes[x].Join([]roles.NodeID{c.ids[0]})
	// Node 1 learns the new incarnation from node 0, not from x.
	m1 := c.nodes[1]
	m1.Step(Message{From: c.ids[0], To: c.ids[1], Kind: PushPullFinal, States: []SignedState{c.nodes[x].Self()},
		Uptime: c.nodes[0].now, Incarnation: c.nodes[0].self.State.Incarnation})
	if mb := c.memberOf(1, x); mb.State.Incarnation != 2 || mb.UptimeTicks != 0 {
		t.Fatalf("after the restart, heard of through node 0: incarnation %d, uptime %d; want 2, 0", mb.State.Incarnation, mb.UptimeTicks)
	}
	// Node 0 cannot vouch for x's uptime: Uptime is From's own.
	m1.Step(Message{From: c.ids[0], To: c.ids[1], Kind: Ping, Seq: 1, Target: c.ids[x], Uptime: 1 << 40, Incarnation: 2})
	if up := c.memberOf(1, x).UptimeTicks; up != 0 {
		t.Fatalf("node 0's message set x's uptime to %d", up)
	}
	m1.Step(Message{From: c.ids[x], To: c.ids[1], Kind: Ping, Seq: 1, Uptime: 7, Incarnation: 2})
	if up := c.memberOf(1, x).UptimeTicks; up != 7 {
		t.Fatalf("x said it is up 7 ticks; node 1 says %d", up)
	}
	// A late message of the old life changes nothing.
	m1.Step(Message{From: c.ids[x], To: c.ids[1], Kind: Ping, Seq: 2, Uptime: 900, Incarnation: 1})
	if up := c.memberOf(1, x).UptimeTicks; up != 7 {
		t.Fatalf("a message of incarnation 1 set the uptime to %d", up)
	}
}

// TestStampBeforeSignature: a state no newer than the one held is dropped on
// its stamp, without the cost of verifying it (a forged one is not even
// looked at); only a state that would be taken is verified.
func TestStampBeforeSignature(t *testing.T) {
	c := joinedCluster(t, 3, 5, 0)
	m := c.nodes[1]
	held := c.nodes[2].Self()
	forged := held
	forged.Sig = make([]byte, len(held.Sig))
	older := forged
	older.State.Version--
	older.State.Incarnation = 0
	newer := forged
	newer.State.Version++
	before := m.Counters()
	m.Step(Message{From: c.ids[0], To: c.ids[1], Kind: PushPullFinal, States: []SignedState{forged, older, newer}})
	got := m.Counters()
	if got.Duplicate-before.Duplicate != 1 || got.Replayed-before.Replayed != 1 || got.Forged-before.Forged != 1 || got.Accepted != before.Accepted {
		t.Fatalf("duplicate %d, replayed %d, forged %d, accepted %d; want 1, 1, 1, 0",
			got.Duplicate-before.Duplicate, got.Replayed-before.Replayed, got.Forged-before.Forged, got.Accepted-before.Accepted)
	}
	if mb := c.memberOf(1, 2); mb.State != held.State {
		t.Fatalf("the held state changed")
	}
}

// TestDigestIsSortedAndWhole: a digest is one stamp per state held, self
// included, strictly in NodeID order, which newerThan's merge relies on.
func TestDigestIsSortedAndWhole(t *testing.T) {
	c := joinedCluster(t, 9, 7, 4)
	for i, m := range c.nodes {
		d := m.digest()
		if len(d) != len(c.nodes) || !slices.IsSortedFunc(d, func(a, b Stamp) int { return a.Node.Compare(b.Node) }) {
			t.Fatalf("node %d: digest of %d stamps, sorted %v", i, len(d), d)
		}
		for j, s := range d {
			if j > 0 && s.Node == d[j-1].Node {
				t.Fatalf("node %d: %s twice", i, s.Node.Short())
			}
			if _, ok := c.index[s.Node]; !ok {
				t.Fatalf("node %d: a stamp of unknown node %s", i, s.Node.Short())
			}
		}
	}
}

// joinedCluster is a cluster of n nodes joined through node seed and agreed
// on the view.
func joinedCluster(t *testing.T, n int, seed uint64, through int) *cluster {
	t.Helper()
	c := newCluster(t, n, seed, nil)
	c.joinAll(through)
	if _, ok := c.runUntil(300, c.agreed); !ok {
		t.Fatal("no agreement after the join")
	}
	return c
}

// TestConfirmedUptime: only an Ack to a Confirm Ping sets a member's
// confirmed uptime, stamped with the tick the Ping went out; a message that
// merely carries an uptime (one sent long ago, say) does not, nor does an
// Ack to a Ping Confirm never sent, nor another node's.
func TestConfirmedUptime(t *testing.T) {
	c := joinedCluster(t, 3, 3, 0)
	c.runUntil(50, func() bool { return false })
	m0, x := c.nodes[0], c.ids[1]
	inc := c.nodes[1].self.State.Incarnation
	if mb := c.memberOf(0, 1); mb.ConfirmedTick != 0 || mb.UptimeConfirmed != 0 {
		t.Fatalf("confirmed before any Confirm: %+v", mb)
	}
	m0.Step(Message{From: x, To: c.ids[0], Kind: Gossip, Uptime: 900, Incarnation: inc})
	m0.Step(Message{From: x, To: c.ids[0], Kind: Ack, Seq: 1 << 40, Target: x, Uptime: 900, Incarnation: inc})
	if mb := c.memberOf(0, 1); mb.ConfirmedTick != 0 || mb.UptimeTicks != 900 {
		t.Fatalf("a message and an unasked Ack: confirmed at %d, uptime %d; want 0 and 900", mb.ConfirmedTick, mb.UptimeTicks)
	}
	m0.Ready()
	sentAt := m0.now
	m0.Confirm(x)
	m0.Confirm(x) // one Ping out at a time
	var ping Message
	for _, msg := range m0.Ready().Messages {
		if msg.Kind == Ping && msg.To == x {
			if ping.Kind != 0 {
				t.Fatal("Confirm sent two Pings")
			}
			ping = msg
		}
	}
	if ping.Kind == 0 {
		t.Fatal("Confirm sent no Ping")
	}
	m0.Step(Message{From: c.ids[2], To: c.ids[0], Kind: Ack, Seq: ping.Seq, Target: c.ids[2], Uptime: 5, Incarnation: 1})
	if mb := c.memberOf(0, 1); mb.ConfirmedTick != 0 {
		t.Fatalf("another node's Ack of that Seq confirmed x: %+v", mb)
	}
	m0.Tick()
	m0.Step(Message{From: x, To: c.ids[0], Kind: Ack, Seq: ping.Seq, Target: x, Uptime: 40, Incarnation: inc})
	if mb := c.memberOf(0, 1); mb.ConfirmedTick != sentAt || mb.UptimeConfirmed != 40 {
		t.Fatalf("after the Ack: confirmed at %d uptime %d; want %d and 40", mb.ConfirmedTick, mb.UptimeConfirmed, sentAt)
	}
}

// TestDeadPeerIsToldWhenItSpeaks: a node that holds a peer Dead answers a
// Gossip from it (which asks for no answer) with a Ping carrying the
// suspicion, so the peer can refute it; once per probe window, and a peer
// it holds Healthy gets no such Ping.
func TestDeadPeerIsToldWhenItSpeaks(t *testing.T) {
	c := joinedCluster(t, 3, 3, 0)
	c.runUntil(50, func() bool { return false })
	m0, x := c.nodes[0], c.ids[1]
	m0.Ready()
	gossip := func() []Message {
		m0.Step(Message{From: x, To: c.ids[0], Kind: Gossip, Incarnation: c.nodes[1].self.State.Incarnation})
		var pings []Message
		for _, msg := range m0.Ready().Messages {
			if msg.To == x && msg.Kind == Ping {
				pings = append(pings, msg)
			}
		}
		return pings
	}
	if pings := gossip(); len(pings) != 0 {
		t.Fatalf("a Gossip from a Healthy peer answered with %d Pings", len(pings))
	}
	p := m0.peers.get(x)
	m0.suspect(p, p.signed.State.Incarnation)
	m0.setHealth(p, Dead)
	pings := gossip()
	if len(pings) != 1 || len(pings[0].Suspects) == 0 || pings[0].Suspects[0].Node != x {
		t.Fatalf("a Gossip from a Dead peer: answered with %+v, want one Ping telling it", pings)
	}
	if c.memberOf(0, 1).Health != Dead {
		t.Fatal("a direct Gossip revived a Dead peer (only a refutation may)")
	}
	if again := gossip(); len(again) != 0 {
		t.Fatalf("told again at once: %d Pings", len(again))
	}
}

// TestQuietRoundsOnlyPing: once every state has been gossiped its number of
// times and nobody is suspected, a round sends no Gossip (an empty one tells
// nobody anything), only its Ping and, one round in PushPullEveryRounds,
// its push-pull; a new state is gossiped again at once.
func TestQuietRoundsOnlyPing(t *testing.T) {
	c := joinedCluster(t, 8, 5, 0)
	c.runUntil(400, func() bool { return false })
	kinds := map[MsgKind]int{}
	c.observe = func(m Message) { kinds[m.Kind]++ }
	c.runUntil(200, func() bool { return false })
	if kinds[Gossip] != 0 || kinds[Ping] == 0 || kinds[PushPull] == 0 {
		t.Fatalf("a quiet mesh sent %v", kinds)
	}
	if err := c.nodes[3].UpdateSelf(func(s *State) { s.SoftwareVersion = "v0.2.0" }); err != nil {
		t.Fatal(err)
	}
	c.runUntil(2*c.nodes[3].cfg.GossipIntervalTicks, func() bool { return false })
	if kinds[Gossip] == 0 {
		t.Fatal("a new state was not gossiped")
	}
}

// TestTraversalProbeSuspects: the round's Ping to the next member of the
// traversal is a probe of its own (SWIM's protocol period). With φ's alarm
// put out of reach, a crashed member is still suspected, by whoever's
// traversal reaches it first, within a few rounds and the probe's waits.
func TestTraversalProbeSuspects(t *testing.T) {
	c := newCluster(t, 5, 17, func(cfg *Config) { cfg.PhiThreshold = 300 })
	c.joinAll(0)
	if _, ok := c.runUntil(300, c.agreed); !ok {
		t.Fatal("no agreement after the join")
	}
	c.nodes[4] = nil
	ticks, ok := c.runUntil(200, func() bool { return len(c.everSaw(4, Suspect)) > 0 })
	if !ok {
		t.Fatal("a crashed member was never suspected with φ's alarm out of reach")
	}
	if ticks > 20 {
		t.Errorf("suspected %d ticks after the crash, want within 20 (four rounds of the traversal and a probe's waits)", ticks)
	}
	t.Logf("suspected %d ticks after the crash", ticks)
}

// TestPushPullEveryScales: regular push-pulls are PushPullEveryRounds apart
// up to 32 members, and grow rarer above as memberlist's pushPullScale
// does (⌈log₂ n − 5⌉ + 1 times): each carries every member's stamp.
func TestPushPullEveryScales(t *testing.T) {
	for _, tc := range []struct{ members, every int }{
		{2, 10}, {5, 10}, {32, 10}, {33, 20}, {64, 20}, {65, 30}, {100, 30}, {128, 30}, {129, 40}, {1000, 60},
	} {
		m := &Membership{cfg: Config{PushPullEveryRounds: 10}, sorted: make([]*peer, tc.members-1)}
		if got := m.pushPullEvery(); got != uint64(tc.every) {
			t.Errorf("%d members: a push-pull every %d rounds, want %d", tc.members, got, tc.every)
		}
	}
}

// TestStaleSuspicionAnswered: a member that missed a refutation's gossip
// (its sends all spent elsewhere) and then takes the old suspicion still
// learns the refuting state before the suspicion's grace runs out: the
// members it tells the suspicion, which hold a newer incarnation, send it
// that state. Nothing else would in time: the refutation is no longer
// queued anywhere, a quiet round sends only a Ping, the suspect is seldom
// the round's member in a large mesh (cut here), and push-pulls above 32
// members come every 20 rounds or more (PushPullEveryRounds 30 here).
// Without the answer it held a live member Dead (100 nodes at 5% loss:
// one in four 300 s runs).
func TestStaleSuspicionAnswered(t *testing.T) {
	c := newCluster(t, 6, 9, func(cfg *Config) { cfg.PushPullEveryRounds = 1000 })
	c.joinAll(0)
	if _, ok := c.runUntil(300, c.agreed); !ok {
		t.Fatal("no agreement after the join")
	}
	const x, late = 2, 4
	oldInc := c.nodes[x].Self().State.Incarnation
	// late hears x only through others' relays, and misses x's refuting
	// state while it spreads.
	c.cut = func(from, to int) bool { return from == x && to == late || from == late && to == x }
	c.drop = func(msg Message) bool {
		return msg.To == c.ids[late] && slices.ContainsFunc(msg.States, func(s SignedState) bool { return s.State.Node == c.ids[x] })
	}
	c.nodes[x].Refute()
	if _, ok := c.runUntil(100, func() bool {
		for i, m := range c.nodes {
			if st, _ := m.State(c.ids[x]); i != late && (st.Incarnation == oldInc || len(m.queue) > 0) {
				return false
			}
		}
		return true
	}); !ok {
		t.Fatal("the refutation did not reach the others, or stayed queued")
	}
	c.drop = nil
	if h := c.nodes[late].Health(c.ids[x]); h != Healthy {
		t.Fatalf("before the suspicion, node %d holds %d %v", late, x, h)
	}
	c.nodes[late].Step(Message{From: c.ids[0], To: c.ids[late], Kind: Gossip, Suspects: []Suspicion{{c.ids[x], oldInc}}})
	if h := c.nodes[late].Health(c.ids[x]); h != Suspect {
		t.Fatalf("node %d took no suspicion of %d: %v", late, x, h)
	}
	c.runUntil(2*c.nodes[late].cfg.SuspectGraceTicks, func() bool { return false })
	if who := c.everSaw(x, Dead); len(who) > 0 {
		t.Errorf("live node %d held Dead by %v", x, who)
	}
	if st, _ := c.nodes[late].State(c.ids[x]); st.Incarnation == oldInc {
		t.Errorf("node %d still holds %d's refuted incarnation %d", late, x, oldInc)
	}
}

// TestRetransmitLimitIsMemberlists: a state is queued for
// RetransmitMult·⌈log₁₀(members+1)⌉ sends, members counting this node, as
// memberlist's retransmitLimit(mult, NumNodes()) does: 4 sends at 5 and 9
// members, 8 at 10 and 99, 12 at 100.
func TestRetransmitLimitIsMemberlists(t *testing.T) {
	for _, tc := range []struct{ members, limit int }{{1, 4}, {5, 4}, {9, 4}, {10, 8}, {99, 8}, {100, 12}, {1000, 16}} {
		m := &Membership{cfg: Config{RetransmitMult: 4, SeenMax: 1024}, sorted: make([]*peer, tc.members-1)}
		m.enqueue(roles.NodeID{1}, nil)
		if got := m.queue[0].left; got != tc.limit {
			t.Errorf("%d members: a state is queued for %d sends, want %d", tc.members, got, tc.limit)
		}
	}
}

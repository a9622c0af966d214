package gossip

import (
	"crypto/ed25519"
	crand "crypto/rand"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"revoada.dev/revoada/core/membership"
	"revoada.dev/revoada/core/roles"
)

var logNodes = flag.Bool("gossip.log", false, "log every node's records (memberlist's included) to stderr")

// waitTimeout bounds every wait in these tests: FastTiming finds a killed
// node Dead in about two seconds.
const waitTimeout = 10 * time.Second

func newKey(t testing.TB) ed25519.PrivateKey {
	t.Helper()
	_, key, err := ed25519.GenerateKey(crand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

func testLogger() *slog.Logger {
	if *logNodes {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return nil
}

// node is one Gossip under test, with every change it reported.
type node struct {
	*Gossip
	mu  sync.Mutex
	all []membership.Change
}

// changes drains the Gossip and returns every change so far.
func (n *node) changes() []membership.Change {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.all = append(n.all, n.Changes()...)
	return slices.Clone(n.all)
}

func (n *node) sawChange(id roles.NodeID, f func(membership.Change) bool) bool {
	return slices.ContainsFunc(n.changes(), func(c membership.Change) bool { return c.Node == id && f(c) })
}

func (n *node) health(id roles.NodeID) membership.Health {
	for _, m := range n.Members() {
		if m.State.Node == id {
			return m.Health
		}
	}
	return membership.Unknown
}

func startNode(t testing.TB, mesh string, seeds ...string) *node {
	t.Helper()
	return startWith(t, Config{Key: newKey(t), Mesh: mesh, Seeds: seeds})
}

// startWith starts cfg on loopback with FastTiming (unless cfg says), and
// closes it at the test's end.
func startWith(t testing.TB, cfg Config) *node {
	t.Helper()
	if cfg.Bind == "" {
		cfg.Bind = "127.0.0.1:0"
	}
	if cfg.Timing == (Timing{}) {
		cfg.Timing = FastTiming()
	}
	if cfg.Logger == nil {
		cfg.Logger = testLogger()
	}
	g, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { _ = g.Close() })
	return &node{Gossip: g}
}

// startMesh starts n nodes of mesh, each joining the first.
func startMesh(t testing.TB, mesh string, n int) []*node {
	t.Helper()
	nodes := []*node{startNode(t, mesh)}
	for range n - 1 {
		nodes = append(nodes, startNode(t, mesh, nodes[0].Addr()))
	}
	return nodes
}

// waitFor polls cond until it holds, or fails the test after waitTimeout.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %v: not %s", waitTimeout, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// converged reports whether every node holds every other live (Healthy, or
// Suspect: on a loaded machine a probe may miss its timeout, and memberlist
// refutes that), at the state that node holds of itself.
func converged(nodes []*node) bool {
	for _, n := range nodes {
		ms := n.Members()
		if len(ms) != len(nodes) {
			return false
		}
		for _, o := range nodes {
			i, ok := slices.BinarySearchFunc(ms, o.ID(), func(m membership.Member, id roles.NodeID) int { return m.State.Node.Compare(id) })
			if !ok || ms[i].State != o.Self().State || ms[i].Health != membership.Healthy && ms[i].Health != membership.Suspect {
				return false
			}
		}
	}
	return true
}

// TestConverge: five nodes joined through one static seed hold each other
// live at each other's own states, each learned by a Joined change, each
// state held verifies against its node, and each node's probes of the
// others are answered with their uptimes.
func TestConverge(t *testing.T) {
	nodes := startMesh(t, "converge", 5)
	waitFor(t, "converged", func() bool { return converged(nodes) })
	for _, n := range nodes {
		for _, o := range nodes {
			if o == n {
				continue
			}
			if !n.sawChange(o.ID(), func(c membership.Change) bool { return c.Kind == membership.Joined }) {
				t.Errorf("%s: no Joined for %s", n.ID().Short(), o.ID().Short())
			}
			if s, _ := n.State(o.ID()); !s.Verify() {
				t.Errorf("%s holds a state of %s that does not verify", n.ID().Short(), o.ID().Short())
			}
		}
		waitFor(t, "every peer heard directly, with its uptime", func() bool {
			for _, m := range n.Members() {
				if m.LastHeardTick == 0 || m.UptimeTicks == 0 {
					return false
				}
			}
			return true
		})
		if got := n.Counters().Refused(); got != 0 {
			t.Errorf("%s refused %d: %+v", n.ID().Short(), got, n.Counters())
		}
	}
}

// TestKilledNodeIsSuspectThenDead: a node shut down without leaving is
// Suspect at a node whose probe of it failed, and Dead at every node, in
// their change streams; never Forgotten (it did not leave).
func TestKilledNodeIsSuspectThenDead(t *testing.T) {
	nodes := startMesh(t, "kill", 4)
	waitFor(t, "converged", func() bool { return converged(nodes) })
	victim, rest := nodes[3], nodes[:3]
	id := victim.ID()
	if err := victim.Close(); err != nil {
		t.Fatal(err)
	}
	is := func(h membership.Health) func(membership.Change) bool {
		return func(c membership.Change) bool { return c.Kind == membership.HealthChanged && c.Health == h }
	}
	waitFor(t, "Dead everywhere", func() bool {
		for _, n := range rest {
			if !n.sawChange(id, is(membership.Dead)) || n.health(id) != membership.Dead {
				return false
			}
		}
		return true
	})
	suspected := false
	for _, n := range rest {
		cs := n.changes()
		s := slices.IndexFunc(cs, func(c membership.Change) bool { return c.Node == id && is(membership.Suspect)(c) })
		d := slices.IndexFunc(cs, func(c membership.Change) bool { return c.Node == id && is(membership.Dead)(c) })
		if s >= 0 {
			suspected = true
			if s > d || cs[d].Was != membership.Suspect {
				t.Errorf("%s: Suspect at %d, Dead at %d (was %v)", n.ID().Short(), s, d, cs[d].Was)
			}
		}
		if n.sawChange(id, func(c membership.Change) bool { return c.Kind == membership.Forgotten }) {
			t.Errorf("%s: a killed node reported as departed", n.ID().Short())
		}
	}
	if !suspected {
		t.Error("no node reported the killed node Suspect before Dead")
	}
}

// TestLeaveIsSeenAsLeave: a node that leaves gracefully is Forgotten at
// every other node, never Dead, and out of their Members.
func TestLeaveIsSeenAsLeave(t *testing.T) {
	nodes := startMesh(t, "leave", 4)
	waitFor(t, "converged", func() bool { return converged(nodes) })
	leaver, rest := nodes[3], nodes[:3]
	id := leaver.ID()
	// On a loaded machine a node may be falsely suspected, even declared
	// Dead and refute it, before it leaves: what counts is what follows.
	seen := make([]int, len(rest))
	for i, n := range rest {
		seen[i] = len(n.changes())
	}
	if err := leaver.Leave(0); err != nil {
		t.Fatal(err)
	}
	if err := leaver.Close(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "departed everywhere", func() bool {
		for _, n := range rest {
			if !n.sawChange(id, func(c membership.Change) bool { return c.Kind == membership.Forgotten }) {
				return false
			}
		}
		return true
	})
	for i, n := range rest {
		for _, c := range n.changes()[seen[i]:] {
			if c.Node == id && (c.Health == membership.Dead || c.Was == membership.Dead) {
				t.Errorf("%s: the leaver was Dead: %+v", n.ID().Short(), c)
			}
		}
		if h := n.health(id); h != membership.Unknown {
			t.Errorf("%s: a departed node still a member, %v", n.ID().Short(), h)
		}
		if _, ok := n.State(id); ok {
			t.Errorf("%s: State of a departed node", n.ID().Short())
		}
	}
	if err := leaver.UpdateSelf(func(s *membership.State) { s.SoftwareVersion = "x" }); !errors.Is(err, ErrClosed) {
		t.Errorf("UpdateSelf after Close: %v, want ErrClosed", err)
	}
}

// TestStateUpdatePropagates: a node's new roles reach every other node,
// signed by it, as an Updated change at the next Version.
func TestStateUpdatePropagates(t *testing.T) {
	nodes := startMesh(t, "update", 3)
	waitFor(t, "converged", func() bool { return converged(nodes) })
	src := nodes[0]
	for _, n := range nodes {
		n.changes()
		select { // the token for what was just drained, if it came after the last Changes
		case <-n.Wake():
		default:
		}
	}
	if err := src.UpdateSelf(func(s *membership.State) {
		s.Roles = roles.ControlPlane
		s.RaftAddr = "127.0.0.1:2380"
	}); err != nil {
		t.Fatal(err)
	}
	want := src.Self()
	if want.State.Version != 1 || !want.State.Roles.Has(roles.Etcd) {
		t.Fatalf("self after update: %+v", want.State)
	}
	waitFor(t, "the update everywhere", func() bool {
		for _, n := range nodes[1:] {
			if s, _ := n.State(src.ID()); s.State != want.State {
				return false
			}
		}
		return true
	})
	for _, n := range nodes[1:] {
		select {
		case <-n.Wake():
		default:
			t.Errorf("%s: no Wake token for the update", n.ID().Short())
		}
		s, _ := n.State(src.ID())
		if !s.Verify() {
			t.Errorf("%s holds the update unverifiable", n.ID().Short())
		}
		if !n.sawChange(src.ID(), func(c membership.Change) bool { return c.Kind == membership.Updated && c.Version == 1 }) {
			t.Errorf("%s: no Updated change at version 1", n.ID().Short())
		}
	}
}

// TestUpdateSelfBadState: a string over membership's limit, or strings over
// the meta limit, are typed errors, and the state stays as it was.
func TestUpdateSelfBadState(t *testing.T) {
	n := startNode(t, "bad-update")
	before := n.Self()
	err := n.UpdateSelf(func(s *membership.State) { s.SoftwareVersion = strings.Repeat("v", membership.StringBytesMax+1) })
	if !errors.Is(err, membership.ErrInvalidState) {
		t.Errorf("a string over StringBytesMax: %v, want membership.ErrInvalidState", err)
	}
	err = n.UpdateSelf(func(s *membership.State) {
		s.RaftAddr = strings.Repeat("r", 200)
		s.SoftwareVersion = strings.Repeat("v", 200)
	})
	if !errors.Is(err, ErrStateTooLarge) {
		t.Errorf("strings over the meta limit: %v, want ErrStateTooLarge", err)
	}
	if after := n.Self(); after.State != before.State {
		t.Errorf("state changed by refused updates: %+v", after.State)
	}
	// The largest state that fits: the strings take exactly what is left.
	room := MetaBytesMax - len(membership.AppendSignedState(nil, before)) + len(before.State.GossipAddr)
	if err := n.UpdateSelf(func(s *membership.State) {
		s.GossipAddr, s.RaftAddr, s.SoftwareVersion = strings.Repeat("g", room-2*100), strings.Repeat("r", 100), strings.Repeat("v", 100)
	}); err != nil {
		t.Errorf("a state of exactly %d bytes: %v", MetaBytesMax, err)
	}
	if got := len(membership.AppendSignedState(nil, n.Self())); got != MetaBytesMax {
		t.Errorf("largest state: %d bytes, want %d", got, MetaBytesMax)
	}
}

// TestJoinByDNSName: a node whose seed is "localhost:PORT" joins.
func TestJoinByDNSName(t *testing.T) {
	a := startNode(t, "dns")
	_, port, _ := strings.Cut(a.Addr(), ":")
	b := startNode(t, "dns", "localhost:"+port)
	nodes := []*node{a, b}
	waitFor(t, "converged through localhost", func() bool { return converged(nodes) })
	c := startNode(t, "dns")
	if n, err := c.Join("localhost:" + port); err != nil || n == 0 {
		t.Fatalf("Join(localhost:%s) = %d, %v", port, n, err)
	}
	nodes = append(nodes, c)
	waitFor(t, "converged after Join by name", func() bool { return converged(nodes) })
}

// TestOtherMeshNeverMerges: a node of another mesh that joins this mesh's
// seed is not taken, and takes no one: its join fails, and the mesh goes on
// without it (a third node joins meanwhile and is seen by both).
func TestOtherMeshNeverMerges(t *testing.T) {
	a := startNode(t, "mesh-a")
	b := startNode(t, "mesh-b", a.Addr()) // its rejoin loop keeps trying
	if n, err := b.Join(a.Addr()); err == nil || n != 0 {
		t.Errorf("join across meshes = %d, %v; want 0 and an error", n, err)
	}
	c := startNode(t, "mesh-a", a.Addr())
	waitFor(t, "mesh-a converged", func() bool { return converged([]*node{a, c}) })
	for _, n := range []*node{a, c} {
		if _, ok := n.State(b.ID()); ok || n.sawChange(b.ID(), func(membership.Change) bool { return true }) {
			t.Errorf("%s (mesh-a) took %s of mesh-b", n.ID().Short(), b.ID().Short())
		}
	}
	if ms := b.Members(); len(ms) != 1 || len(b.changes()) != 0 {
		t.Errorf("mesh-b's node took mesh-a's: %d members, changes %v", len(ms), b.changes())
	}
}

// TestCloseEndsGoroutines: after every node of a mesh is closed, the
// goroutines are what they were before it started.
func TestCloseEndsGoroutines(t *testing.T) {
	before := goroutines()
	nodes := startMesh(t, "close", 3)
	waitFor(t, "converged", func() bool { return converged(nodes) })
	if err := nodes[2].Leave(0); err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes {
		if err := n.Close(); err != nil {
			t.Fatal(err)
		}
		if err := n.Close(); err != nil {
			t.Errorf("second Close: %v", err)
		}
	}
	waitFor(t, fmt.Sprintf("back to %d goroutines", before), func() bool { return goroutines() <= before })
	if _, err := nodes[0].Join(nodes[1].Addr()); !errors.Is(err, ErrClosed) {
		t.Errorf("Join after Close: %v, want ErrClosed", err)
	}
	if err := nodes[0].Leave(0); !errors.Is(err, ErrClosed) {
		t.Errorf("Leave after Close: %v, want ErrClosed", err)
	}
}

func goroutines() int { return runtime.NumGoroutine() }

// TestRestartRejoins: a node killed and restarted with the same key on a
// new port, at a higher incarnation, is Healthy again everywhere at its new
// state and address (memberlist takes the name at a new address once it
// has forgotten the Dead node, after GossipToTheDeadTime; the view kept it
// Dead meanwhile, and revives it).
func TestRestartRejoins(t *testing.T) {
	nodes := startMesh(t, "restart", 3)
	waitFor(t, "converged", func() bool { return converged(nodes) })
	old := nodes[2]
	key := old.cfg.Key
	if err := old.Close(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "Dead", func() bool {
		return nodes[0].health(old.ID()) == membership.Dead && nodes[1].health(old.ID()) == membership.Dead
	})
	back := startWith(t, Config{Key: key, Mesh: "restart", Seeds: []string{nodes[0].Addr()},
		Self: membership.State{Incarnation: 1}})
	if back.Addr() == old.Addr() {
		t.Fatalf("restarted on the same address %s", back.Addr())
	}
	nodes[2] = back
	waitFor(t, "converged after the restart", func() bool { return converged(nodes) })
	for _, n := range nodes[:2] {
		if !n.sawChange(back.ID(), func(c membership.Change) bool {
			return c.Kind == membership.HealthChanged && c.Was == membership.Dead && c.Health == membership.Healthy && c.Incarnation == 1
		}) {
			t.Errorf("%s: no Dead → Healthy at incarnation 1", n.ID().Short())
		}
	}
}

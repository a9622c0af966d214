package membership

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"hash"
	"math/rand/v2"
	"slices"
	"testing"

	"revoada.dev/revoada/core/roles"
)

// cluster is a tiny in-test network of Membership instances. One step is one
// tick: every running node ticks, then every message queued since the last
// step is delivered (unless cut or its receiver is down). Replies made while
// stepping go out in the next step, so a message takes one tick.
type cluster struct {
	t     testing.TB
	seed  uint64
	keys  []ed25519.PrivateKey
	ids   []roles.NodeID
	index map[roles.NodeID]int
	nodes []*Membership // nil while crashed
	// cut, if set, drops the messages it returns true for.
	cut     func(from, to int) bool
	drop    func(Message) bool // if set, drops the messages it returns true for
	observe func(Message)      // if set, sees every message delivered
	tweak   func(*Config)
	now     uint64
	trace   hash.Hash // every message and change, in order
	// seen[i][j] lists the health values node i has given node j, in order.
	seen []map[int][]Health
	// handed holds the last step's outboxes as Ready gave them, with their
	// encoding: the next step's must not write over them (room's slab).
	handed []handedOut
	// recycle, if set, has every node Recycle once a step's messages are
	// delivered (as a driver that encodes what it sends may).
	recycle bool
}

type handedOut struct {
	node int
	msgs []Message
	enc  []byte
}

func encodeAll(msgs []Message) []byte {
	var b []byte
	for _, msg := range msgs {
		b = appendMessage(b, msg)
	}
	return b
}

func newCluster(t testing.TB, n int, seed uint64, tweak func(*Config)) *cluster {
	c := &cluster{t: t, seed: seed, index: map[roles.NodeID]int{}, tweak: tweak, trace: sha256.New()}
	r := rand.New(rand.NewPCG(seed, 0xc1))
	for i := range n {
		var s [32]byte
		for k := 0; k < 32; k += 8 {
			binary.LittleEndian.PutUint64(s[k:], r.Uint64())
		}
		key := ed25519.NewKeyFromSeed(s[:])
		var id roles.NodeID
		copy(id[:], key.Public().(ed25519.PublicKey))
		c.keys, c.ids = append(c.keys, key), append(c.ids, id)
		c.index[id] = i
	}
	c.nodes = make([]*Membership, n)
	c.seen = make([]map[int][]Health, n)
	for i := range n {
		c.seen[i] = map[int][]Health{}
		c.start(i, 1)
	}
	return c
}

// start (re)starts node i at the given incarnation. Each start draws from
// its own random stream, named by node and incarnation.
func (c *cluster) start(i int, incarnation uint64) {
	cfg := Config{Self: c.ids[i], Key: c.keys[i], Rand: rand.New(rand.NewPCG(c.seed, uint64(i)<<32|incarnation))}
	if c.tweak != nil {
		c.tweak(&cfg)
	}
	m, err := New(cfg, State{
		Incarnation: incarnation, GossipAddr: fmt.Sprintf("10.0.0.%d:7946", i), RaftAddr: fmt.Sprintf("10.0.0.%d:2380", i),
		Roles: roles.Worker, Capacity: Capacity{CPUMilli: 4000, MemoryBytes: 8 << 30, StorageBytes: 100 << 30, Pods: 110},
		SoftwareVersion: "v0.1.0",
	})
	if err != nil {
		c.t.Fatal(err)
	}
	c.nodes[i] = m
}

// joinAll has every node but the seed join through it.
func (c *cluster) joinAll(seed int) {
	for i, m := range c.nodes {
		if i != seed {
			m.Join([]roles.NodeID{c.ids[seed]})
		}
	}
}

func (c *cluster) step() {
	c.now++
	for _, m := range c.nodes {
		if m != nil {
			m.Tick()
		}
	}
	var msgs []Message
	var handed []handedOut
	for i, m := range c.nodes {
		if m == nil {
			continue
		}
		c.bookkept(i, m)
		rd := m.Ready()
		msgs = append(msgs, rd.Messages...)
		handed = append(handed, handedOut{i, rd.Messages, encodeAll(rd.Messages)})
		for _, ch := range rd.Changes {
			fmt.Fprintf(c.trace, "%d %d %v %x %v %v %d %d\n", c.now, i, ch.Kind, ch.Node[:4], ch.Health, ch.Was, ch.Incarnation, ch.Version)
			if ch.Kind == HealthChanged || ch.Kind == Joined {
				j := c.index[ch.Node]
				c.seen[i][j] = append(c.seen[i][j], ch.Health)
			}
		}
	}
	for _, h := range c.handed {
		if string(encodeAll(h.msgs)) != string(h.enc) {
			c.t.Fatalf("node %d: an outbox Ready handed out at tick %d changed after", h.node, c.now-1)
		}
	}
	c.handed = handed
	for _, msg := range msgs {
		c.trace.Write(appendMessage(binary.BigEndian.AppendUint64(nil, c.now), msg))
		from, to := c.index[msg.From], c.index[msg.To]
		if c.nodes[to] == nil || (c.cut != nil && c.cut(from, to)) || (c.drop != nil && c.drop(msg)) {
			continue
		}
		if c.observe != nil {
			c.observe(msg)
		}
		c.nodes[to].Step(msg)
	}
	if c.recycle {
		c.handed = nil // written over, as Recycle allows
		for _, m := range c.nodes {
			if m != nil {
				m.Recycle()
			}
		}
	}
}

// bookkept checks what node i keeps so as not to recompute it: the peers
// in NodeID order, each the one the map holds; the count of Dead ones; the
// digest it last answered, which must be today's.
func (c *cluster) bookkept(i int, m *Membership) {
	c.t.Helper()
	dead := 0
	for k, p := range m.sorted {
		if m.peers.get(p.node()) != p || k > 0 && m.sorted[k-1].node().Compare(p.node()) >= 0 {
			c.t.Fatalf("node %d: peer %d of %d out of order or not in the map", i, k, len(m.sorted))
		}
		if p.health == Dead {
			dead++
		}
	}
	if len(m.sorted) != m.peers.len() || dead != m.dead {
		c.t.Fatalf("node %d: %d sorted peers, %d in the map, %d Dead counted %d", i, len(m.sorted), m.peers.len(), dead, m.dead)
	}
	if len(m.orderPeers) != len(m.order) {
		c.t.Fatalf("node %d: a traversal of %d ids and %d peers", i, len(m.order), len(m.orderPeers))
	}
	for k, p := range m.orderPeers {
		if p.node() != m.order[k] || !p.forgotten && m.peers.get(p.node()) != p {
			c.t.Fatalf("node %d: traversal entry %d is not its id's peer", i, k)
		}
	}
	absent := 0
	for _, id := range m.seeds {
		if m.peers.get(id) == nil {
			absent++
		}
	}
	if absent != m.seedsAbsent {
		c.t.Fatalf("node %d: %d seeds absent from the view, counted %d", i, absent, m.seedsAbsent)
	}
	byLeft := func(a, b broadcast) int { return b.left - a.left }
	if k := m.queueSplit; k >= 0 && (!slices.IsSortedFunc(m.queue[:k], byLeft) || !slices.IsSortedFunc(m.queue[k:], byLeft)) {
		c.t.Fatalf("node %d: queue split at %d is not two runs in order: %v", i, k, m.queue)
	}
	for _, b := range m.queue {
		if held := m.peers.get(b.node); b.node != m.cfg.Self && (b.p == nil || held != b.p && !(held == nil && b.p.forgotten)) {
			c.t.Fatalf("node %d: a broadcast of %s points to another peer than the view's", i, b.node.Short())
		}
	}
	if m.digestMemo == nil {
		return
	}
	var fresh []Stamp
	for k, at := 0, m.selfAt(); k <= len(m.sorted); k++ {
		s, _ := m.heldAt(k, at)
		fresh = append(fresh, s.State.Stamp())
	}
	if !slices.Equal(fresh, m.digestMemo) {
		c.t.Fatalf("node %d: kept digest %v, holds %v", i, m.digestMemo, fresh)
	}
}

// runUntil steps until done holds (checked after each step) or limit steps
// have passed; it returns the steps taken and whether done held.
func (c *cluster) runUntil(limit int, done func() bool) (int, bool) {
	for n := 1; n <= limit; n++ {
		c.step()
		if done() {
			return n, true
		}
	}
	return limit, false
}

// agreed: every running node sees every node Healthy, with the same states.
func (c *cluster) agreed() bool {
	var ref []Member
	for _, m := range c.nodes {
		if m == nil {
			return false
		}
		ms := m.Members()
		if len(ms) != len(c.nodes) {
			return false
		}
		for j, mb := range ms {
			if mb.Health != Healthy || (ref != nil && mb.State != ref[j].State) {
				return false
			}
		}
		ref = ms
	}
	return true
}

// healthEverywhere: every running node other than x sees x with health h.
func (c *cluster) healthEverywhere(x int, h Health) bool {
	for i, m := range c.nodes {
		if i != x && m != nil && m.Health(c.ids[x]) != h {
			return false
		}
	}
	return true
}

func (c *cluster) everSaw(x int, h Health) (who []int) {
	for i := range c.nodes {
		for _, got := range c.seen[i][x] {
			if got == h {
				who = append(who, i)
				break
			}
		}
	}
	return who
}

func (c *cluster) sum(f func(Counters) uint64) (n uint64) {
	for _, m := range c.nodes {
		if m != nil {
			n += f(m.Counters())
		}
	}
	return n
}

func ticksToRounds(ticks, intervalTicks int) int {
	return (ticks + intervalTicks - 1) / intervalTicks
}

// appendMessage is a test-only encoding of a message, for the trace hash.
func appendMessage(b []byte, m Message) []byte {
	b = append(append(append(b, m.From[:]...), m.To[:]...), byte(m.Kind))
	b = binary.BigEndian.AppendUint64(b, m.Seq)
	b = append(b, m.Target[:]...)
	for _, n := range []int{len(m.Digest), len(m.States), len(m.Suspects)} {
		b = binary.BigEndian.AppendUint32(b, uint32(n))
	}
	for _, s := range m.Digest {
		b = binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint64(append(b, s.Node[:]...), s.Incarnation), s.Version)
	}
	for _, s := range m.States {
		b = AppendSignedState(b, s)
	}
	for _, s := range m.Suspects {
		b = binary.BigEndian.AppendUint64(append(b, s.Node[:]...), s.Incarnation)
	}
	return b
}

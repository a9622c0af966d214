package membership

import (
	"bytes"
	"fmt"
	"math/bits"
	"slices"

	"revoada.dev/revoada/core/roles"
)

// round is one protocol period: the next 1+Fanout members of the SWIM
// traversal get a Gossip of the recent states (the first Fanout; in one
// round of PushPullEveryRounds, or while more is queued than one Gossip
// carries, the first of them a full push-pull instead) or a Ping (the
// last), so a round costs the same whatever the mesh's size. A quiet round
// (nothing queued, nobody suspected) sends no Gossip: it takes only the
// next member and Pings it, or the next two, for the push-pull if one is
// due and the Ping. An empty Gossip would tell nobody anything; at 100
// nodes the empty ones were 41% of every message received. A random Dead
// member gets a push-pull with probability dead/live (Serf's
// reconnect), so a healed partition or a restarted node is found again while
// each Dead address draws about one attempt per round from the whole mesh;
// with no live member at all, every seed is tried again; and while some seed
// is not in the view at all, one of them, in turn, gets a push-pull every
// round. Without that last rule a partition at boot leaves two islands that
// each know only themselves, for ever: neither side has the other's state to
// contact, and each has live members, so it never returns to its seeds.
func (m *Membership) round() {
	m.rounds++
	// More queued than one Gossip carries is a mesh in upheaval (a join
	// wave, a healed partition): a push-pull then reconciles faster.
	full := m.rounds%m.pushPullEvery() == 0 || len(m.queue) > m.cfg.StatesPerMessageMax
	// A quiet round, with no state queued and no suspicion to spread, has
	// nothing to gossip: it only Pings the next member of the traversal,
	// after the push-pull if one is due.
	n := 1 + m.cfg.Fanout
	if len(m.queue) == 0 && len(m.suspects) == 0 {
		n = 1
		if full {
			n = 2
		}
	}
	targets := m.nextTargets(n)
	m.room(len(targets))
	for i, id := range targets {
		switch {
		case i == 0 && full:
			m.sendPushPull(id)
		case i < n-1:
			m.send(Message{To: id, Kind: Gossip, States: m.broadcasts()})
		default:
			m.probeNext(id)
		}
	}
	if m.dead > 0 && m.cfg.Rand.IntN(max(len(m.sorted)-m.dead, 1)) < m.dead {
		m.sendPushPull(m.deadPeer(m.cfg.Rand.IntN(m.dead)))
	}
	if len(targets) == 0 {
		for _, id := range m.seeds {
			m.sendPushPull(id)
		}
		return
	}
	if m.seedsAbsent == 0 { // the scan below would find every seed in the view
		m.nextSeed += len(m.seeds)
		return
	}
	for range m.seeds {
		id := m.seeds[m.nextSeed%len(m.seeds)]
		m.nextSeed++
		if m.peers.get(id) == nil {
			m.sendPushPull(id)
			break
		}
	}
}

// nextTargets takes up to n distinct live members from the traversal. As in
// SWIM §4.3, the traversal is a random permutation of the live members, made
// anew each time it runs out, and a member that joins is inserted at a random
// place in what is left of it. Every live member is so contacted once per
// ⌈members/n⌉ rounds, which bounds the gaps its detector sees. The answer
// is good until the next call, which reuses its array.
func (m *Membership) nextTargets(n int) []roles.NodeID {
	out := m.targets[:0]
	reshuffled := false
	for len(out) < n {
		if m.next >= len(m.order) {
			if reshuffled {
				break
			}
			m.reshuffle()
			reshuffled = true
			continue
		}
		id, p := m.order[m.next], m.orderPeers[m.next]
		m.next++
		if p.forgotten { // evicted since: the view's peer of id now, if any
			p = m.peers.get(id)
		}
		if p != nil && p.health != Dead && !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	m.targets = out
	return out
}

// deadPeer is the id of the i-th Dead peer in NodeID order.
func (m *Membership) deadPeer(i int) roles.NodeID {
	for _, p := range m.sorted {
		if p.health != Dead {
			continue
		}
		if i == 0 {
			return p.node()
		}
		i--
	}
	panic(fmt.Sprintf("membership: dead peer %d of %d counted", i, m.dead))
}

func (m *Membership) reshuffle() {
	m.order, m.orderPeers, m.next = m.order[:0], m.orderPeers[:0], 0
	for _, p := range m.sorted {
		if p.health != Dead {
			m.order, m.orderPeers = append(m.order, p.node()), append(m.orderPeers, p)
		}
	}
	m.cfg.Rand.Shuffle(len(m.order), func(i, j int) {
		m.order[i], m.order[j] = m.order[j], m.order[i]
		m.orderPeers[i], m.orderPeers[j] = m.orderPeers[j], m.orderPeers[i]
	})
}

// insertOrder puts id at a random place among the members not yet visited
// this traversal. The traversal never holds more than 2·SeenMax entries.
func (m *Membership) insertOrder(p *peer) {
	id := p.node()
	if len(m.order) == 0 || len(m.order) >= 2*m.cfg.SeenMax || slices.Contains(m.order[m.next:], id) {
		return
	}
	at := m.next + m.cfg.Rand.IntN(len(m.order)-m.next+1)
	m.order, m.orderPeers = slices.Insert(m.order, at, id), slices.Insert(m.orderPeers, at, p)
}

// broadcast is a state in the gossip queue: the node whose current state
// to send (p its peer, nil for self), and how many more times.
type broadcast struct {
	node roles.NodeID
	p    *peer
	left int
}

// enqueue puts id's current state in the gossip queue for
// RetransmitMult·⌈log₁₀(members+1)⌉ sends, members counting this node
// (memberlist's retransmit limit, retransmitLimit(mult, NumNodes()):
// enough for an epidemic to reach every member with high probability, each
// receiver sending it on as often), or renews it. The queue holds at most SeenMax+1 entries; when full, the one
// with the fewest sends left makes room.
func (m *Membership) enqueue(id roles.NodeID, p *peer) {
	limit := m.cfg.RetransmitMult * ceilLog10(len(m.sorted)+2) // members (self too) + 1
	m.queueSplit = -1
	if i := slices.IndexFunc(m.queue, func(b broadcast) bool { return b.node == id }); i >= 0 {
		m.queue[i].left, m.queue[i].p = limit, p
		return
	}
	if len(m.queue) > m.cfg.SeenMax {
		i := 0
		for j, b := range m.queue {
			if b.left < m.queue[i].left {
				i = j
			}
		}
		m.queue = slices.Delete(m.queue, i, i+1)
		m.counters.Dropped++
	}
	m.queue = append(m.queue, broadcast{id, p, limit})
}

// broadcasts takes up to StatesPerMessageMax states from the gossip queue,
// those with the most sends left (the least sent) first, each counting one
// send; a state sent its last time leaves the queue. Each is the node's
// current state, so a state replaced since it was queued goes out new.
func (m *Membership) broadcasts() []SignedState {
	if len(m.queue) == 0 {
		return nil
	}
	m.sortQueue()
	n := min(len(m.queue), m.cfg.StatesPerMessageMax)
	var out []SignedState
	for i := range m.queue[:n] {
		b := &m.queue[i]
		b.left--
		s := &m.self
		if b.node != m.cfg.Self {
			if b.p == nil || b.p.forgotten {
				b.left = 0 // forgotten since
				continue
			}
			s = &b.p.signed
		}
		if out == nil {
			out = m.stateRoom(n)
		}
		out = append(out, *s)
	}
	// The n taken, one send fewer each, are still in order, and so is the
	// rest, every entry of which has a send left: the next call merges the
	// ones taken that stay with the rest, unless enqueue changes the queue
	// first.
	kept := 0
	for _, b := range m.queue[:n] {
		if b.left > 0 {
			kept++
		}
	}
	m.queue = slices.DeleteFunc(m.queue, func(b broadcast) bool { return b.left <= 0 })
	m.queueSplit = kept
	return out
}

// sortQueue orders the queue by sends left, most first, equals in the
// order they were (a stable sort). After a broadcasts call, and no enqueue
// since, the queue is two runs in that order (queueSplit entries, then the
// rest): a merge that takes from the first run on a tie is that sort.
func (m *Membership) sortQueue() {
	if m.queueSplit < 0 {
		slices.SortStableFunc(m.queue, func(a, b broadcast) int { return b.left - a.left })
		return
	}
	a, b := m.queue[:m.queueSplit], m.queue[m.queueSplit:]
	if len(a) == 0 || len(b) == 0 || a[len(a)-1].left >= b[0].left {
		return
	}
	out := m.queueSpare[:0]
	i, j := 0, 0
	for i < len(a) && j < len(b) {
		if b[j].left > a[i].left {
			out, j = append(out, b[j]), j+1
		} else {
			out, i = append(out, a[i]), i+1
		}
	}
	out = append(append(out, a[i:]...), b[j:]...)
	m.queue, m.queueSpare = out, m.queue[:0]
}

func (m *Membership) sendPushPull(to roles.NodeID) {
	m.send(Message{To: to, Kind: PushPull, Digest: m.digest()})
}

// heldAt is the k-th state this node holds, self included, in NodeID order
// (sorted is kept so: no sort), with the learnSeq it arrived at; self is at
// at, selfAt's answer.
func (m *Membership) heldAt(k, at int) (*SignedState, uint64) {
	switch {
	case k < at:
		return &m.sorted[k].signed, m.sorted[k].learned
	case k == at:
		return &m.self, m.selfLearned
	}
	return &m.sorted[k-1].signed, m.sorted[k-1].learned
}

// selfAt is where self goes among the sorted peers.
func (m *Membership) selfAt() int {
	at, _ := slices.BinarySearchFunc(m.sorted, m.cfg.Self, func(p *peer, id roles.NodeID) int { return p.node().Compare(id) })
	return at
}

// digest is the stamp of every state this node holds, self included, in
// NodeID order. The answer is kept until a stamp changes, and shared: no
// caller writes to it.
func (m *Membership) digest() []Stamp {
	if m.digestMemo != nil {
		return m.digestMemo
	}
	at := m.selfAt()
	out := make([]Stamp, len(m.sorted)+1)
	for k := range out {
		s, _ := m.heldAt(k, at)
		out[k] = s.State.Stamp()
	}
	m.digestMemo, m.digestSelfAt = out, at
	return out
}

// newerThan is the states this node holds that are newer than their stamp in
// theirs, or missing from it: newest first (the order this node learned
// them), at most StatesPerMessageMax. Only the first SeenMax+1 stamps of
// theirs are read. A digest comes sorted by NodeID (digest), so this is one
// merge of two sorted lists; one that is not is sorted first.
func (m *Membership) newerThan(theirs []Stamp) []SignedState {
	if len(theirs) > m.cfg.SeenMax+1 {
		m.counters.Dropped += uint64(len(theirs) - m.cfg.SeenMax - 1)
		theirs = theirs[:m.cfg.SeenMax+1]
	}
	byNode := func(a, b Stamp) int { return a.Node.Compare(b.Node) }
	if !slices.IsSortedFunc(theirs, byNode) {
		theirs = slices.SortedStableFunc(slices.Values(theirs), byNode)
	}
	type candidate struct {
		learned uint64
		state   *SignedState
	}
	var cands []candidate
	// Both lists are in NodeID order: j only moves forward. The kept digest
	// is read rather than the states, which lie one per peer.
	digest, j := m.digest(), 0
	at := m.digestSelfAt // the peers have not moved since digest's answer
	for k, mine := range digest {
		for j < len(theirs) && theirs[j].Node != mine.Node && theirs[j].Node.Compare(mine.Node) < 0 {
			j++
		}
		if j < len(theirs) && theirs[j].Node == mine.Node && mine.Compare(theirs[j]) <= 0 {
			continue
		}
		s, learned := m.heldAt(k, at)
		cands = append(cands, candidate{learned, s})
	}
	slices.SortFunc(cands, func(a, b candidate) int { return cmpUint(b.learned, a.learned) })
	out := m.stateRoom(min(len(cands), m.cfg.StatesPerMessageMax))
	for _, c := range cands[:min(len(cands), m.cfg.StatesPerMessageMax)] {
		out = append(out, *c.state)
	}
	return out
}

// mergeStates merges the first StatesPerMessageMax states, in order.
func (m *Membership) mergeStates(ss []SignedState) {
	if len(ss) > m.cfg.StatesPerMessageMax {
		m.counters.Dropped += uint64(len(ss) - m.cfg.StatesPerMessageMax)
		ss = ss[:m.cfg.StatesPerMessageMax]
	}
	for _, s := range ss {
		m.mergeState(s)
	}
}

// mergeState applies the merge rule to one state: the higher (Incarnation,
// Version) wins, and equal keeps what is held; an older state is Replayed.
// The stamps are compared first, so only a state that would be taken is
// verified against its own node's key (else Forged): a verification is the
// costliest step of gossip, and most states a node receives it holds.
func (m *Membership) mergeState(s SignedState) {
	id := s.State.Node
	if id == m.cfg.Self {
		m.mergeSelf(s)
		return
	}
	p := m.peers.get(id)
	if p != nil {
		switch s.State.Stamp().Compare(p.stamp()) {
		case -1:
			m.counters.Replayed++
			return
		case 0:
			// The same state, or the node signed two with one stamp (or
			// someone forged one): keep the first seen.
			m.counters.Duplicate++
			return
		}
	}
	if !s.Verify() {
		m.counters.Forged++
		return
	}
	s = s.proven()
	if p == nil {
		m.addPeer(s)
		return
	}
	m.updatePeer(p, s)
}

// mergeSelf: a verified state of this node newer than its own is from a
// previous life (a restart that lost its incarnation): refute above it. So
// is one with its own stamp but other content: a previous life refuted a
// suspicion up to the incarnation this life started at, and signed as many
// versions there. Its peers keep the first state they saw of a stamp, so
// this life's would never replace it (explore-5999: a restarted worker's
// new shape never reached the leader, which never sent it the shape it
// had forgotten).
func (m *Membership) mergeSelf(s SignedState) {
	switch c := s.State.Stamp().Compare(m.self.State.Stamp()); {
	case c == 0 && !bytes.Equal(s.Sig, m.self.Sig) && s.Verify():
		m.refute(s.State.Incarnation)
	case c == 0:
		m.counters.Duplicate++
	case c < 0:
		m.counters.Replayed++
	case !s.Verify():
		m.counters.Forged++
	default:
		m.refute(s.State.Incarnation)
	}
}

// addPeer takes a new member, Healthy, its detector started as if it had
// just been heard from (so a member learned through gossip that never answers
// is found out like one that stopped). With SeenMax peers held, the member
// longest Dead is forgotten to make room; with none Dead, s is dropped.
func (m *Membership) addPeer(s SignedState) {
	if m.peers.len() >= m.cfg.SeenMax && !m.evictDead() {
		m.counters.Dropped++
		return
	}
	id := s.State.Node
	p := &peer{signed: clone(s), health: Healthy, learned: m.nextLearn()}
	m.restartDetector(p)
	m.peers.put(p)
	at, _ := slices.BinarySearchFunc(m.sorted, id, func(p *peer, id roles.NodeID) int { return p.node().Compare(id) })
	m.sorted = slices.Insert(m.sorted, at, p)
	m.digestMemo = nil
	if slices.Contains(m.seeds, id) {
		m.seedsAbsent--
	}
	m.insertOrder(p)
	m.enqueue(id, p)
	m.counters.Accepted++
	m.change(Change{Kind: Joined, Node: id, Health: Healthy, Incarnation: s.State.Incarnation, Version: s.State.Version})
}

// updatePeer takes a newer state. An incarnation above the one suspected
// refutes the suspicion, or revives a Dead member (a restart): its detector
// starts afresh.
func (m *Membership) updatePeer(p *peer, s SignedState) {
	p.signed, p.learned, m.digestMemo = clone(s), m.nextLearn(), nil
	m.enqueue(s.State.Node, p)
	m.counters.Accepted++
	id := s.State.Node
	m.change(Change{Kind: Updated, Node: id, Health: p.health, Incarnation: s.State.Incarnation, Version: s.State.Version})
	if p.health != Healthy && s.State.Incarnation > p.suspectInc {
		if p.health == Dead {
			m.restartDetector(p)
			m.insertOrder(p)
		}
		m.setHealth(p, Healthy)
	}
}

func (m *Membership) restartDetector(p *peer) {
	p.det = newDetector(m.cfg.Detector)
	p.det.Heartbeat(m.now)
	m.rearm(p)
	p.lastBeat = m.now
}

// evictDead forgets the member Dead longest (the first in NodeID order among
// equals); false if none is Dead.
func (m *Membership) evictDead() bool {
	victim := -1
	for i, p := range m.sorted {
		if p.health == Dead && (victim < 0 || p.deadSince < m.sorted[victim].deadSince) {
			victim = i
		}
	}
	if victim < 0 {
		return false
	}
	p := m.sorted[victim]
	id := p.node()
	p.forgotten = true
	m.peers.del(id)
	m.sorted = slices.Delete(m.sorted, victim, victim+1)
	m.dead--
	m.evictions++
	m.digestMemo = nil
	if slices.Contains(m.seeds, id) {
		m.seedsAbsent++
	}
	m.change(Change{Kind: Forgotten, Node: id, Health: Unknown, Was: Dead,
		Incarnation: p.signed.State.Incarnation, Version: p.signed.State.Version})
	return true
}

func clone(s SignedState) SignedState {
	s.Sig = slices.Clone(s.Sig)
	return s
}

// ceilLog10 is ⌈log₁₀ x⌉ for x ≥ 1.
func ceilLog10(x int) int {
	k := 0
	for p := 1; p < x; p *= 10 {
		k++
	}
	return k
}

// pushPullScaleMembers is the mesh size above which push-pulls grow rarer.
const pushPullScaleMembers = 32

// pushPullEvery is how many rounds apart a node runs its regular push-pulls:
// PushPullEveryRounds, times ⌈log₂ members − log₂ 32⌉ + 1 above 32 members
// (memberlist's pushPullScale): each carries every member's stamp, so a
// larger mesh makes each dearer, while its gossip finds every member in
// O(log N) rounds anyway.
func (m *Membership) pushPullEvery() uint64 {
	every := uint64(m.cfg.PushPullEveryRounds)
	if n := len(m.sorted) + 1; n > pushPullScaleMembers {
		every *= uint64(bits.Len(uint(n-1)) - bits.Len(pushPullScaleMembers-1) + 1)
	}
	return every
}

package sim

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"time"

	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"revoada.dev/revoada/checkers"
	"revoada.dev/revoada/core/membership"
	"revoada.dev/revoada/core/node"
	"revoada.dev/revoada/core/store"
	"revoada.dev/revoada/net/wire"
)

// The simulated network. A message from a to b is dropped when a partition
// cuts a→b (for its traffic class) or with the loss probability of a→b;
// otherwise it leaves a's pipe (Network.Bandwidth: each node sends one
// message after the other, each taking its size over the bandwidth, and
// drops one that finds more than Queue bytes unsent), then the pipe of the
// link rule covering a→b if it has a bandwidth, and arrives after a latency
// drawn from a→b's distribution; a duplicate takes a latency of its own. A
// message to or from a clogged node is held, not dropped, until neither end
// is clogged, then goes on with the rest of its latency.
//
// Link rules come from Network.Links, in order, then from link faults as
// they fire; where two cover a→b the later wins, and an undone fault's rule
// is removed, leaving the earlier ones in force. A rule's loss is a chance
// of its own, independent of the network's: a message crosses with
// probability (1-network)(1-link).
//
// Nothing here draws a random number or writes a trace line that the
// baseline network (uniform latency, no links, no bandwidth, no clogs) would
// not: a plan that uses none of them runs as it did before they existed.

// network is the state of the links beyond the baseline rates.
type network struct {
	rules    []*linkRule   // in force, in the order they came
	table    [][]*linkRule // table[a][b]: the rule on a→b, nil for the baseline; nil while no rule is in force
	uplink   []pipe        // each node's sending pipe; nil without Network.Bandwidth
	clogs    []int         // clogs[i]: the clogs holding node i
	held     []event       // messages clogs hold, in the order held; at is the latency still to go
	wire     []byte        // the message being sent, encoded (net/wire); reused
	decoder  wire.Decoder  // decodes it, over gossip messages already delivered
	nextRule uint64
}

// linkRule is a Link in force, its ends resolved.
type linkRule struct {
	id       uint64
	from, to []bool // the nodes at each end
	link     Link
	fwd, rev pipe // from→to and to→from, with link.Bandwidth
}

// pipe serialises the messages through a link or out of a node.
type pipe struct {
	bandwidth, queue int64         // bytes per second; bytes
	free             time.Duration // when what it holds has left
}

// send passes size bytes into the pipe at now: when they have left, or
// false when more than the queue is waiting (tail drop). A message that
// finds room is taken whole, however large: a snapshot bigger than the
// queue must not starve behind a steady stream of small messages.
func (p *pipe) send(now time.Duration, size int64) (time.Duration, bool) {
	if p.bandwidth == 0 {
		return now, true
	}
	start := max(now, p.free)
	waiting := int64(start-now) * p.bandwidth / int64(time.Second) // bytes ahead of this message, unsent
	if waiting > p.queue {
		return 0, false
	}
	p.free = start + time.Duration(size*int64(time.Second)/p.bandwidth)
	return p.free, true
}

// newNetwork sets up the plan's network: its links, which name nodes, and
// each node's pipe.
func newNetwork(p *Plan) network {
	n := network{clogs: make([]int, p.Nodes)}
	if p.Network.Bandwidth > 0 {
		n.uplink = make([]pipe, p.Nodes)
		for i := range n.uplink {
			n.uplink[i] = pipe{bandwidth: p.Network.Bandwidth, queue: p.Network.Queue}
		}
	}
	for _, l := range p.Network.Links {
		n.add(l, namedNodes(l.From), namedNodes(l.To))
	}
	return n
}

// namedNodes are the indices of node names.
func namedNodes(sels []Selector) []int {
	out := make([]int, 0, len(sels))
	for _, sel := range sels {
		i, ok := sel.Node()
		if !ok {
			panic(fmt.Sprintf("sim: unvalidated node name %q", sel))
		}
		out = append(out, i-1)
	}
	return out
}

// add puts a rule in force between the nodes from and to (to empty: every
// node not in from) and returns its id.
func (n *network) add(l Link, from, to []int) uint64 {
	size := len(n.clogs)
	r := &linkRule{id: n.nextRule, from: make([]bool, size), to: make([]bool, size), link: l,
		fwd: pipe{bandwidth: l.Bandwidth, queue: l.Queue}, rev: pipe{bandwidth: l.Bandwidth, queue: l.Queue}}
	n.nextRule++
	for _, i := range from {
		r.from[i] = true
	}
	for i := range r.to {
		r.to[i] = len(to) == 0 && !r.from[i]
	}
	for _, i := range to {
		r.to[i] = true
	}
	n.rules = append(n.rules, r)
	n.rebuild()
	return r.id
}

// remove takes the rule id out of force.
func (n *network) remove(id uint64) {
	n.rules = slices.DeleteFunc(n.rules, func(r *linkRule) bool { return r.id == id })
	n.rebuild()
}

// rebuild recomputes the table of which rule holds on each link.
func (n *network) rebuild() {
	if len(n.rules) == 0 {
		n.table = nil
		return
	}
	size := len(n.clogs)
	n.table = make([][]*linkRule, size)
	for a := range size {
		n.table[a] = make([]*linkRule, size)
		for b := range size {
			for _, r := range slices.Backward(n.rules) {
				if r.covers(a, b) {
					n.table[a][b] = r
					break
				}
			}
		}
	}
}

// covers reports whether the rule holds on a→b.
func (r *linkRule) covers(a, b int) bool {
	if a == b {
		return false
	}
	return r.from[a] && r.to[b] || !r.link.OneWay && r.to[a] && r.from[b]
}

// pipe is the rule's pipe a→b takes.
func (r *linkRule) pipe(a, b int) *pipe {
	if r.from[a] && r.to[b] {
		return &r.fwd
	}
	return &r.rev
}

// rule is the link rule on a→b, or nil for the baseline.
func (n *network) rule(a, b int) *linkRule {
	if n.table == nil {
		return nil
	}
	return n.table[a][b]
}

// lossOn is the chance a message on a link under rule r is dropped.
func (s *simulator) lossOn(r *linkRule) float64 {
	if r == nil || r.link.Loss == 0 {
		return s.loss
	}
	return 1 - (1-s.loss)*(1-r.link.Loss)
}

// delay draws a message's latency on a link under rule r.
func (s *simulator) delay(r *linkRule) time.Duration {
	nw := s.plan.Network
	lo, hi, d := nw.LatencyMin, nw.LatencyMax, nw.Distribution
	if r != nil {
		lo, hi, d = r.link.LatencyMin, r.link.LatencyMax, r.link.Distribution
	}
	return drawLatency(s.netRand, lo, hi, d)
}

// drawLatency draws a latency from a distribution over [lo, hi]
// (Distribution): one draw from r, none when lo = hi.
func drawLatency(r *rand.Rand, lo, hi time.Duration, d Distribution) time.Duration {
	span := hi - lo
	if span <= 0 {
		return lo
	}
	switch d {
	case Normal:
		x := float64(lo+hi)/2 + float64(span)/6*r.NormFloat64()
		return time.Duration(min(max(x, float64(lo)), float64(hi)))
	case Pareto:
		u := 1 - r.Float64() // in (0, 1]
		x := float64(span) / ParetoSpanShares * (math.Pow(u, -1/ParetoShape) - 1)
		return lo + time.Duration(min(x, float64(span)))
	}
	return lo + time.Duration(r.Int64N(int64(span)+1))
}

// queue passes a message from a to b through the pipes it takes: when it
// has left them, or false when one is too full.
func (s *simulator) queue(a, b int, r *linkRule, m node.Message) (time.Duration, bool) {
	out := s.now
	if s.net.uplink == nil && (r == nil || r.link.Bandwidth == 0) {
		return out, true
	}
	size := MessageBytes(m)
	if s.net.uplink != nil {
		var ok bool
		if out, ok = s.net.uplink[a].send(out, size); !ok {
			return 0, false
		}
	}
	if r != nil && r.link.Bandwidth > 0 {
		return r.pipe(a, b).send(out, size)
	}
	return out, true
}

// post schedules a message's delivery, or holds it while a clog holds
// either end. e.at is when it would arrive.
func (s *simulator) post(e event) {
	if !s.clogged(e.from, e.node) {
		s.push(e)
		return
	}
	e.at -= s.now
	s.hold(e)
}

// hold keeps a message, whose at is the latency it has still to go, until
// the clogs on its ends are gone; past HeldMessagesMax it is dropped.
func (s *simulator) hold(e event) {
	if len(s.net.held) >= HeldMessagesMax {
		s.stats.Dropped++
		s.trace.event(s.now, s.nodes[e.from].name, "drop", s.nodes[e.node].name+" "+e.msg.Describe()+" (clog full)")
		s.lost(e.from, e.node, e.msg, false)
		return
	}
	s.stats.Held++
	s.net.held = append(s.net.held, e)
}

// clogged reports whether a clog holds the messages between a and b.
func (s *simulator) clogged(a, b int) bool { return s.net.clogs[a] > 0 || s.net.clogs[b] > 0 }

// clog holds every message to or from the nodes until unclog.
func (s *simulator) clog(nodes []int) {
	for _, i := range nodes {
		s.net.clogs[i]++
	}
}

// unclog ends one clog on each of the nodes and sends on, in the order they
// were held, the messages no clog holds any more.
func (s *simulator) unclog(nodes []int) {
	for _, i := range nodes {
		s.net.clogs[i]--
	}
	var still []event
	for _, e := range s.net.held {
		if s.clogged(e.from, e.node) {
			still = append(still, e)
			continue
		}
		e.at += s.now
		s.push(e)
	}
	s.net.held = still
}

// hears reports whether messages of the kind from a reach b: no partition
// cuts them and no clog holds them.
func (s *simulator) hears(a, b int, kind node.MessageKind) bool {
	return !s.cut(a, b, kind) && !s.clogged(a, b)
}

// spared are the message kinds a partition of the traffic lets through, a
// bit per node.MessageKind.
func spared(t Traffic) uint8 {
	switch t {
	case RaftTraffic:
		return ^uint8(1<<node.MsgRaft | 1<<node.MsgShape)
	case GossipTraffic:
		return ^uint8(1 << node.MsgGossip)
	case RequestTraffic:
		return ^uint8(1<<node.MsgForward | 1<<node.MsgResult)
	}
	return 0
}

// networkDisturbed reports whether a network fault is in force: a link
// fault's rule or a clog. (The plan's own links are the network, not a
// fault.)
func (s *simulator) networkDisturbed() bool {
	return len(s.net.rules) > len(s.plan.Network.Links) || slices.ContainsFunc(s.net.clogs, func(c int) bool { return c > 0 })
}

// linkDetail describes a link for traces and marks.
func (s *simulator) linkDetail(l Link, from, to []int) string {
	var b strings.Builder
	b.WriteString(s.nodeNames(from))
	if l.OneWay {
		b.WriteString(">")
	} else {
		b.WriteString("<>")
	}
	if len(to) == 0 {
		b.WriteString("rest")
	} else {
		b.WriteString(s.nodeNames(to))
	}
	fmt.Fprintf(&b, " latency %v..%v", l.LatencyMin, l.LatencyMax)
	if l.Distribution != "" {
		b.WriteString(" " + string(l.Distribution))
	}
	if l.Loss > 0 {
		fmt.Fprintf(&b, " loss %v", l.Loss)
	}
	if l.Bandwidth > 0 {
		fmt.Fprintf(&b, " bandwidth %d/s queue %d", l.Bandwidth, l.Queue)
	}
	return b.String()
}

// Message sizes, as a wire codec would write them: fixed-width integers,
// 32-byte node IDs and digests, strings and byte strings with a 4-byte
// length. Raft messages are their protobuf size.
const (
	envelopeBytes  = 32 + 32 + 1 + 1                             // from, to, kind, hops
	requestIDBytes = 32 + 8 + 8                                  // origin, incarnation, sequence
	commandBytes   = 1 + 32 + 1 + 1                              // kind, node, roles, reason
	stampBytes     = 32 + 8 + 8                                  // node, incarnation, version
	suspicionBytes = 32 + 8                                      // node, incarnation
	stateBytes     = 1 + 32 + 8 + 8 + 1 + 32 + 8 + 32*3 + 3 + 64 // fixed fields of a signed state and its signature
	lengthBytes    = 4
)

// MessageBytes is the size of a message on the wire, for bandwidth and
// queue limits: the protobuf size of a raft message, and for the others the
// fields a canonical encoding would write.
func MessageBytes(m node.Message) int64 {
	n := int64(envelopeBytes)
	if m.Raft != nil {
		n += int64(proto.Size(m.Raft))
	}
	if r := m.Request; r != nil {
		n += requestIDBytes + 8 + int64(len(r.Shift))*commandBytes
		if r.Fence != nil {
			n += 8 + 32
		}
		if w := r.Write; w != nil {
			n += 1 + resourceBytes(w.Resource) + refBytes(w.Ref) + 9 + lengthBytes + int64(len(w.Snapshot))
		}
		if rd := r.Read; rd != nil {
			n += 2 + refBytes(rd.Ref) + 2*lengthBytes + int64(len(rd.Kind)+len(rd.Namespace))
		}
	}
	if r := m.Result; r != nil {
		n += requestIDBytes + 8 + 2 + 8 + 8 + resourceBytes(r.Resource)
		if r.Err != nil {
			n += lengthBytes + int64(len(r.Err.Error()))
		}
		for _, it := range r.Items {
			n += resourceBytes(it)
		}
	}
	if g := m.Gossip; g != nil {
		n += gossipBytes(g)
	}
	return n
}

func refBytes(r store.Ref) int64 {
	return 3*lengthBytes + int64(len(r.Kind)+len(r.Namespace)+len(r.Name))
}

func resourceBytes(r store.Resource) int64 {
	return refBytes(r.Ref) + 2*lengthBytes + int64(len(r.Face)+len(r.Payload)) + 1 + 3*8
}

func gossipBytes(g *membership.Message) int64 {
	n := int64(1+8+32+8+8) + 3*lengthBytes // kind, seq, target, uptime, incarnation, list lengths
	n += int64(len(g.Digest))*stampBytes + int64(len(g.Suspects))*suspicionBytes
	for _, st := range g.States {
		s := st.State
		n += stateBytes + int64(len(s.GossipAddr)+len(s.RaftAddr)+len(s.SoftwareVersion)) + 4*8
	}
	return n
}

// send puts a message on the network: a cut link or a loss drops it, a full
// queue too; otherwise each copy (two when duplicated) arrives after its own
// latency, which reorders messages.
func (s *simulator) send(from int, m node.Message) {
	to, ok := s.byID[m.To]
	if !ok {
		panic(fmt.Sprintf("sim: %s sent to unknown node %s", s.nodes[from].name, m.To.Short()))
	}
	s.stats.Messages++
	r := s.net.rule(from, to)
	if cut := s.cut(from, to, m.Kind); cut || s.netRand.Float64() < s.lossOn(r) {
		if s.recording {
			s.chose("net/drop", s.nodes[from].name+">"+s.nodes[to].name)
		}
		s.stats.Dropped++
		s.traceMessage(from, "drop", to, m)
		s.lost(from, to, m, cut)
		return
	}
	sent, ok := s.queue(from, to, r, m)
	if !ok {
		s.stats.Dropped++
		s.stats.QueueDrops++
		s.trace.event(s.now, s.nodes[from].name, "drop", s.nodes[to].name+" "+m.Describe()+" (queue full)")
		s.lost(from, to, m, true)
		return
	}
	if s.poisoned != nil && s.poisoned[from] {
		m = s.poison(from, m)
	}
	copies := 1
	if s.dup > 0 && s.netRand.Float64() < s.dup {
		copies = 2
		if s.recording {
			s.chose("net/dup", s.nodes[from].name+">"+s.nodes[to].name)
		}
	}
	if s.hooks.CorruptEntries && m.Raft != nil {
		m = m.Clone()
		for _, e := range m.Raft.Entries {
			if e.GetType() == pb.EntryNormal && len(e.Data) > 0 {
				e.Data[0] ^= 0xff
			}
		}
	}
	// Every copy is decoded from the bytes production would send (each
	// its own: raft writes to the messages it steps), so every run tests
	// the wire codec on every message.
	s.net.wire = wire.AppendMessage(s.net.wire[:0], m)
	for range copies {
		lat := s.delay(r)
		if s.recording {
			s.chose("net/delay", lat)
		}
		got, err := s.net.decoder.Decode(s.net.wire)
		if err == nil && got.Gossip != nil && len(got.Gossip.States) != len(m.Gossip.States) {
			err = fmt.Errorf("%d states sent, %d decoded", len(m.Gossip.States), len(got.Gossip.States))
		}
		if err != nil {
			s.check.fail(s.now, PropWire, s.nodes[from].name, "%s to %s does not decode from its encoding: %v", m.Describe(), s.nodes[to].name, err)
			return
		}
		if g := got.Gossip; g != nil {
			// Every node runs in this process: a state one node verified
			// need not be verified again by the next (its proof vouches for
			// exactly its bytes; a state that decoded otherwise is verified).
			for i := range g.States {
				g.States[i] = g.States[i].WithProofOf(m.Gossip.States[i])
			}
		}
		s.post(event{at: sent + lat, kind: evDeliver, node: to, from: from, msg: got})
	}
}

// traceMessage traces event ev of node i about m, a message to or from
// peer: the peer's name and m described.
func (s *simulator) traceMessage(i int, ev string, peer int, m node.Message) {
	d := append(s.trace.line(s.now, s.nodes[i].name, ev), s.nodes[peer].name...)
	s.trace.endLine(m.AppendDescribe(append(d, ' ')))
}

// cut reports whether a partition cuts messages of the kind from a to b.
func (s *simulator) cut(a, b int, kind node.MessageKind) bool {
	return s.block != nil && s.block[a][b] && s.spared&(1<<kind) == 0
}

// deliver hands a message to its node: lost when the node is down or a
// partition cut the link meanwhile, held while a clog holds the link or the
// node is paused.
func (s *simulator) deliver(e event) {
	sn := s.nodes[e.node]
	switch {
	case sn.n == nil || s.cut(e.from, e.node, e.msg.Kind):
		s.stats.Dropped++
		s.traceMessage(e.node, "lost", e.from, e.msg)
		s.lost(e.from, e.node, e.msg, true)
		s.net.decoder.Recycle(e.msg)
	case s.clogged(e.from, e.node):
		e.at = 0
		s.hold(e)
	case sn.paused:
		s.cover.Sometimes(CoverHeldForPaused)
		if len(sn.held) < HeldMessagesMax {
			sn.held = append(sn.held, e)
		} else {
			s.lost(e.from, e.node, e.msg, false)
		}
	case !sn.n.IsMember(e.msg.From):
		// As a production host does: the transport proved who sent it,
		// not that the sender belongs (a node not yet admitted, or one
		// that left).
		s.traceMessage(e.node, "stranger", e.from, e.msg)
		s.drive(e.node, func(n *node.Node) { n.StepStranger(e.msg) })
		s.net.decoder.Recycle(e.msg)
	default:
		s.traceMessage(e.node, "recv", e.from, e.msg)
		s.drive(e.node, func(n *node.Node) { n.Step(e.msg) })
		if e.msg.Raft.GetType() == pb.MsgSnap {
			s.postReport(e.from, e.node, reportSnapshotDone)
		}
		// Stepped, a gossip message is done with (membership keeps
		// copies of what it takes): the next one decodes over it.
		s.net.decoder.Recycle(e.msg)
	}
}

// What a sender's transport tells its node about a raft message
// (node.ReportSnapshot, node.ReportUnreachable), as a production transport
// does when a transfer ends or a connection fails.
const (
	reportSnapshotDone = iota + 1
	reportSnapshotFailed
	reportUnreachable
)

// lost reports a raft message that never arrived to its sender: a snapshot
// failed, and, when the link or the peer failed rather than the one message
// (a cut link, a full queue, a peer down), the peer is unreachable. A
// message lost at random is the network's doing, invisible to a sender.
func (s *simulator) lost(from, to int, m node.Message, unreachable bool) {
	if m.Raft == nil {
		return
	}
	if m.Raft.GetType() == pb.MsgSnap {
		s.postReport(from, to, reportSnapshotFailed)
	}
	if unreachable {
		s.postReport(from, to, reportUnreachable)
	}
}

// postReport has node from's transport report on peer to, at once.
func (s *simulator) postReport(from, to, kind int) {
	s.push(event{at: s.now, kind: evReport, node: from, from: to, gen: s.nodes[from].incarnation, idx: kind})
}

// report hands a report to its node: to the incarnation whose message it
// was (a restarted node has nothing in flight), once it runs (a paused
// node's transport is paused with it).
func (s *simulator) report(e event) {
	sn := s.nodes[e.node]
	switch {
	case sn.n == nil || sn.incarnation != e.gen:
	case sn.paused:
		e.at = s.now + TickInterval
		s.push(e)
	default:
		peer := s.nodes[e.from].id
		s.drive(e.node, func(n *node.Node) {
			switch e.idx {
			case reportSnapshotDone, reportSnapshotFailed:
				if e.idx == reportSnapshotFailed {
					s.cover.Sometimes(CoverSnapshotFailed)
				}
				n.ReportSnapshot(peer, e.idx == reportSnapshotDone)
			case reportUnreachable:
				n.ReportUnreachable(peer)
			}
		})
	}
}

// ring cuts every link but those between neighbours in the ring's order (a
// random order of every node when the fault gives none); a node not in the
// ring reaches no one. With five nodes each reaches a majority, itself and
// its two neighbours, but no two the same majority (Jepsen's
// majorities-ring).
func (s *simulator) ring(f Fault, purpose string) {
	var order []int
	if len(f.Groups) == 0 {
		order = make([]int, len(s.nodes))
		for i := range order {
			order[i] = i
		}
		s.faultRand.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
		s.chose(purpose, s.nodeNames(order))
	} else {
		order = namedNodes(f.Groups[0])
	}
	block := make([][]bool, len(s.nodes))
	for a := range block {
		block[a] = make([]bool, len(s.nodes))
		for b := range block[a] {
			block[a][b] = a != b
		}
	}
	explicit := f
	explicit.Groups = [][]Selector{make([]Selector, len(order))}
	for k, a := range order {
		b := order[(k+1)%len(order)]
		block[a][b], block[b][a] = false, false
		explicit.Groups[0][k] = Selector(s.nodes[a].name)
	}
	detail := "ring " + s.nodeNames(order)
	if f.Traffic != "" {
		detail += " traffic " + string(f.Traffic)
	}
	s.mark("", checkers.MarkPartition, detail)
	s.cutOff(explicit, block, detail)
}

// resolveAll resolves a list of selectors, each for its own purpose, into
// the sorted set of the nodes they pick.
func (s *simulator) resolveAll(purpose string, sels []Selector) []int {
	var out []int
	for k, sel := range sels {
		out = append(out, s.resolveFor(purpose+"/"+strconv.Itoa(k), sel)...)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// linkFault puts a link rule in force between the nodes its ends pick, at
// the time it fires, until its For ends. Ends that pick no node leave the
// network as it is.
func (s *simulator) linkFault(f Fault, purpose string) {
	l := *f.Link
	from := s.resolveAll(purpose+"/from", l.From)
	var to []int
	if len(l.To) > 0 {
		to = s.resolveAll(purpose+"/to", l.To)
	}
	if len(from) == 0 || len(l.To) > 0 && len(to) == 0 {
		s.trace.event(s.now, "sim", "fault", "link: no node picked")
		return
	}
	named := l
	named.From, named.To = s.selectors(from), nil
	if len(to) > 0 {
		named.To = s.selectors(to)
	}
	explicit := f
	explicit.Link = &named
	s.inject(explicit, nil)
	id := s.net.add(l, from, to)
	detail := "link " + s.linkDetail(l, from, to)
	s.trace.event(s.now, "sim", "fault", detail)
	s.mark("", checkers.MarkFault, detail)
	if f.For > 0 {
		s.push(event{at: s.now + f.For, kind: evUndo, undo: &undo{kind: LinkFault, nodes: from, rule: id, fault: &explicit}})
	}
}

// selectors names nodes.
func (s *simulator) selectors(nodes []int) []Selector {
	out := make([]Selector, len(nodes))
	for k, i := range nodes {
		out[k] = Selector(s.nodes[i].name)
	}
	return out
}

// clogFault holds every message to and from the targets for the fault's
// For (FoundationDB's clogging): late, not lost.
func (s *simulator) clogFault(f Fault, purpose string) {
	targets := s.resolveFor(purpose, f.Target)
	s.inject(f, targets)
	s.clogFor(targets, f.For)
}

// clogFor clogs the nodes now and unclogs them after d.
func (s *simulator) clogFor(nodes []int, d time.Duration) {
	s.clog(nodes)
	detail := "clog " + s.nodeNames(nodes)
	s.trace.event(s.now, "sim", "fault", detail)
	s.mark("", checkers.MarkFault, detail)
	s.push(event{at: s.now + d, kind: evUndo, undo: &undo{kind: Clog, nodes: nodes}})
}

// swizzle is FoundationDB's swizzle-clogging: the target nodes (a random
// subset of the mesh when the fault names none) are clogged one by one, in a
// random order, evenly over the first half of For, then unclogged in reverse
// order over the second half, the first clogged last unclogged at For.
// Materialized, it is the clogs it made, each with its time and For.
func (s *simulator) swizzle(f Fault, purpose string) {
	var order []int
	if f.Target == "" {
		order = make([]int, len(s.nodes))
		for i := range order {
			order[i] = i
		}
		s.faultRand.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
		order = order[:1+s.faultRand.IntN(len(order))]
	} else {
		order = s.resolve(f.Target)
		s.faultRand.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
	}
	s.chose(purpose, s.nodeNames(order))
	s.trace.event(s.now, "sim", "fault", "swizzle "+s.nodeNames(order)+" over "+f.For.String())
	if len(order) == 0 {
		return
	}
	step := f.For / time.Duration(2*len(order))
	for k, i := range order {
		clog := Fault{At: s.now + time.Duration(k)*step, Kind: Clog, Target: Selector(s.nodes[i].name), For: f.For - 2*time.Duration(k)*step}
		if clog.At >= s.plan.Duration {
			break // after the end of the run: never carried out
		}
		s.injected = append(s.injected, clog)
		s.push(event{at: clog.At, kind: evUndo, undo: &undo{kind: Swizzle, nodes: []int{i}, fault: &clog}})
	}
}

// swizzleStep clogs a swizzle's next node.
func (s *simulator) swizzleStep(u *undo) { s.clogFor(u.nodes, u.fault.For) }

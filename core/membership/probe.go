package membership

import (
	"slices"

	"revoada.dev/revoada/core/roles"
)

// probe confirms a rising φ before suspecting (SWIM §3.1): a Ping, and if no
// Ack comes within the probe timeout, PingReqs through IndirectChecks other
// members, whose relayed Ack counts too, and a second direct Ping. A probe
// with no Ack after twice the timeout more makes its target Suspect.
type probe struct {
	target     roles.NodeID
	seq        uint64
	started    uint64
	stageStart uint64
	indirect   bool
}

// relay is a PingReq being served for origin.
type relay struct {
	origin    roles.NodeID
	originSeq uint64
	target    roles.NodeID
	seq       uint64 // of our Ping to target
	expires   uint64
}

// probeTimeout is how long a probe waits for a direct Ack: ProbeTimeoutTicks,
// or the round-trip time this node measures (rtt) when that is longer, so
// that a slow link's Ack is awaited rather than taken for silence; either
// stretched by the local health multiplier (Lifeguard §IV-A): a node that
// is itself struggling waits longer before accusing others.
func (m *Membership) probeTimeout() uint64 {
	return max(uint64(m.cfg.ProbeTimeoutTicks), m.rtt.timeout(uint64(m.cfg.ProbeTimeoutTicks))) * uint64(1+m.lhm)
}

// ping sends a Ping to id with a new sequence number, remembering when, and
// returns the number.
func (m *Membership) ping(id roles.NodeID) uint64 {
	seq := m.nextSeq()
	m.rtt.sent(seq, m.now)
	m.send(Message{To: id, Kind: Ping, Seq: seq})
	return seq
}

// pingsTimed is how many of its latest Pings a node remembers, to time the
// direct Acks that answer them (rttEstimate); an Ack later than that many
// Pings is not timed. rttTimeoutMax caps the measured probe timeout at that
// many times ProbeTimeoutTicks, so that a burst of late Acks (a paused
// peer) cannot put detection off for long.
const (
	pingsTimed    = 8
	rttTimeoutMax = 5
)

// rttEstimate is the round-trip time of Ping and direct Ack, in ticks, as
// TCP estimates it (RFC 6298): a smoothed mean and mean deviation, in
// eighths of a tick, and a timeout of the mean plus four deviations.
type rttEstimate struct {
	pings          [pingsTimed]struct{ seq, at uint64 }
	next           int
	sampled        bool
	srtt8, rttvar8 uint64
}

func (r *rttEstimate) sent(seq, at uint64) {
	r.pings[r.next].seq, r.pings[r.next].at = seq, at
	r.next = (r.next + 1) % pingsTimed
}

// acked takes the direct Ack of Ping seq, received at tick now: a sample
// if the Ping is remembered (once: a duplicate Ack is no second sample).
func (r *rttEstimate) acked(seq, now uint64) {
	i := slices.IndexFunc(r.pings[:], func(p struct{ seq, at uint64 }) bool { return p.seq == seq && seq != 0 })
	if i < 0 {
		return
	}
	sample := (now - r.pings[i].at) * 8
	r.pings[i].seq = 0
	if !r.sampled {
		r.srtt8, r.rttvar8, r.sampled = sample, sample/2, true
		return
	}
	dev := max(r.srtt8, sample) - min(r.srtt8, sample)
	r.rttvar8 = (3*r.rttvar8 + dev) / 4
	r.srtt8 = (7*r.srtt8 + sample) / 8
}

// timeout is the estimate's timeout in ticks, rounded up, at most
// rttTimeoutMax·base, which it also is before any sample: as TCP's first
// timeout (RFC 6298 §2.1, 1 s) waits for a round trip of any link rather
// than taking the first slow Ack for silence (links of 0.8–1.4 s round
// trips had their live nodes suspected in the first seconds:
// worker-sync-very-slow-links).
func (r *rttEstimate) timeout(base uint64) uint64 {
	if !r.sampled {
		return rttTimeoutMax * base
	}
	return min((r.srtt8+4*r.rttvar8+7)/8, rttTimeoutMax*base)
}

func (m *Membership) probing(id roles.NodeID) bool {
	return slices.ContainsFunc(m.probes, func(p probe) bool { return p.target == id })
}

func (m *Membership) startProbe(id roles.NodeID) {
	pr := probe{target: id, seq: m.ping(id), started: m.now, stageStart: m.now}
	m.probes = append(m.probes, pr)
}

// probeNext Pings the round's member of the traversal as a probe (SWIM
// §3.1): unanswered, it goes on to PingReqs and then to suspicion, as a
// probe φ started does. A member already probed, or not Healthy, or one
// over ProbesInFlightMax, gets a plain Ping.
func (m *Membership) probeNext(id roles.NodeID) {
	if p := m.peers.get(id); p != nil && p.health == Healthy && len(m.probes) < m.cfg.ProbesInFlightMax && !m.probing(id) {
		m.startProbe(id)
		return
	}
	m.ping(id)
}

func (m *Membership) endProbes(id roles.NodeID) {
	m.probes = slices.DeleteFunc(m.probes, func(p probe) bool { return p.target == id })
}

// advanceProbes moves each probe on: direct → indirect → Suspect. A probe
// that fails while nothing at all was heard from anyone during it counts
// against this node's own health, not only the target's (Lifeguard's
// self-awareness, approximating its missing nacks).
func (m *Membership) advanceProbes() {
	timeout := m.probeTimeout()
	kept := m.probes[:0]
	for _, pr := range m.probes {
		p := m.peers.get(pr.target)
		if p == nil || p.health != Healthy {
			continue
		}
		switch {
		case !pr.indirect && m.now-pr.stageStart >= timeout:
			pr.indirect, pr.stageStart = true, m.now
			m.sendPingReqs(pr)
			m.ping(pr.target) // any message from the target ends the probe (heardFrom)
		case pr.indirect && m.now-pr.stageStart >= 2*timeout:
			if !m.heardAny || m.lastAny < pr.started {
				m.lhm = min(m.lhm+1, m.cfg.LocalHealthMax)
			}
			m.counters.Suspected++
			m.suspect(p, p.signed.State.Incarnation)
			continue
		}
		kept = append(kept, pr)
	}
	m.probes = kept
}

// sendPingReqs asks up to IndirectChecks random Healthy members other than
// the target to probe it.
func (m *Membership) sendPingReqs(pr probe) {
	var helpers []roles.NodeID
	for _, p := range m.sorted {
		if id := p.node(); id != pr.target && p.health == Healthy {
			helpers = append(helpers, id)
		}
	}
	for i := 0; i < len(helpers) && i < m.cfg.IndirectChecks; i++ {
		j := i + m.cfg.Rand.IntN(len(helpers)-i)
		helpers[i], helpers[j] = helpers[j], helpers[i]
		m.send(Message{To: helpers[i], Kind: PingReq, Seq: pr.seq, Target: pr.target})
	}
}

// onAck: an Ack answering a Ping we sent for a relay is passed on to its
// origin; an Ack relayed to us for one of our probes is a heartbeat of its
// target. Either way an answered probe is a sign of our own good health.
func (m *Membership) onAck(msg Message) {
	if msg.Target == msg.From {
		m.rtt.acked(msg.Seq, m.now)
		i := slices.IndexFunc(m.relays, func(r relay) bool { return r.seq == msg.Seq && r.target == msg.From })
		if i >= 0 {
			r := m.relays[i]
			m.relays = slices.Delete(m.relays, i, i+1)
			m.send(Message{To: r.origin, Kind: Ack, Seq: r.originSeq, Target: r.target})
			return
		}
		m.lhm = max(m.lhm-1, 0)
		return
	}
	i := slices.IndexFunc(m.probes, func(p probe) bool { return p.seq == msg.Seq && p.target == msg.Target })
	if i < 0 {
		return
	}
	m.lhm = max(m.lhm-1, 0)
	if p := m.peers.get(msg.Target); p != nil {
		m.beat(p)
	}
	m.endProbes(msg.Target)
}

// onPingReq pings the target on the sender's behalf, remembering at most
// RelaysMax such requests until they time out.
func (m *Membership) onPingReq(msg Message) {
	if msg.Target == m.cfg.Self || msg.Target == msg.From {
		return
	}
	if len(m.relays) >= m.cfg.RelaysMax {
		m.counters.Dropped++
		return
	}
	r := relay{origin: msg.From, originSeq: msg.Seq, target: msg.Target, seq: m.ping(msg.Target), expires: m.now + 2*m.probeTimeout()}
	m.relays = append(m.relays, r)
}

func (m *Membership) expireRelays() {
	m.relays = slices.DeleteFunc(m.relays, func(r relay) bool { return m.now >= r.expires })
}

// confirmsMax bounds the Confirm Pings remembered, and confirmTicksMax how
// long one is: an Ack is evidence whenever it comes, if its Ping is still
// known.
const (
	confirmsMax     = 16
	confirmTicksMax = 300
)

// Confirm pings id, so that its Ack says its uptime after now
// (Member.UptimeConfirmed): the one evidence that it has been up that long
// which no delayed message can fake. It sends no Ping while one to id is
// younger than twice the probe timeout; Confirm again until the Ack comes.
// A node not in the view is not pinged.
func (m *Membership) Confirm(id roles.NodeID) {
	if m.peers.get(id) == nil || slices.ContainsFunc(m.confirms, func(c probe) bool {
		return c.target == id && m.now-c.started < 2*m.probeTimeout()
	}) {
		return
	}
	if len(m.confirms) >= confirmsMax {
		m.confirms = slices.Delete(m.confirms, 0, 1)
	}
	c := probe{target: id, seq: m.ping(id), started: m.now}
	m.confirms = append(m.confirms, c)
}

// onConfirm takes the uptime of a direct Ack that answers a Confirm Ping
// of p's.
func (m *Membership) onConfirm(p *peer, msg Message) {
	if p == nil || msg.Target != msg.From {
		return
	}
	i := slices.IndexFunc(m.confirms, func(c probe) bool { return c.seq == msg.Seq && c.target == msg.From })
	if i < 0 {
		return
	}
	if c := m.confirms[i]; msg.Incarnation > p.confirmedInc || msg.Incarnation == p.confirmedInc && c.started >= p.confirmedAt {
		p.confirmed, p.confirmedInc, p.confirmedAt = msg.Uptime, msg.Incarnation, c.started
	}
	m.confirms = slices.Delete(m.confirms, i, i+1)
}

func (m *Membership) expireConfirms() {
	m.confirms = slices.DeleteFunc(m.confirms, func(c probe) bool { return m.now-c.started >= confirmTicksMax })
}

// tellDead answers a message from a peer this node holds Dead, unless the
// message is answered anyway (a Ping, a PushPull), with a Ping: the answer
// carries the suspicion (send piggybacks it), so the peer refutes it with
// a newer incarnation, which brings it back here. Nothing else would tell
// it: this node sends a dead peer nothing, and a Gossip asks for no answer
// (explore-3: a node held a live peer Dead for 7 s after a partition
// healed, hearing its Gossip all along, until the peer happened to Ping
// it). At most once per twice the probe timeout per peer.
func (m *Membership) tellDead(p *peer, kind MsgKind) {
	if p == nil || p.health != Dead || kind == Ping || kind == PushPull || m.now < p.toldDeadAt+2*m.probeTimeout() && p.toldDeadAt > 0 {
		return
	}
	p.toldDeadAt = m.now
	m.ping(p.node())
}

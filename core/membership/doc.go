// Package membership is revoada's gossip layer (layer A): who is in the mesh,
// what each node says of itself, and whether it is alive. It is a pure,
// SWIM-style protocol driven like etcd raft's RawNode: Tick, Step and Join
// are the inputs, Ready returns the messages to send and the changes to the
// view. It never reads a clock, starts a goroutine or draws ambient
// randomness: time is ticks and every random choice comes from Config.Rand,
// so one seed gives one message sequence. Not safe for concurrent use; drive
// it from one goroutine.
//
// # State
//
// Each node describes itself in a State (addresses, roles, capacity,
// software version, uptime, the latest state root it knows) and signs it with
// its ed25519 key, whose public half is its NodeID. A state about node X is
// believed only if it verifies against X's key; anything else is dropped and
// counted Forged. States of one node are ordered by (Incarnation, Version):
// the higher wins, equal keeps what is held, and an older one is dropped and
// counted Replayed. The encoding that is signed is canonical (state.go).
//
// # Dissemination
//
// Every GossipIntervalTicks a node runs a round (SWIM §4.3, Das, Gupta and
// Motivala, "SWIM: Scalable Weakly-consistent Infection-style Process Group
// Membership Protocol", DSN 2002): it takes the next 1+Fanout members of a
// round-robin traversal of a random permutation of the live members, sends
// the first Fanout a Gossip and Pings the last; a quiet round, with nothing
// queued and nobody suspected, only Pings the next member. A Gossip carries the states
// of the node's broadcast queue, least sent first, at most
// StatesPerMessageMax: every state a node takes into its view (or signs
// itself) is queued for RetransmitMult·⌈log₁₀(members+1)⌉ sends, as
// memberlist's broadcast queue does, enough for an epidemic to reach every
// member with high probability. A round so costs the same whatever the
// mesh's size. Anti-entropy is the push-pull, one scuttlebutt
// reconciliation (van Renesse et al., "Efficient Reconciliation and Flow
// Control for Anti-Entropy Protocols", LADIS 2008): the initiator sends the
// stamps of every state it holds, the responder answers with the states the
// initiator lacks and its own stamps, and the initiator ends with the states
// the responder lacks; states travel newest first (in the order the sender
// learned them), at most StatesPerMessageMax per message. A node runs one
// push-pull, in place of its first Gossip, in one round of
// PushPullEveryRounds (scaled up above 32 members as memberlist's
// pushPullScale does: every 20 rounds at 50, 30 at 100), and in every
// round while more is queued than one Gossip carries (a join wave, a healed
// partition); joins, seed retries and reconnections to Dead members are
// push-pulls too. Views so converge in O(log N) rounds: measured, ≤ 13
// rounds for 100 nodes from a join through one seed and ≤ 7 after a
// partition heals (TestConvergence).
//
// Uptime is not part of the signed state: every message carries its
// sender's uptime and incarnation, believed of the sender only, so a node
// that stays up does not re-sign and re-disseminate its state to say so.
// A state no newer than the one held is dropped on its stamp, before any
// signature is checked.
//
// # Failure detection
//
// Any message from a peer, or an Ack relayed for it, is a heartbeat for that
// peer's phi-accrual detector (phi.go). The round-robin traversal bounds the
// gaps between heartbeats: in a quiet mesh every live member Pings every
// other, and hears its Ack, about once per members rounds; while states or
// suspicions spread, Gossip adds contacts. A node suspects a peer only
// through a probe, as SWIM §3.1 does: a Ping, then after the probe timeout
// PingReqs through IndirectChecks other members and a second Ping of its
// own (memberlist's fallback ping: on a lossy link a lost Ping or Ack
// would otherwise leave only the relayed paths, each four messages long);
// only when no Ack comes, directly or relayed, within twice that again
// does the peer become Suspect. Two things start a probe: the round's Ping to the next member of
// the traversal (SWIM's own protocol period, so a crashed member is probed
// by someone within a round or two), and φ passing PhiThreshold for a peer
// that a traversal has not reached yet. φ alone never accuses: its tail of
// false alarms (a statistic of irregular contacts) becomes probes that a
// live peer answers. The probe timeout is ProbeTimeoutTicks, or the round
// trip of Ping and Ack as the node measures it (RFC 6298's mean plus four
// deviations, at most five times ProbeTimeoutTicks) when that is longer: on
// 200–300 ms links an Ack takes four to six ticks, and a probe that gave up
// after two took a slow peer for a silent one. Before its first sample a
// node waits the five times, as TCP's first timeout is a long one: on links
// slower still, its first probes took live peers for silent ones.
//
// Suspicions are gossiped: every message carries up to SuspectsPerMessageMax
// of them, the receiver's own first when the sender suspects it (Lifeguard's
// buddy system: Dadgar, Phillips and Currey, "Lifeguard: Local Health
// Awareness for More Accurate Failure Detection", arXiv:1707.00788, 2017). A node that
// hears itself suspected at its incarnation or later refutes: it raises its
// Incarnation and re-signs, and the newer incarnation wins everywhere. A node
// that receives a verified state of itself newer than its own (a previous
// life its peers remember) refutes above it, so a restart that forgot its
// incarnation is still recognised. A direct message from a Suspect also ends
// the suspicion locally, and that suspicion is then not taken from gossip
// again. A Suspect neither refuted nor heard from within SuspectGraceTicks is
// Dead. Dead members are kept (within SeenMax, the longest-dead forgotten
// first) and receive a push-pull now and then (Serf's reconnect), so a
// healed partition finds itself; only a newer incarnation makes a Dead
// member Healthy again, with a fresh detector.
//
// Lifeguard's local health multiplier stretches the probe timeouts of a
// node that is itself in trouble: it grows when the node must refute, or
// when a probe fails while nothing at all was heard from anyone, and shrinks
// with every answered probe.
//
// # Bounds
//
// Every list has a named limit in Config: peers (SeenMax), states, stamps
// and suspicions per message, probes in flight, relays, the outbox, pending
// changes, seeds. What is cut is counted in Counters.Dropped.
package membership

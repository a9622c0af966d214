package sim

import (
	"crypto/ed25519"
	"math/rand/v2"
	"slices"

	"revoada.dev/revoada/checkers"
	"revoada.dev/revoada/core/content"
	"revoada.dev/revoada/core/membership"
	"revoada.dev/revoada/core/node"
	"revoada.dev/revoada/core/roles"
)

// A poisoned node (fault Poison) is hostile to content sync while the fault
// lasts, as a node whose process an attacker took over: every blob part it
// sends is altered (a byte flipped, the data cut short, or the blob's size
// misstated), every "I lack it" it would answer becomes a made-up part
// claiming the digest, its own gossiped state claims the newest manifest
// (so that workers ask it) or a made-up root, and every gossip message it sends carries a
// state root forged in a voter's name (signed with its own key, not the
// voter's).
// The nodes it talks to must refuse all of it — membership counts the
// forged states Forged, fetchers count the bad parts and ask elsewhere —
// and never serve a byte of it (the history checker judges every local
// read a worker serves against the committed writes).

func (s *simulator) poisonFault(f Fault, purpose string) {
	targets := s.resolveFor(purpose, f.Target)
	s.inject(f, targets)
	if s.poisoned == nil {
		s.poisoned = make([]bool, len(s.nodes))
		s.poisonRand = s.streams.rand("poison")
	}
	for _, i := range targets {
		s.poisoned[i] = true
	}
	detail := "poison " + s.nodeNames(targets)
	s.trace.event(s.now, "sim", "fault", detail)
	s.mark("", checkers.MarkFault, detail)
	if f.For > 0 {
		s.push(event{at: s.now + f.For, kind: evUndo, undo: &undo{kind: Poison, nodes: targets}})
	}
}

func (s *simulator) unpoison(nodes []int) {
	for _, i := range nodes {
		s.poisoned[i] = false
	}
	s.unpoisonedAt = s.now
	s.mark("", checkers.MarkFault, "poison "+s.nodeNames(nodes)+" undone")
}

// poison returns what a poisoned node sends instead of m.
func (s *simulator) poison(from int, m node.Message) node.Message {
	r := s.poisonRand
	switch {
	case m.Content != nil && (len(m.Content.Parts) > 0 || len(m.Content.Lacks) > 0):
		c := &node.ContentMessage{Wants: m.Content.Wants}
		for _, p := range m.Content.Parts {
			c.Parts = append(c.Parts, spoil(r, p))
		}
		for _, d := range m.Content.Lacks {
			junk := make([]byte, 1+r.IntN(64))
			for i := range junk {
				junk[i] = byte(r.Uint32())
			}
			c.Parts = append(c.Parts, content.Part{Digest: d, Size: uint64(len(junk)), Data: junk})
		}
		m.Content = c
	case m.Gossip != nil:
		g := *m.Gossip
		g.States = append(slices.Clone(g.States), s.forgedState(from))
		for i, st := range g.States[:len(g.States)-1] {
			if st.State.Node == s.nodes[from].id {
				g.States[i] = s.boast(from, st.State)
			}
		}
		m.Gossip = &g
	}
	return m
}

// boast is the poisoned node's own state, signed with its own key (so it
// verifies), claiming at random either the manifest of the newest root the
// members published, whether it holds it or not (the other workers ask it
// for blobs), or a made-up root far ahead of the real ones: a worker that
// took roots from any node would chase it for good, and one that takes a
// voter's (a poisoned voter's, or a demoted one's still believed a voter)
// must give it up when no peer serves it (core/node's StallRoots).
func (s *simulator) boast(from int, st membership.State) membership.SignedState {
	if st.Roles.Has(roles.Etcd) {
		// The fault models a compromised worker. A voter taken over is out
		// of its reach: workers take a voter's signed root whole (one that
		// lied could pin them to an old state), and raft itself tolerates
		// no lying voter; a poisoned node the policy promoted tells the
		// truth in its root while its own state says it votes.
		return membership.SignedState{State: st, Sig: ed25519.Sign(nodeSecret(s.nodes[from].name), membership.SigningBytes(st))}
	}
	if n := len(s.roots.newest); n > 0 && s.poisonRand.IntN(2) == 0 {
		st.StateRoot.ManifestHash = s.roots.manifests[s.roots.newest[n-1].index]
	} else {
		st.StateRoot.Index = 1 << 40
		for i := range st.StateRoot.ManifestHash {
			st.StateRoot.ManifestHash[i] = byte(s.poisonRand.Uint32())
		}
	}
	return membership.SignedState{State: st, Sig: ed25519.Sign(nodeSecret(s.nodes[from].name), membership.SigningBytes(st))}
}

// spoil alters one part so that it cannot verify.
func spoil(r *rand.Rand, p content.Part) content.Part {
	data := append([]byte(nil), p.Data...)
	switch k := r.IntN(3); {
	case k == 0 && len(data) > 0:
		data[r.IntN(len(data))] ^= byte(1 + r.IntN(255))
	case k == 1 && len(data) > 1:
		data = data[:r.IntN(len(data))]
	default:
		p.Size++
	}
	p.Data = data
	return p
}

// forgedState is a state root claimed for a voter of the committed shape
// (a random one), far ahead of any real one, signed with the poisoned
// node's key.
func (s *simulator) forgedState(from int) membership.SignedState {
	r := s.poisonRand
	voters := s.check.ref.Shape().Voters()
	victim := voters[r.IntN(len(voters))]
	st := membership.State{Node: victim, Incarnation: 1 << 62, Version: r.Uint64N(1 << 20), Roles: roles.ControlPlane}
	st.StateRoot.Index = 1 << 40
	for i := range st.StateRoot.ManifestHash {
		st.StateRoot.ManifestHash[i] = byte(r.Uint32())
	}
	return membership.SignedState{State: st, Sig: ed25519.Sign(nodeSecret(s.nodes[from].name), membership.SigningBytes(st))}
}

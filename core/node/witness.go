package node

import "revoada.dev/revoada/core/attest"

// Witnessing. A node with a key co-signs each block of the attested role
// history for which it is a voter (a voter of the shape as of the block's
// index): a Witness request, through the log like a write, so that every
// replica adds the same co-signatures at the same index. A block is
// attested once a raft majority of its voters co-signed it.
//
// The node walks the chain from its start (again after a snapshot replaced
// it), keeping at most witnessesInFlightMax requests pending. A request
// that timed out (no leader for a while) leaves its block unwitnessed by
// this node; every witnessRescanTicks the walk starts over, so such a
// block is witnessed once the mesh can commit again.
const (
	witnessesInFlightMax = 4
	witnessRescanTicks   = 500
)

// witnessing is where the walk is.
type witnessing struct {
	genesis  attest.Hash       // the chain walked: its genesis block's hash
	next     uint64            // the next block to look at
	inflight map[uint64]uint64 // block seq → the seq of its pending request
	rescanAt uint64            // n.ticks at which the walk starts over
}

// witness submits this node's co-signatures of the blocks it has not
// co-signed, as many as may be in flight.
func (n *Node) witness() {
	w := &n.wit
	if n.cfg.Key == nil || !n.InShape() {
		return
	}
	if n.ticks >= w.rescanAt {
		w.next, w.rescanAt = 0, n.ticks+witnessRescanTicks
	}
	for seq, req := range w.inflight {
		if _, ok := n.pending[req]; !ok {
			delete(w.inflight, seq)
		}
	}
	chain := n.machine.Chain()
	if g := chain.Hash(0); g != w.genesis {
		// Another chain (a snapshot, or a history started over): walk it
		// from its start; requests in flight for the old one are refused.
		w.genesis, w.next = g, 0
		clear(w.inflight)
	}
	for w.next < uint64(chain.Len()) && len(w.inflight) < witnessesInFlightMax {
		seq := w.next
		_, inflight := w.inflight[seq]
		if inflight || chain.Witnessed(seq, n.cfg.ID) || !chain.IsVoter(seq, n.cfg.ID) {
			w.next++
			continue
		}
		id, err := n.submit(Request{Witness: &Witness{Seq: seq, Witness: attest.NewWitness(n.cfg.Key, chain.Hash(seq))}})
		if err != nil {
			return // too many pending: the next tick tries again
		}
		if w.inflight == nil {
			w.inflight = map[uint64]uint64{}
		}
		w.inflight[seq] = id.Seq
		w.next++
	}
}

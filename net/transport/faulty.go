package transport

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"

	"revoada.dev/revoada/core/node"
)

// Faulty is a Transport that loses and duplicates the messages it is
// given to send, at rates set while it runs: the simulator's network loss
// and duplication (sim.Network's Loss and Duplicate) inside a real node,
// for 'revoada real' (research §6: bytes cannot be dropped inside TLS, so
// whole messages are, before they reach it). A lost message is accepted
// (Send returns nil) and never sent, as a wire would lose it, without a
// Report: raft and the node's retries recover it, as they do in the
// simulator. A duplicated one is sent twice. A raft MsgSnap is never
// touched, so every one accepted still ends in exactly one Report. At
// zero rates (the start) it is the transport it wraps. Safe for
// concurrent use.
type Faulty struct {
	Transport

	mu        sync.Mutex
	rng       *rand.Rand
	loss, dup float64

	lost, duplicated atomic.Uint64
}

// NewFaulty wraps t; seed draws which messages are lost and duplicated.
func NewFaulty(t Transport, seed uint64) *Faulty {
	return &Faulty{Transport: t, rng: rand.New(rand.NewPCG(seed, 0xfa017))}
}

// SetRates sets the probability that a message is lost and, if not,
// that it is sent twice; each must be within [0, 1].
func (f *Faulty) SetRates(loss, duplicate float64) error {
	if !(loss >= 0 && loss <= 1) || !(duplicate >= 0 && duplicate <= 1) {
		return fmt.Errorf("transport: loss %v and duplicate %v must be within [0, 1]", loss, duplicate)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.loss, f.dup = loss, duplicate
	return nil
}

// Faults counts the messages lost and duplicated so far.
func (f *Faulty) Faults() (lost, duplicated uint64) { return f.lost.Load(), f.duplicated.Load() }

// Send loses m, sends it twice, or sends it, by the rates.
func (f *Faulty) Send(m node.Message) error {
	if IsSnapshot(m) {
		return f.Transport.Send(m)
	}
	f.mu.Lock()
	lose := f.loss > 0 && f.rng.Float64() < f.loss
	twice := !lose && f.dup > 0 && f.rng.Float64() < f.dup
	f.mu.Unlock()
	switch {
	case lose:
		f.lost.Add(1)
		return nil
	case twice:
		f.duplicated.Add(1)
		if err := f.Transport.Send(m); err != nil {
			return err
		}
	}
	return f.Transport.Send(m)
}

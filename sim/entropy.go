package sim

import (
	crand "crypto/rand"
	"io"
	"math/rand/v2"
	"sync"

	"lukechampine.com/blake3"
)

// etcd raft draws its randomised election timeout from crypto/rand.Reader
// (raft.go, globalRand). To make a run a function of its seed, the simulator
// swaps crypto/rand.Reader for a switch that reads the stream of the node it
// is currently driving. The swap is process-wide, so runs hold runMu: two
// simulations in one process run one after the other, never interleaved.
var runMu sync.Mutex

type entropySwitch struct {
	cur      io.Reader // the driven node's stream; nil between node calls
	fallback io.Reader
}

func (s *entropySwitch) Read(p []byte) (int, error) {
	if s.cur == nil {
		return s.fallback.Read(p)
	}
	return s.cur.Read(p)
}

// installEntropy swaps crypto/rand.Reader; the returned func restores it.
func installEntropy() (*entropySwitch, func()) {
	runMu.Lock()
	sw := &entropySwitch{fallback: crand.Reader}
	crand.Reader = sw
	return sw, func() {
		crand.Reader = sw.fallback
		runMu.Unlock()
	}
}

// streams derives named random streams from one seed: the stream for a name
// is ChaCha8 keyed by BLAKE3(seed, name), so adding a stream never shifts
// another.
type streams struct{ seed uint64 }

func (s streams) key(name string) [32]byte {
	h := blake3.New(32, nil)
	var b [8]byte
	for i := range b {
		b[i] = byte(s.seed >> (8 * i))
	}
	h.Write(b[:])
	h.Write([]byte(name))
	var k [32]byte
	h.Sum(k[:0])
	return k
}

func (s streams) chacha(name string) *rand.ChaCha8 { return rand.NewChaCha8(s.key(name)) }

func (s streams) rand(name string) *rand.Rand { return rand.New(s.chacha(name)) }

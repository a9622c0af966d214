package transporttest

import (
	"slices"
	"sync"
	"testing"
	"time"

	"revoada.dev/revoada/core/node"
	"revoada.dev/revoada/core/roles"
	"revoada.dev/revoada/net/transport"
)

// Recorder is a transport.Handler that keeps what it is given, and can be
// shut so that Receive waits: a receiver that takes nothing. Safe for
// concurrent use.
type Recorder struct {
	mu      sync.Mutex
	msgs    map[roles.NodeID][]node.Message
	reports []transport.Report
	changed chan struct{} // closed and replaced on every change
	gate    chan struct{} // Receive waits for it to be closed; nil when open
}

var _ transport.Handler = (*Recorder)(nil)

// NewRecorder returns an open, empty recorder.
func NewRecorder() *Recorder {
	return &Recorder{msgs: map[roles.NodeID][]node.Message{}, changed: make(chan struct{})}
}

// Receive implements transport.Handler.
func (r *Recorder) Receive(m node.Message) {
	r.mu.Lock()
	gate := r.gate
	r.mu.Unlock()
	if gate != nil {
		<-gate
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.msgs[m.From] = append(r.msgs[m.From], m)
	r.changedLocked()
}

// Report implements transport.Handler.
func (r *Recorder) Report(rep transport.Report) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.reports = append(r.reports, rep)
	r.changedLocked()
}

func (r *Recorder) changedLocked() {
	close(r.changed)
	r.changed = make(chan struct{})
}

// Shut makes Receive wait until Open.
func (r *Recorder) Shut() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.gate == nil {
		r.gate = make(chan struct{})
	}
}

// Open lets every waiting and later Receive through.
func (r *Recorder) Open() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.gate != nil {
		close(r.gate)
		r.gate = nil
	}
}

// Messages returns the messages received from a peer, in order.
func (r *Recorder) Messages(from roles.NodeID) []node.Message {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.msgs[from])
}

// Seqs returns the suite's sequence numbers (raft Index) of the messages
// received from a peer, in order.
func (r *Recorder) Seqs(from roles.NodeID) []uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	seqs := make([]uint64, len(r.msgs[from]))
	for i, m := range r.msgs[from] {
		seqs[i] = seqOf(m)
	}
	return seqs
}

// Count returns how many messages were received from every peer.
func (r *Recorder) Count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, ms := range r.msgs {
		n += len(ms)
	}
	return n
}

// Reports returns the reports so far, in order.
func (r *Recorder) Reports() []transport.Report {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.reports)
}

// Wait waits, within Guard, until done holds of the recorder; it fails the
// test with what, if it never does.
func (r *Recorder) Wait(t testing.TB, what string, done func() bool) {
	t.Helper()
	timer := time.NewTimer(Guard)
	defer timer.Stop()
	for {
		r.mu.Lock()
		changed := r.changed
		r.mu.Unlock()
		if done() {
			return
		}
		select {
		case <-changed:
		case <-timer.C:
			t.Fatalf("waited %v for %s", Guard, what)
		}
	}
}

// WaitMessages waits for n messages from a peer.
func (r *Recorder) WaitMessages(t testing.TB, from roles.NodeID, n int) {
	t.Helper()
	r.Wait(t, "messages", func() bool { return len(r.Messages(from)) >= n })
}

// WaitSeq waits for the message numbered seq from a peer.
func (r *Recorder) WaitSeq(t testing.TB, from roles.NodeID, seq uint64) {
	t.Helper()
	r.Wait(t, "a message", func() bool { return slices.Contains(r.Seqs(from), seq) })
}

// WaitReport waits for a report.
func (r *Recorder) WaitReport(t testing.TB, want transport.Report) {
	t.Helper()
	r.Wait(t, "report "+want.String(), func() bool { return slices.Contains(r.Reports(), want) })
}

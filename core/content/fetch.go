package content

import (
	"errors"
	"fmt"
	"slices"

	"revoada.dev/revoada/core/roles"
)

// FetcherConfig bounds a Fetcher. Zero fields take their defaults.
type FetcherConfig struct {
	InFlightMax  int    // requests outstanding at once over all blobs; default 8
	TimeoutTicks uint64 // ticks before an unanswered request is asked elsewhere; default 20
	// BufferBytesMax bounds the buffers of large blobs being assembled. A
	// blob's buffer is allocated at its first verified part; a large blob
	// without one is asked for only while the buffers held stay within the
	// bound with its size added, or when none is held. Parts already asked
	// may pass the bound by at most InFlightMax blobs. A blob holding a
	// buffer whose every source failed in a cycle without a part arriving
	// drops its buffer while another blob waits for room, so a blob no
	// peer serves cannot block the rest. Default 64 MiB.
	BufferBytesMax uint64
}

// Request is a want to send to a peer.
type Request struct {
	To   roles.NodeID
	Want Want
}

// FetchStats counts what a Fetcher received and refused. Every field is
// deterministic; Bytes is sorted by peer.
type FetchStats struct {
	Bytes     []PeerBytes // blob bytes of accepted parts, per peer
	Corrupt   uint64      // parts refused with ErrCorrupt
	Malformed uint64      // parts refused with ErrMalformed
	TooLarge  uint64      // parts refused with ErrTooLarge, and Fetch calls with a size over BlobMax
	Unasked   uint64      // parts no in-flight want asked for
	Timeouts  uint64      // requests that timed out
	Lacks     uint64      // peers that said they lack a blob they were asked for
	Retries   uint64      // requests for a part asked before
	Fetched   uint64      // blobs completed and Put
}

// Received is the blob data accepted from every peer.
func (s FetchStats) Received() uint64 {
	var n uint64
	for _, b := range s.Bytes {
		n += b.Bytes
	}
	return n
}

// PeerBytes is the blob data accepted from one peer.
type PeerBytes struct {
	Peer  roles.NodeID
	Bytes uint64
}

// Fetcher fetches blobs from peers into a Store: at most InFlightMax
// requests outstanding; sources tried in the order given (the caller orders
// them nearest first), parts of one blob spread over the sources with the
// fewest of its requests in flight; a request is asked elsewhere on timeout,
// on the peer saying it lacks the blob, or on a bad part, whose sender is
// asked for that blob again in this fetch only once every other source has
// failed. When every source has failed, the fetch waits TimeoutTicks and
// cycles through them again (a peer may gain the blob later): a fetch never
// gives up, Cancel ends it. Each part is verified on arrival; a finished
// blob is checked whole and Put. Memory for a blob is allocated once a part
// of it verified, from a size given to Fetch or proven by a verified part at
// offset 0, never over BlobMax; the buffers of blobs being assembled stay
// within BufferBytesMax (see FetcherConfig).
//
// Not safe for concurrent use; drive from one goroutine.
type Fetcher struct {
	cfg     FetcherConfig
	st      *Store
	now     uint64
	fetches map[Digest]*fetch
	// order holds the fetches in the order first asked (the order of
	// Requests) and, after Cancel, stale places (no fetch of that digest
	// and seq), dropped once they outnumber the fetches: Cancel costs O(1)
	// and a Requests call what it visits, so that fetching N blobs costs
	// O(N), not O(N²).
	order    []place
	seq      uint64 // the last fetch's seq
	inFlight int
	buffered uint64 // sizes of the buffers held
	blocked  bool   // the last Requests left a blob waiting for buffer room
	stats    FetchStats
	bytes    map[roles.NodeID]uint64
}

// place is a fetch's place in Fetcher.order.
type place struct {
	d   Digest
	seq uint64
}

type fetch struct {
	digest     Digest
	seq        uint64 // its place in Fetcher.order
	size       uint64 // 0 until known
	known      bool
	sources    []roles.NodeID
	bad        map[roles.NodeID]bool // sent a bad part: asked after every good source
	lacked     map[roles.NodeID]bool // said it lacks the blob: asked after every good source, until the sources change
	skip       map[roles.NodeID]bool // timed out or lacked: skipped until the next cycle
	cycleAt    uint64                // when every source has failed: the tick to try them all again
	buf        []byte
	have       []bool
	asked      []bool              // parts asked at least once (for Retries)
	askedFirst bool                // part 0 asked while the size was unknown
	progressed bool                // a part arrived in this cycle
	reqs       map[uint64]*request // in flight, by part index
}

type request struct {
	to       roles.NodeID
	want     Want
	deadline uint64
}

// NewFetcher returns a Fetcher putting into st.
func NewFetcher(cfg FetcherConfig, st *Store) *Fetcher {
	if cfg.InFlightMax <= 0 {
		cfg.InFlightMax = 8
	}
	if cfg.TimeoutTicks == 0 {
		cfg.TimeoutTicks = 20
	}
	if cfg.BufferBytesMax == 0 {
		cfg.BufferBytesMax = 64 << 20
	}
	return &Fetcher{cfg: cfg, st: st, fetches: map[Digest]*fetch{}, bytes: map[roles.NodeID]uint64{}}
}

// Fetch wants blob d of the given size (0: unknown, learned from the first
// part) from sources, nearest first. Calling it again replaces the sources
// (and sets a size not known yet). A blob already held, or a size over
// BlobMax (counted as TooLarge), asks nothing. A given size is trusted: it
// must come from a verified manifest.
func (f *Fetcher) Fetch(d Digest, size uint64, sources []roles.NodeID) {
	if f.st.Has(d) {
		return
	}
	if size > BlobMax {
		f.stats.TooLarge++
		return
	}
	ft, ok := f.fetches[d]
	if !ok {
		f.seq++
		ft = &fetch{digest: d, seq: f.seq, bad: map[roles.NodeID]bool{}, lacked: map[roles.NodeID]bool{}, skip: map[roles.NodeID]bool{}, reqs: map[uint64]*request{}}
		f.fetches[d] = ft
		f.order = append(f.order, place{d, f.seq})
	}
	if !slices.Equal(ft.sources, sources) {
		clear(ft.lacked) // a peer that lacked the blob may hold it now (a worker that installed the root)
		ft.sources = slices.Clone(sources)
	}
	if size > 0 && !ft.known && len(ft.reqs) == 0 {
		ft.setSize(size)
	}
}

// setSize records a known size ≤ BlobMax. The blob's buffer waits for its
// first verified part: many fetches waiting on sources hold no buffers.
func (ft *fetch) setSize(size uint64) {
	ft.size, ft.known = size, true
	n := partsOf(size)
	ft.have, ft.asked = make([]bool, n), make([]bool, n)
}

// partsOf is how many parts a blob of size bytes travels in.
func partsOf(size uint64) int {
	if size <= PartMax {
		return 1
	}
	return int((size + PartMax - 1) / PartMax)
}

// Cancel stops fetching d; its parts arriving later are unasked.
func (f *Fetcher) Cancel(d Digest) {
	ft, ok := f.fetches[d]
	if !ok {
		return
	}
	f.inFlight -= len(ft.reqs)
	f.release(ft)
	delete(f.fetches, d) // its place in order is stale: see live
}

// live is the fetch at place pl, nil if it was cancelled.
func (f *Fetcher) live(pl place) *fetch {
	if ft := f.fetches[pl.d]; ft != nil && ft.seq == pl.seq {
		return ft
	}
	return nil
}

// compact drops the stale places of order once they outnumber the fetches
// (each drop then pays for the Cancels that made it).
func (f *Fetcher) compact() {
	for len(f.order) > 0 && f.live(f.order[0]) == nil { // the first asked end first
		f.order = f.order[1:]
	}
	if len(f.order) <= 2*len(f.fetches)+16 {
		return
	}
	f.order = slices.DeleteFunc(f.order, func(pl place) bool { return f.live(pl) == nil })
}

// Tick advances time one tick: requests past their deadline time out and
// their peers are skipped until the next cycle.
func (f *Fetcher) Tick() {
	f.now++
	f.compact()
	for _, pl := range f.order {
		ft := f.live(pl)
		if ft == nil || len(ft.reqs) == 0 {
			continue
		}
		for _, i := range sortedParts(ft.reqs) {
			r := ft.reqs[i]
			if f.now >= r.deadline {
				delete(ft.reqs, i)
				f.inFlight--
				f.stats.Timeouts++
				ft.skip[r.to] = true
			}
		}
	}
}

func sortedParts(reqs map[uint64]*request) []uint64 {
	is := make([]uint64, 0, len(reqs))
	for i := range reqs {
		is = append(is, i)
	}
	slices.Sort(is)
	return is
}

// Requests returns what to send now, drained: fetches in the order first
// asked, parts in offset order, up to InFlightMax in flight.
func (f *Fetcher) Requests() []Request {
	var out []Request
	blocked := false
	defer func() { f.blocked = blocked }()
	f.compact()
	for k := 0; k < len(f.order); k++ { // Cancel leaves order as it is
		ft := f.live(f.order[k])
		if ft == nil {
			continue
		}
		d := ft.digest
		if f.st.Has(d) { // Put by other means
			f.Cancel(d)
			continue
		}
		if !f.admit(ft) {
			blocked = true
			continue
		}
		for _, i := range ft.missing() {
			if f.inFlight >= f.cfg.InFlightMax {
				return out
			}
			to, ok := f.pick(ft)
			if !ok {
				break
			}
			w := Want{Digest: d, Offset: uint64(i) * PartMax}
			ft.reqs[uint64(i)] = &request{to: to, want: w, deadline: f.now + f.cfg.TimeoutTicks}
			f.inFlight++
			if ft.wasAsked(i) {
				f.stats.Retries++
			}
			out = append(out, Request{To: to, Want: w})
		}
	}
	return out
}

// admit reports whether ft's parts may be asked: a large blob without a
// buffer only while the buffers held leave room for it, or none is held.
func (f *Fetcher) admit(ft *fetch) bool {
	if !ft.known || ft.size <= PartMax || ft.buf != nil {
		return true
	}
	return f.buffered == 0 || f.buffered+ft.size <= f.cfg.BufferBytesMax
}

// release drops ft's buffer and the parts in it.
func (f *Fetcher) release(ft *fetch) {
	if ft.buf == nil {
		return
	}
	f.buffered -= ft.size
	ft.buf = nil
	clear(ft.have)
}

// wasAsked reports whether part i was asked before, and records it asked.
func (ft *fetch) wasAsked(i int) bool {
	if !ft.known {
		was := ft.askedFirst
		ft.askedFirst = true
		return was
	}
	was := ft.asked[i]
	ft.asked[i] = true
	return was
}

// missing lists the parts to ask for now: part 0 alone (once) while the
// size is unknown, else every part not held nor in flight.
func (ft *fetch) missing() []int {
	if !ft.known {
		if len(ft.reqs) > 0 {
			return nil
		}
		return []int{0}
	}
	var out []int
	for i, h := range ft.have {
		if _, busy := ft.reqs[uint64(i)]; !h && !busy {
			out = append(out, i)
		}
	}
	return out
}

// pick chooses the source for the next request of ft: among the sources not
// skipped in this cycle, good ones before those that sent a bad part or
// lacked the blob, the one with the fewest requests of ft in flight,
// nearest first on ties. A source that times out, lacks the blob or sends a
// bad part is skipped for the rest of the cycle; with none left the fetch
// waits TimeoutTicks, then starts a new cycle over all sources.
func (f *Fetcher) pick(ft *fetch) (roles.NodeID, bool) {
	for range 2 {
		if to, ok := ft.choose(); ok {
			return to, true
		}
		if len(ft.sources) == 0 {
			return roles.NodeID{}, false
		}
		if ft.cycleAt == 0 { // the cycle is over
			ft.cycleAt = f.now + f.cfg.TimeoutTicks
			if !ft.progressed && f.blocked {
				f.release(ft)
			}
			ft.progressed = false
		}
		if f.now < ft.cycleAt {
			return roles.NodeID{}, false
		}
		clear(ft.skip)
		ft.cycleAt = 0
	}
	return roles.NodeID{}, false
}

func (ft *fetch) choose() (roles.NodeID, bool) {
	for _, badOK := range []bool{false, true} {
		best, bestLoad, found := roles.NodeID{}, 0, false
		for _, s := range ft.sources {
			if ft.skip[s] || (ft.bad[s] || ft.lacked[s]) != badOK {
				continue
			}
			load := 0
			for _, r := range ft.reqs {
				if r.to == s {
					load++
				}
			}
			if !found || load < bestLoad {
				best, bestLoad, found = s, load, true
			}
		}
		if found {
			return best, true
		}
	}
	return roles.NodeID{}, false
}

// Receive takes a part from a peer. A part no in-flight want of from asked
// for is refused (ErrUnasked) and counted, never stored. An asked part is
// verified (and its Size checked against the size known); a bad one is
// counted, its sender skipped for this cycle and asked for this blob again
// only after every other source has failed, and the part asked elsewhere.
// The error says why a part was refused.
func (f *Fetcher) Receive(from roles.NodeID, p Part) error {
	ft, ok := f.fetches[p.Digest]
	var r *request
	idx := p.Offset / PartMax
	if ok && p.Offset%PartMax == 0 {
		if r = ft.reqs[idx]; r != nil && r.to != from {
			r = nil
		}
	}
	if r == nil {
		f.stats.Unasked++
		return fmt.Errorf("%w: part of %s at offset %d from %s", ErrUnasked, p.Digest.Short(), p.Offset, from.Short())
	}
	delete(ft.reqs, idx)
	f.inFlight--
	data, err := f.accept(ft, r.want, p)
	if err != nil {
		f.refuse(err)
		ft.bad[from], ft.skip[from] = true, true
		return fmt.Errorf("from %s: %w", from.Short(), err)
	}
	f.bytes[from] += uint64(len(data))
	ft.progressed = true
	return f.fill(ft, idx, data)
}

// accept verifies p as the answer to w within what ft knows.
func (f *Fetcher) accept(ft *fetch, w Want, p Part) ([]byte, error) {
	if ft.known && p.Size != ft.size {
		if p.Size > BlobMax {
			return nil, fmt.Errorf("%w: part of %s claims size %d, the limit is %d", ErrTooLarge, ft.digest.Short(), p.Size, BlobMax)
		}
		return nil, fmt.Errorf("%w: part of %s claims size %d, known %d", ErrCorrupt, ft.digest.Short(), p.Size, ft.size)
	}
	data, err := p.Verify(w)
	if err != nil {
		return nil, err
	}
	if !ft.known { // a verified part at offset 0 proves its size
		ft.setSize(p.Size)
		ft.asked[0] = ft.askedFirst
	}
	return data, nil
}

func (f *Fetcher) refuse(err error) {
	switch {
	case errors.Is(err, ErrTooLarge):
		f.stats.TooLarge++
	case errors.Is(err, ErrMalformed):
		f.stats.Malformed++
	default:
		f.stats.Corrupt++
	}
}

// fill copies a verified part in and Puts the blob once whole.
func (f *Fetcher) fill(ft *fetch, idx uint64, data []byte) error {
	var whole []byte
	if ft.size <= PartMax {
		whole = data
	} else {
		if ft.buf == nil {
			ft.buf = make([]byte, ft.size)
			f.buffered += ft.size
		}
		copy(ft.buf[idx*PartMax:], data)
		ft.have[idx] = true
		if slices.Contains(ft.have, false) {
			return nil
		}
		whole = ft.buf
	}
	f.Cancel(ft.digest)
	if err := f.st.putChecked(whole, ft.digest); err != nil {
		// Every part was verified against the digest: a mismatch is a bug.
		panic(fmt.Sprintf("content: verified parts of %s failed the whole check: %v", ft.digest.Short(), err))
	}
	f.stats.Fetched++
	return nil
}

// Lacks records that from does not hold d: its requests for d are dropped
// and asked elsewhere (counted in Stats.Lacks), from is skipped until the
// next cycle and, if it was asked, asked for d again only after every other
// source, as one that sent a bad part is, until Fetch gives other sources
// (it may have got d since: a worker that installed the root). A peer that
// lacks a blob seldom gets it later (a voter keeps only its last roots'
// blobs): asked again at every cycle, the two voters that had dropped a
// worker's target answered each want with a refusal over 1s round trips
// while the third held it (worker-sync-very-slow-lossy-links seed 27).
func (f *Fetcher) Lacks(from roles.NodeID, d Digest) {
	ft, ok := f.fetches[d]
	if !ok {
		return
	}
	asked := false
	for _, i := range sortedParts(ft.reqs) {
		if ft.reqs[i].to == from {
			delete(ft.reqs, i)
			f.inFlight--
			asked = true
		}
	}
	if asked {
		f.stats.Lacks++
		ft.lacked[from] = true
	}
	ft.skip[from] = true
}

// Awaiting reports whether a request in flight may still be answered in
// time: one sent to peer p within within(p) ticks.
func (f *Fetcher) Awaiting(within func(p roles.NodeID) uint64) bool {
	for _, ft := range f.fetches {
		for _, r := range ft.reqs {
			if r.deadline-f.cfg.TimeoutTicks+within(r.to) > f.now {
				return true
			}
		}
	}
	return false
}

// Fetching is the number of fetches not ended, in O(1): Pending but for a
// blob Put by other means, which counts until Requests drops its fetch.
func (f *Fetcher) Fetching() int { return len(f.fetches) }

// Pending is the number of blobs wanted and not yet held (O(fetches)).
func (f *Fetcher) Pending() int {
	n := 0
	for d := range f.fetches {
		if !f.st.Has(d) {
			n++
		}
	}
	return n
}

// Stats returns the counters so far.
func (f *Fetcher) Stats() FetchStats {
	s := f.stats
	s.Bytes = make([]PeerBytes, 0, len(f.bytes))
	for p, n := range f.bytes {
		s.Bytes = append(s.Bytes, PeerBytes{p, n})
	}
	slices.SortFunc(s.Bytes, func(a, b PeerBytes) int { return a.Peer.Compare(b.Peer) })
	return s
}

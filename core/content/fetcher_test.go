package content_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"slices"
	"testing"

	"revoada.dev/revoada/core/content"
	"revoada.dev/revoada/core/roles"
	"revoada.dev/revoada/internal/testalloc"
)

var peerA, peerB, peerC = peerID(0), peerID(1), peerID(2)

// served puts b in a peer's store and returns its digest and the store.
func served(b []byte) (content.Digest, *content.Store) {
	st := content.NewStore()
	d, _ := st.Put(b)
	return d, st
}

// answer returns the peer store's part for r.
func answer(t *testing.T, st *content.Store, r content.Request) content.Part {
	t.Helper()
	p, ok := st.Part(r.Want)
	if !ok {
		t.Fatalf("peer cannot answer %+v", r.Want)
	}
	return p
}

func targets(rs []content.Request) []roles.NodeID {
	var out []roles.NodeID
	for _, r := range rs {
		out = append(out, r.To)
	}
	return out
}

// A part no in-flight want asked for is refused and never stored: another
// blob, another sender, another offset, or after Cancel.
func TestFetchRefusesUnasked(t *testing.T) {
	b := blob(1, 3*content.PartMax)
	d, peer := served(b)
	other, _ := peer.Put(blob(2, 100))
	st := content.NewStore()
	f := content.NewFetcher(content.FetcherConfig{InFlightMax: 1}, st)
	f.Fetch(d, uint64(len(b)), []roles.NodeID{peerA})
	rs := f.Requests()
	if len(rs) != 1 || rs[0].To != peerA || rs[0].Want.Offset != 0 {
		t.Fatalf("requests %+v", rs)
	}
	good := answer(t, peer, rs[0])
	for name, send := range map[string]func() error{
		"another blob": func() error {
			return f.Receive(peerA, answer(t, peer, content.Request{Want: content.Want{Digest: other}}))
		},
		"another sender": func() error { return f.Receive(peerB, good) },
		"another offset": func() error {
			return f.Receive(peerA, answer(t, peer, content.Request{Want: content.Want{Digest: d, Offset: content.PartMax}}))
		},
	} {
		if err := send(); !errors.Is(err, content.ErrUnasked) {
			t.Errorf("%s: %v, want ErrUnasked", name, err)
		}
	}
	if st.Has(other) || st.Len() != 0 {
		t.Fatal("an unasked part was stored")
	}
	f.Cancel(d)
	if err := f.Receive(peerA, good); !errors.Is(err, content.ErrUnasked) {
		t.Errorf("after Cancel: %v, want ErrUnasked", err)
	}
	if s := f.Stats(); s.Unasked != 4 || f.Pending() != 0 {
		t.Fatalf("Unasked %d Pending %d", s.Unasked, f.Pending())
	}
	if rs := f.Requests(); len(rs) != 0 {
		t.Fatalf("a cancelled fetch asks %+v", rs)
	}
}

// Parts of one blob go to several sources in parallel, nearest first on
// ties, within InFlightMax; the blob arrives whole and byte-identical.
func TestFetchSpreadsParts(t *testing.T) {
	b := blob(3, 5*content.PartMax-1)
	d, peer := served(b)
	st := content.NewStore()
	f := content.NewFetcher(content.FetcherConfig{InFlightMax: 4}, st)
	f.Fetch(d, uint64(len(b)), []roles.NodeID{peerB, peerA, peerC})
	rs := f.Requests()
	if got, want := targets(rs), []roles.NodeID{peerB, peerA, peerC, peerB}; !slices.Equal(got, want) {
		t.Fatalf("targets %v, want %v", got, want)
	}
	if more := f.Requests(); len(more) != 0 {
		t.Fatalf("asked %d more past InFlightMax", len(more))
	}
	for len(rs) > 0 {
		for _, r := range rs {
			if err := f.Receive(r.To, answer(t, peer, r)); err != nil {
				t.Fatal(err)
			}
		}
		rs = f.Requests()
	}
	got, ok := st.Get(d)
	if !ok || string(got) != string(b) || f.Pending() != 0 || f.Stats().Fetched != 1 {
		t.Fatalf("held %v, Pending %d, stats %+v", ok, f.Pending(), f.Stats())
	}
	var total uint64
	for _, pb := range f.Stats().Bytes {
		total += pb.Bytes
	}
	if s := f.Stats(); total != uint64(len(b)) || len(s.Bytes) != 3 || s.Bytes[0].Peer != peerA {
		t.Fatalf("bytes per peer %+v (total %d)", s.Bytes, total)
	}
}

// With the size unknown, part 0 is asked alone; it proves the size, and the
// rest follows.
func TestFetchLearnsSize(t *testing.T) {
	b := blob(4, 3*content.PartMax+1)
	d, peer := served(b)
	st := content.NewStore()
	f := content.NewFetcher(content.FetcherConfig{}, st)
	f.Fetch(d, 0, []roles.NodeID{peerA, peerB})
	rs := f.Requests()
	if len(rs) != 1 || rs[0].Want.Offset != 0 {
		t.Fatalf("with the size unknown asked %+v", rs)
	}
	if err := f.Receive(peerA, answer(t, peer, rs[0])); err != nil {
		t.Fatal(err)
	}
	if rs = f.Requests(); len(rs) != 3 {
		t.Fatalf("after the size proof asked %d parts, want 3", len(rs))
	}
	// A part claiming another size than the one proven is corrupt.
	p := answer(t, peer, rs[1])
	p.Size++
	if err := f.Receive(rs[1].To, p); !errors.Is(err, content.ErrCorrupt) {
		t.Fatalf("another size: %v", err)
	}
}

// A claimed size over BlobMax is refused before anything is allocated for it.
func TestFetchRefusesHugeSize(t *testing.T) {
	d := digestOf("huge")
	st := content.NewStore()
	f := content.NewFetcher(content.FetcherConfig{}, st)
	f.Fetch(d, 0, []roles.NodeID{peerA})
	rs := f.Requests()
	var err error
	testalloc.Check(t, 64<<10, func() {
		err = f.Receive(peerA, content.Part{Digest: d, Size: 1 << 40, Data: make([]byte, 10)})
	})
	if !errors.Is(err, content.ErrTooLarge) || len(rs) != 1 {
		t.Fatalf("%v", err)
	}
	f.Fetch(digestOf("huge too"), content.BlobMax+1, []roles.NodeID{peerA})
	if s := f.Stats(); s.TooLarge != 2 || f.Pending() != 1 {
		t.Fatalf("stats %+v Pending %d", s, f.Pending())
	}
}

// A silent source times out and the part is asked of the next; a bad part's
// sender is asked after the good sources.
func TestFetchRetriesElsewhere(t *testing.T) {
	b := blob(5, 1000)
	d, peer := served(b)
	st := content.NewStore()
	f := content.NewFetcher(content.FetcherConfig{TimeoutTicks: 3}, st)
	f.Fetch(d, 0, []roles.NodeID{peerA, peerB, peerC})
	if rs := f.Requests(); len(rs) != 1 || rs[0].To != peerA {
		t.Fatalf("%+v", rs)
	}
	for range 2 {
		f.Tick()
		if rs := f.Requests(); len(rs) != 0 {
			t.Fatalf("asked %+v before the timeout", rs)
		}
	}
	f.Tick()
	rs := f.Requests()
	if len(rs) != 1 || rs[0].To != peerB {
		t.Fatalf("after the timeout asked %+v, want peer B", rs)
	}
	bad := answer(t, peer, rs[0])
	bad.Data = slices.Clone(bad.Data)
	bad.Data[0] ^= 1
	if err := f.Receive(peerB, bad); !errors.Is(err, content.ErrCorrupt) {
		t.Fatalf("bad part: %v", err)
	}
	rs = f.Requests()
	if len(rs) != 1 || rs[0].To != peerC {
		t.Fatalf("after a bad part asked %+v, want peer C", rs)
	}
	if err := f.Receive(peerC, answer(t, peer, rs[0])); err != nil || !st.Has(d) {
		t.Fatalf("%v held %v", err, st.Has(d))
	}
	if s := f.Stats(); s.Timeouts != 1 || s.Corrupt != 1 || s.Retries != 2 || s.Fetched != 1 {
		t.Fatalf("stats %+v", s)
	}
}

// Awaiting tells whether a request in flight went out within the ticks
// its peer's answers take: a worker does not give up a target whose answer
// may still come.
func TestFetchAwaiting(t *testing.T) {
	d, peer := served(blob(7, 1000))
	f := content.NewFetcher(content.FetcherConfig{TimeoutTicks: 10}, content.NewStore())
	within := func(ticks uint64) func(roles.NodeID) uint64 {
		return func(p roles.NodeID) uint64 {
			if p != peerA {
				t.Fatalf("asked about %s, the request went to %s", p.Short(), peerA.Short())
			}
			return ticks
		}
	}
	if f.Awaiting(within(100)) {
		t.Fatal("nothing asked, yet awaiting")
	}
	f.Fetch(d, 0, []roles.NodeID{peerA, peerB})
	rs := f.Requests()
	for range 3 {
		f.Tick()
	}
	if !f.Awaiting(within(4)) || f.Awaiting(within(3)) {
		t.Fatalf("asked 3 ticks ago: within 4 %v, within 3 %v", f.Awaiting(within(4)), f.Awaiting(within(3)))
	}
	if err := f.Receive(peerA, answer(t, peer, rs[0])); err != nil {
		t.Fatal(err)
	}
	if f.Awaiting(within(100)) {
		t.Fatal("answered, yet still awaited")
	}
}

// When every source has failed the fetch waits TimeoutTicks and cycles
// through them again: a peer may gain the blob later.
func TestFetchCyclesAfterAllFail(t *testing.T) {
	b := blob(6, 2000)
	d, peer := served(b)
	st := content.NewStore()
	f := content.NewFetcher(content.FetcherConfig{TimeoutTicks: 5}, st)
	f.Fetch(d, uint64(len(b)), []roles.NodeID{peerA, peerB})
	expect := func(step string, want roles.NodeID) content.Request {
		t.Helper()
		rs := f.Requests()
		if len(rs) != 1 || rs[0].To != want {
			t.Fatalf("%s: asked %v, want %s", step, targets(rs), want.Short())
		}
		return rs[0]
	}
	wait := func(step string) {
		t.Helper()
		for tick := range 5 {
			if rs := f.Requests(); len(rs) != 0 {
				t.Fatalf("%s: tick %d: asked %v while waiting", step, tick, targets(rs))
			}
			f.Tick()
		}
	}
	bad := answer(t, peer, expect("first", peerA))
	bad.Size--
	f.Receive(peerA, bad) // A is bad from now on: asked after B
	expect("after a bad part", peerB)
	f.Lacks(peerB, d)
	wait("first cycle over")
	for range 3 { // both asked again: A sent a bad part, B lacked it
		expect("in source order", peerA)
		f.Lacks(peerA, d)
		expect("then", peerB)
		f.Lacks(peerB, d)
		wait("cycle over")
	}
	if st.Has(d) || f.Pending() != 1 {
		t.Fatal("held without an answer")
	}
	expect("A again", peerA)
	f.Lacks(peerA, d)
	r := expect("B gained the blob", peerB)
	if err := f.Receive(peerB, answer(t, peer, r)); err != nil || !st.Has(d) {
		t.Fatalf("%v, held %v", err, st.Has(d))
	}
}

func TestFetchHeldAsksNothing(t *testing.T) {
	st := content.NewStore()
	d, _ := st.Put([]byte("held"))
	f := content.NewFetcher(content.FetcherConfig{}, st)
	f.Fetch(d, 4, []roles.NodeID{peerA})
	if rs := f.Requests(); len(rs) != 0 || f.Pending() != 0 {
		t.Fatalf("asked %+v for a held blob", rs)
	}
	// Put by other means while pending: dropped on the next Requests.
	d2 := digestOf("later")
	f.Fetch(d2, 0, []roles.NodeID{peerA})
	st.Put([]byte("later"))
	if rs := f.Requests(); len(rs) != 0 || f.Pending() != 0 {
		t.Fatalf("asked %+v for a blob held meanwhile", rs)
	}
}

// The empty blob is a blob like any other.
func TestFetchEmpty(t *testing.T) {
	d, peer := served(nil)
	st := content.NewStore()
	f := content.NewFetcher(content.FetcherConfig{}, st)
	f.Fetch(d, 0, []roles.NodeID{peerA})
	rs := f.Requests()
	if err := f.Receive(peerA, answer(t, peer, rs[0])); err != nil || !st.Has(d) {
		t.Fatalf("%v %v", err, st.Has(d))
	}
}

// A part from the middle of a large blob does not prove the blob's size: a
// liar can re-head an honest slice with another size sharing the top split
// and it verifies (genuine bytes, false size). The Fetcher refuses a size
// other than the one it knows.
func TestFetchRefusesOtherSizeMidBlob(t *testing.T) {
	b := blob(7, 5*content.PartMax+3) // top split at 64 KiB: sizes in (64 KiB, 128 KiB] share it
	d, peer := served(b)
	st := content.NewStore()
	f := content.NewFetcher(content.FetcherConfig{InFlightMax: 2}, st)
	f.Fetch(d, uint64(len(b)), []roles.NodeID{peerA})
	rs := f.Requests()
	p := answer(t, peer, rs[1])
	lie := uint64(7 * content.PartMax)
	var was, now [8]byte
	binary.LittleEndian.PutUint64(was[:], p.Size)
	binary.LittleEndian.PutUint64(now[:], lie)
	if !bytes.HasPrefix(p.Data, was[:]) {
		t.Fatal("no slice header")
	}
	p.Data = append(now[:], p.Data[8:]...)
	p.Size = lie
	if _, err := p.Verify(rs[1].Want); err != nil {
		t.Fatalf("the re-headed middle part did not verify (%v): the test no longer shows what it means to", err)
	}
	if err := f.Receive(peerA, p); !errors.Is(err, content.ErrCorrupt) {
		t.Fatalf("a part claiming another size: %v, want ErrCorrupt", err)
	}
}

// A large blob without a buffer is asked for only while the buffers held
// leave room for it; the next starts when one completes, or when one whose
// sources all failed drops its buffer.
func TestFetchBoundsBuffers(t *testing.T) {
	peer := content.NewStore()
	var ds []content.Digest
	const size = 2*content.PartMax + 1 // three parts
	for i := range 3 {
		d, _ := peer.Put(blob(uint64(10+i), size))
		ds = append(ds, d)
	}
	small, _ := peer.Put(blob(20, 100))
	blobsAsked := func(rs []content.Request) []content.Digest {
		var out []content.Digest
		for _, r := range rs {
			if !slices.Contains(out, r.Want.Digest) {
				out = append(out, r.Want.Digest)
			}
		}
		return out
	}
	expect := func(step string, rs []content.Request, want ...content.Digest) {
		t.Helper()
		if got := blobsAsked(rs); !slices.Equal(got, want) {
			t.Fatalf("%s: asked for %v, want %v", step, got, want)
		}
	}
	st := content.NewStore()
	f := content.NewFetcher(content.FetcherConfig{InFlightMax: 3, BufferBytesMax: 3 * content.PartMax, TimeoutTicks: 2}, st)
	for _, d := range ds {
		f.Fetch(d, size, []roles.NodeID{peerA})
	}
	f.Fetch(small, 100, []roles.NodeID{peerA})
	first := f.Requests()
	expect("start", first, ds[0])
	f.Receive(peerA, answer(t, peer, first[0])) // ds[0] holds a buffer now
	rs := f.Requests()
	expect("no room for a second large blob", rs, small)
	f.Receive(peerA, answer(t, peer, rs[0]))
	for _, r := range first[1:] {
		f.Receive(peerA, answer(t, peer, r))
	}
	if !st.Has(ds[0]) || !st.Has(small) {
		t.Fatal("first blobs not held")
	}
	rs = f.Requests()
	expect("room again", rs, ds[1])
	// ds[1] gets one part, then its only source lacks it: the cycle made
	// progress, so it keeps its buffer; a cycle without a part drops it for
	// ds[2].
	f.Receive(peerA, answer(t, peer, rs[0]))
	expect("no room for ds[2]", f.Requests())
	f.Lacks(peerA, ds[1])
	expect("the cycle is over, with progress", f.Requests())
	f.Tick()
	f.Tick()
	expect("a new cycle", f.Requests(), ds[1])
	f.Lacks(peerA, ds[1])
	expect("the stalled blob dropped its buffer", f.Requests(), ds[2])
}

// TestFetchManyCostsLinear: fetching N small blobs, a part at a time as a
// node does (Requests after each answer), costs O(N): Requests copied the
// order of every fetch at each call and Cancel rewrote it at each blob
// fetched, O(N²) for a worker syncing a store of N resources (32,000 took
// some 6 s of CPU, 2,000 some 20 ms). The copies show in the bytes
// allocated: some 540 MB for 16,000 blobs before, under 64 MiB now.
func TestFetchManyCostsLinear(t *testing.T) {
	const n = 16000
	src := content.NewStore()
	ds := make([]content.Digest, n)
	for i := range ds {
		ds[i], _ = src.Put(binary.BigEndian.AppendUint64(nil, uint64(i)))
	}
	st := content.NewStore()
	f := content.NewFetcher(content.FetcherConfig{}, st)
	peer := roles.NodeID{1}
	testalloc.Check(t, 64<<20, func() {
		for _, d := range ds {
			f.Fetch(d, 8, []roles.NodeID{peer})
		}
		for got := 0; got < n; {
			reqs := f.Requests()
			if len(reqs) == 0 {
				t.Fatalf("%d of %d blobs fetched, nothing asked", got, n)
			}
			for _, r := range reqs {
				p, _ := src.Part(r.Want)
				if err := f.Receive(peer, p); err != nil {
					t.Fatal(err)
				}
				got++
			}
		}
	})
	if f.Pending() != 0 || f.Fetching() != 0 || st.Len() != n {
		t.Fatalf("Pending %d, Fetching %d, held %d of %d", f.Pending(), f.Fetching(), st.Len(), n)
	}
}

// A source that said it lacks the blob is asked for it after one that only
// timed out: a voter that dropped a root's blobs does not get them back.
func TestFetchLackedAskedLast(t *testing.T) {
	b := blob(7, 2000)
	d, _ := served(b)
	f := content.NewFetcher(content.FetcherConfig{TimeoutTicks: 5}, content.NewStore())
	f.Fetch(d, uint64(len(b)), []roles.NodeID{peerA, peerB})
	next := func(step string, want roles.NodeID) {
		t.Helper()
		for range 20 {
			if rs := f.Requests(); len(rs) > 0 {
				if len(rs) != 1 || rs[0].To != want {
					t.Fatalf("%s: asked %v, want %s", step, targets(rs), want.Short())
				}
				return
			}
			f.Tick()
		}
		t.Fatalf("%s: nothing asked", step)
	}
	next("first", peerA)
	f.Lacks(peerA, d)
	next("after A lacked", peerB) // B never answers: it times out
	next("next cycle, the one that timed out first", peerB)
	next("then the one that lacked", peerA)
	// Other sources forget the refusals: A may hold the blob now.
	f.Lacks(peerA, d)
	next("B again", peerB) // times out
	f.Fetch(d, uint64(len(b)), []roles.NodeID{peerA, peerB, peerC})
	next("the sources changed: A in its place", peerA)
}

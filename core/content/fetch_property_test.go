package content_test

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"

	"pgregory.net/rapid"

	"revoada.dev/revoada/core/content"
	"revoada.dev/revoada/core/roles"
)

func peerID(i int) roles.NodeID { return roles.NodeID{byte(i + 1)} }

// behaviour is how a simulated peer answers a want.
type behaviour int

const (
	honest   behaviour = iota
	corrupt            // flips a byte of Data
	truncate           // cuts Data short
	sizeLiar           // claims another Size
	lacker             // says it lacks every blob
	silent             // never answers
	spammer            // answers honestly, plus a part nobody asked for
	late               // honest, but lacks every blob until tick lateTicks
	behaviours
)

const lateTicks = 60

func (b behaviour) String() string {
	return [...]string{"honest", "corrupt", "truncate", "sizeLiar", "lacker", "silent", "spammer", "late"}[b]
}

type peer struct {
	id   roles.NodeID
	kind behaviour
	st   *content.Store
}

// message is a peer's answer in flight to the fetcher.
type message struct {
	at    uint64
	from  roles.NodeID
	part  *content.Part
	lacks content.Digest
}

// world is a small deterministic loop: the fetcher's requests go to peers,
// their answers come back after a drawn delay, one tick at a time.
type world struct {
	f       *content.Fetcher
	st      *content.Store
	peers   map[roles.NodeID]*peer
	queue   []message
	now     uint64
	delay   func() uint64
	trace   []string
	refused map[string]int
}

func (w *world) answer(r content.Request) {
	p := w.peers[r.To]
	send := func(pt content.Part) {
		w.queue = append(w.queue, message{at: w.now + w.delay(), from: p.id, part: &pt})
	}
	lacks := func() { w.queue = append(w.queue, message{at: w.now + w.delay(), from: p.id, lacks: r.Want.Digest}) }
	pt, ok := p.st.Part(r.Want)
	switch {
	case p.kind == silent:
		return
	case p.kind == lacker, !ok, p.kind == late && w.now < lateTicks:
		lacks()
		return
	}
	pt.Data = bytes.Clone(pt.Data)
	switch p.kind {
	case corrupt:
		if len(pt.Data) > 0 {
			pt.Data[len(pt.Data)/2] ^= 0x40
		} else {
			pt.Data = []byte{1}
		}
	case truncate:
		pt.Data = pt.Data[:len(pt.Data)/2]
		if len(pt.Data) == 0 {
			pt.Size++
		}
	case sizeLiar:
		pt.Size = pt.Size*2 + 1
	case spammer:
		other := pt
		other.Offset += content.PartMax
		send(other)
	}
	send(pt)
}

func (w *world) step() {
	for _, r := range w.f.Requests() {
		w.trace = append(w.trace, fmt.Sprintf("%d %s %s@%d", w.now, r.To.Short(), r.Want.Digest.Short(), r.Want.Offset))
		w.answer(r)
	}
	due := slices.DeleteFunc(slices.Clone(w.queue), func(m message) bool { return m.at > w.now })
	w.queue = slices.DeleteFunc(w.queue, func(m message) bool { return m.at <= w.now })
	for _, m := range due {
		if m.part == nil {
			w.f.Lacks(m.from, m.lacks)
			continue
		}
		if err := w.f.Receive(m.from, *m.part); err != nil {
			w.refused[w.peers[m.from].kind.String()]++
			if w.peers[m.from].kind == honest && !errors.Is(err, content.ErrUnasked) {
				panic(fmt.Sprintf("an honest part was refused: %v", err))
			}
		}
	}
	w.f.Tick()
	w.now++
}

// TestFetchConverges: for random blobs and peers of which some corrupt,
// truncate, lie about sizes, lack the blob, never answer or spam unasked
// parts, a Fetcher ends holding every blob that has at least one honest
// source, byte-identical, and never holds a blob it was not asked for (a
// wrong blob would be held under its own digest).
func TestFetchConverges(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		w, blobs, sources, servable := drawWorld(t)
		for w.f.Pending() > 0 && w.now < 5000 {
			w.step()
			if countHeld(w.st, blobs) == servable && w.f.Pending() == len(blobs)-servable {
				break
			}
		}
		for i, b := range blobs {
			d := content.Sum(b)
			got, held := w.st.Get(d)
			wantHeld := slices.ContainsFunc(sources[i], func(id roles.NodeID) bool {
				k := w.peers[id].kind
				return (k == honest || k == late || k == spammer) && w.peers[id].st.Has(d)
			})
			if held != wantHeld {
				t.Fatalf("blob %d (%d bytes): held %v, want %v after %d ticks; stats %+v", i, len(b), held, wantHeld, w.now, w.f.Stats())
			}
			if held && !bytes.Equal(got, b) {
				t.Fatalf("blob %d: held bytes differ", i)
			}
		}
		if w.st.Len() != countHeld(w.st, blobs) {
			t.Fatalf("store holds %d blobs, %d of them asked for", w.st.Len(), countHeld(w.st, blobs))
		}
	})
}

func countHeld(st *content.Store, blobs [][]byte) int {
	n := 0
	for _, b := range blobs {
		if st.Has(content.Sum(b)) {
			n++
		}
	}
	return n
}

// drawWorld draws blobs, peers with behaviours holding some of them, and a
// Fetcher asked for every blob (with its size or not). servable is how many
// blobs have an honest source.
func drawWorld(t *rapid.T) (*world, [][]byte, [][]roles.NodeID, int) {
	nBlobs := rapid.IntRange(1, 4).Draw(t, "blobs")
	var blobs [][]byte
	for i := range nBlobs {
		size := rapid.OneOf(rapid.IntRange(0, 100<<10), rapid.SampledFrom([]int{0, 1, content.PartMax, content.PartMax + 1, 2 * content.PartMax, 3*content.PartMax - 1})).Draw(t, fmt.Sprintf("size%d", i))
		blobs = append(blobs, blob(uint64(i)<<32|uint64(size), size))
	}
	seen := map[content.Digest]bool{}
	blobs = slices.DeleteFunc(blobs, func(b []byte) bool { d := content.Sum(b); dup := seen[d]; seen[d] = true; return dup })
	nPeers := rapid.IntRange(1, 5).Draw(t, "peers")
	w := &world{peers: map[roles.NodeID]*peer{}, refused: map[string]int{}}
	var ids []roles.NodeID
	for i := range nPeers {
		p := &peer{id: peerID(i), kind: behaviour(rapid.IntRange(0, int(behaviours)-1).Draw(t, fmt.Sprintf("kind%d", i))), st: content.NewStore()}
		w.peers[p.id] = p
		ids = append(ids, p.id)
	}
	sources := make([][]roles.NodeID, len(blobs))
	for i, b := range blobs {
		for _, id := range ids {
			if rapid.Bool().Draw(t, fmt.Sprintf("holds%d-%s", i, id.Short())) {
				w.peers[id].st.Put(b)
			}
		}
		sources[i] = rapid.Permutation(ids).Draw(t, fmt.Sprintf("order%d", i))
	}
	delayMax := rapid.Uint64Range(0, 4).Draw(t, "delayMax")
	r := rand.New(rand.NewPCG(rapid.Uint64().Draw(t, "delaySeed"), 0))
	w.delay = func() uint64 { return r.Uint64N(delayMax + 1) }
	cfg := content.FetcherConfig{InFlightMax: rapid.IntRange(0, 8).Draw(t, "inflight"), TimeoutTicks: rapid.Uint64Range(0, 10).Draw(t, "timeout"),
		BufferBytesMax: rapid.SampledFrom([]uint64{0, 1, 50 << 10}).Draw(t, "bufferMax")}
	w.st = content.NewStore()
	w.f = content.NewFetcher(cfg, w.st)
	servable := 0
	for i, b := range blobs {
		size := uint64(0)
		if rapid.Bool().Draw(t, fmt.Sprintf("sized%d", i)) {
			size = uint64(len(b))
		}
		w.f.Fetch(content.Sum(b), size, sources[i])
		if slices.ContainsFunc(ids, func(id roles.NodeID) bool {
			k := w.peers[id].kind
			return (k == honest || k == late || k == spammer) && w.peers[id].st.Has(content.Sum(b))
		}) {
			servable++
		}
	}
	return w, blobs, sources, servable
}

// The same world run twice sends the same requests and ends with the same
// stats: nothing observable depends on map order.
func TestFetchDeterministic(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		seed := rapid.Uint64().Draw(t, "seed")
		run := func() ([]string, content.FetchStats) {
			w, _, _, _ := drawWorldSeeded(seed)
			for range 300 {
				w.step()
			}
			return w.trace, w.f.Stats()
		}
		t1, s1 := run()
		t2, s2 := run()
		if !slices.Equal(t1, t2) || !reflect.DeepEqual(s1, s2) {
			t.Fatalf("two runs differ:\n%v\n%v\n%+v\n%+v", t1, t2, s1, s2)
		}
	})
}

// drawWorldSeeded builds a world from a seed with rapid's own generator.
func drawWorldSeeded(seed uint64) (*world, [][]byte, [][]roles.NodeID, int) {
	var w *world
	var blobs [][]byte
	var sources [][]roles.NodeID
	var servable int
	rapid.Custom(func(t *rapid.T) int {
		w, blobs, sources, servable = drawWorld(t)
		return 0
	}).Example(int(seed % (1 << 30)))
	return w, blobs, sources, servable
}

package node

import (
	"errors"
	"maps"
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"

	"revoada.dev/revoada/core/content"
	"revoada.dev/revoada/core/roles"
	"revoada.dev/revoada/core/store"
)

// TestAnswerWantsBoundsWhatAMessageDraws: a hostile peer's message of
// ContentItemsMax wants (repeated, or spread over a large blob, or at
// offsets no fetcher asks) draws at most AnswerBytesMax of blob data and
// each part once, while an honest fetcher's wants are all answered.
func TestAnswerWantsBoundsWhatAMessageDraws(t *testing.T) {
	st := content.NewStore()
	big := make([]byte, 2<<20)
	for i := range big {
		big[i] = byte(i * 7)
	}
	d, err := st.Put(big)
	if err != nil {
		t.Fatal(err)
	}
	var missing content.Digest
	missing[0] = 1

	same := make([]content.Want, ContentItemsMax)
	for i := range same {
		same[i] = content.Want{Digest: d}
	}
	if a, served := answerWants(st, same, AnswerBytesMax); len(a.Parts) != 1 || served != uint64(len(a.Parts[0].Data)) {
		t.Fatalf("%d copies of one want drew %d parts (%d bytes), want 1", len(same), len(a.Parts), served)
	}

	spread := make([]content.Want, ContentItemsMax)
	for i := range spread {
		spread[i] = content.Want{Digest: d, Offset: uint64(i) * content.PartMax}
	}
	a, served := answerWants(st, spread, AnswerBytesMax)
	if served > AnswerBytesMax || len(a.Parts) == 0 {
		t.Fatalf("%d wants over a large blob drew %d parts, %d bytes (limit %d)", len(spread), len(a.Parts), served, AnswerBytesMax)
	}
	var sum uint64
	for _, p := range a.Parts {
		sum += uint64(len(p.Data))
	}
	if sum != served {
		t.Fatalf("served %d, parts carry %d", served, sum)
	}

	odd := make([]content.Want, ContentItemsMax)
	for i := range odd {
		odd[i] = content.Want{Digest: d, Offset: uint64(i) + 1}
	}
	if a, served := answerWants(st, odd, AnswerBytesMax); len(a.Parts) != 0 || served != 0 {
		t.Fatalf("%d wants at offsets no fetcher asks drew %d parts", len(odd), len(a.Parts))
	}

	lacks := make([]content.Want, ContentItemsMax)
	for i := range lacks {
		lacks[i] = content.Want{Digest: missing, Offset: uint64(i) * content.PartMax}
	}
	if a, _ := answerWants(st, lacks, AnswerBytesMax); len(a.Lacks) != 1 {
		t.Fatalf("wants of a blob not held drew %d refusals, want 1", len(a.Lacks))
	}

	honest := make([]content.Want, 8) // content.FetcherConfig's default InFlightMax
	for i := range honest {
		honest[i] = content.Want{Digest: d, Offset: uint64(i) * content.PartMax}
	}
	honest = append(honest, content.Want{Digest: missing})
	a, _ = answerWants(st, honest, AnswerBytesMax)
	if len(a.Parts) != 8 || len(a.Lacks) != 1 {
		t.Fatalf("an honest fetcher's wants drew %d parts and %d refusals, want 8 and 1", len(a.Parts), len(a.Lacks))
	}
	for i, p := range a.Parts {
		if _, err := p.Verify(honest[i]); err != nil {
			t.Fatalf("part %d: %v", i, err)
		}
	}
}

// TestManifestOfAStoreTooLargeForOneBlob: a member whose store's manifest
// would pass content.BlobMax (some 150,000 small resources, which the store
// allows) publishes a root naming no manifest; it used to panic at every
// root, on every member, and again after every restart.
func TestManifestOfAStoreTooLargeForOneBlob(t *testing.T) {
	s, st := newSyncing(), store.New()
	apply(t, st, 0, 3)
	m, md, err := s.manifestOf(st)
	if err != nil || len(m.Entries) != 3 || m.Revision != 3 || md != m.Digest() || !s.blobs.Has(md) {
		t.Fatalf("manifest of 3 resources: %d entries, revision %d, held %t: %v", len(m.Entries), m.Revision, s.blobs.Has(md), err)
	}
	n := content.BlobMax/60 + 1 // most manifest entries of these take more than 60 bytes
	apply(t, st, 3, n)
	_, md, err = s.manifestOf(st)
	if !errors.Is(err, content.ErrTooLarge) || md != (content.Digest{}) {
		t.Fatalf("manifest of %d resources: digest %s, error %v, want content.ErrTooLarge", n, md.Short(), err)
	}
}

// apply writes resources from..to-1 of kind k in namespace ns into st.
func apply(t *testing.T, st *store.Store, from, to int) {
	t.Helper()
	for i := from; i < to; i++ {
		if _, _, err := st.Apply(store.Resource{Ref: store.Ref{Kind: "k", Namespace: "ns", Name: "n" + strconv.Itoa(i)}, Face: "raw", Format: store.JSON, Payload: []byte("{}")}, store.Expect{}); err != nil {
			t.Fatal(err)
		}
	}
}

// TestManifestFollowsTheStore: the manifest a member makes by following
// its store's writes from its last manifest (most roots) is the one it
// makes by listing the store whole, with the same resource blobs, through
// writes, deletes, a snapshot restored into the store, history compacted
// past the last manifest, and blobs collected from under it.
func TestManifestFollowsTheStore(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	s, st := newSyncing(), store.New()
	var snap []byte
	followed := 0
	for step := range 600 {
		plain := true
		for range rng.IntN(4) {
			ref := store.Ref{Kind: []string{"a", "b"}[rng.IntN(2)], Namespace: []string{"", "x", "y"}[rng.IntN(3)], Name: "n" + strconv.Itoa(rng.IntN(25))}
			if rng.IntN(3) == 0 {
				_, _, _ = st.Delete(ref, store.Expect{}) // ErrNotFound for an absent ref: nothing written
				continue
			}
			payload := []byte(`{"v":` + strconv.Itoa(rng.IntN(1000)) + `}`)
			if _, _, err := st.Apply(store.Resource{Ref: ref, Face: "raw", Format: store.JSON, Payload: payload}, store.Expect{}); err != nil {
				t.Fatal(err)
			}
		}
		switch {
		case step%50 == 7:
			snap = st.Snapshot()
		case step%50 == 31 && snap != nil:
			// An older state of this store, or another store's, ahead of
			// this one (its history reaches past the last manifest's).
			if step%100 == 81 {
				other := store.New()
				for i := range int(st.Revision()) + 20 {
					apply(t, other, i%7, i%7+1)
				}
				snap = other.Snapshot()
			}
			if _, _, err := st.Exec(store.Command{Op: store.OpRestore, Snapshot: snap}); err != nil {
				t.Fatal(err)
			}
			plain = false
		case step%50 == 17:
			st.Compact(st.Revision() + 1)
			plain = false
		case step%50 == 43:
			s.blobs.Collect(func(content.Digest) bool { return rng.IntN(2) == 0 })
			plain = false
		}
		if _, ok := s.followed(st, st.Revision()); ok {
			followed++
		} else if plain && step > 0 {
			t.Fatalf("step %d: a manifest not followed from the last after plain writes", step)
		}
		m, md, err := s.manifestOf(st)
		fresh := newSyncing()
		wm, wmd, werr := fresh.manifestOf(st)
		if err != nil || werr != nil || md != wmd || !slices.Equal(m.Entries, wm.Entries) || m.Revision != wm.Revision {
			t.Fatalf("step %d: manifest %s of %d entries (%v), listed %s of %d (%v)", step, md.Short(), len(m.Entries), err, wmd.Short(), len(wm.Entries), werr)
		}
		if !maps.Equal(s.resources, fresh.resources) {
			t.Fatalf("step %d: resource blobs %d, listed %d", step, len(s.resources), len(fresh.resources))
		}
		for _, e := range m.Entries {
			if !s.blobs.Has(e.Digest) {
				t.Fatalf("step %d: the blob of entry %q is not held", step, e.Key)
			}
		}
	}
	if followed < 500 {
		t.Fatalf("%d of 600 manifests followed the store, want most", followed)
	}
}

// TestServeBytesPerTickPerPeer: a peer sending message after message of
// wants in one tick draws at most ServeBytesPerTick; another peer, or the
// next tick, has its own budget.
func TestServeBytesPerTickPerPeer(t *testing.T) {
	s := newSyncing()
	big := make([]byte, content.BlobMax)
	for i := range big {
		big[i] = byte(i * 13)
	}
	d, err := s.blobs.Put(big)
	if err != nil {
		t.Fatal(err)
	}
	wants := make([]content.Want, ContentItemsMax)
	for i := range wants {
		wants[i] = content.Want{Digest: d, Offset: uint64(i) * content.PartMax}
	}
	draw := func(from roles.NodeID, now uint64, messages int) uint64 {
		var got uint64
		for range messages {
			for _, p := range s.answer(from, now, wants).Parts {
				got += uint64(len(p.Data))
			}
		}
		return got
	}
	a, b := roles.NodeID{1}, roles.NodeID{2}
	if got := draw(a, 7, 20); got > ServeBytesPerTick || got < ServeBytesPerTick/2 {
		t.Fatalf("20 messages of %d wants in one tick drew %d bytes, budget %d", len(wants), got, ServeBytesPerTick)
	}
	if got := draw(a, 7, 1); got > 64<<10 {
		t.Fatalf("a message past the budget drew %d bytes", got)
	}
	if got := draw(b, 7, 1); got == 0 {
		t.Fatal("another peer drew nothing: budgets are per peer")
	}
	if got := draw(a, 8, 1); got == 0 {
		t.Fatal("the next tick drew nothing: budgets are per tick")
	}
}

package node

import (
	"errors"
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
	s := newSyncing()
	few := resources(3)
	m, md, err := s.manifestOf(few, 7)
	if err != nil || len(m.Entries) != 3 || m.Revision != 7 || md != m.Digest() || !s.blobs.Has(md) {
		t.Fatalf("manifest of 3 resources: %d entries, revision %d, held %t: %v", len(m.Entries), m.Revision, s.blobs.Has(md), err)
	}
	n := content.BlobMax/60 + 1 // most manifest entries of these take more than 60 bytes
	_, md, err = s.manifestOf(resources(n), 9)
	if !errors.Is(err, content.ErrTooLarge) || md != (content.Digest{}) {
		t.Fatalf("manifest of %d resources: digest %s, error %v, want content.ErrTooLarge", n, md.Short(), err)
	}
}

func resources(n int) []store.Resource {
	out := make([]store.Resource, n)
	for i := range out {
		out[i] = store.Resource{Ref: store.Ref{Kind: "k", Namespace: "ns", Name: "n" + strconv.Itoa(i)}, ModRevision: store.Revision(i + 1), CreateRevision: store.Revision(i + 1), Version: 1}
	}
	slices.SortFunc(out, func(a, b store.Resource) int { return store.Compare(a.Ref, b.Ref) })
	return out
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

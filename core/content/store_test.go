package content_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"testing"

	"lukechampine.com/blake3"
	"lukechampine.com/blake3/bao"

	"revoada.dev/revoada/core/content"
)

// blob returns n deterministic pseudo-random bytes.
func blob(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, 1))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// sizes crosses every boundary the protocol has: empty, one chunk, one part,
// one part and a byte, a power of two, uneven tails.
var sizes = []int{0, 1, 1023, 1024, 1025, content.PartMax - 1, content.PartMax, content.PartMax + 1,
	2 * content.PartMax, 2*content.PartMax + 7, 100 << 10, 1 << 20, 1<<20 + 12345}

// The Bao root of the outboard encoding (group 4, what the Store builds) is
// the plain BLAKE3-256 hash: small and large blobs share one address space.
func TestBaoRootIsBLAKE3(t *testing.T) {
	for _, n := range sizes {
		b := blob(uint64(n), n)
		_, root := bao.EncodeBuf(b, 4, true)
		if root != blake3.Sum256(b) {
			t.Errorf("size %d: bao root %x, blake3 %x", n, root, blake3.Sum256(b))
		}
		st := content.NewStore()
		d, err := st.Put(b)
		if err != nil || d != content.Sum(b) {
			t.Errorf("size %d: Put = %s, %v; want %s", n, d, err, content.Sum(b))
		}
	}
}

func TestDigestText(t *testing.T) {
	d := content.Sum([]byte("abc"))
	// BLAKE3("abc") from the reference implementation's test vectors.
	const want = "6437b3ac38465133ffb63b75273a8db548c558465d79db03fd359c6cd5bd9d85"
	if d.String() != want || d.Short() != want[:12] {
		t.Fatalf("String %s Short %s, want %s", d, d.Short(), want)
	}
}

// Every part of every size verifies against the digest, and the parts
// together give back the blob.
func TestPartsRoundTrip(t *testing.T) {
	for _, n := range sizes {
		b := blob(uint64(n), n)
		st := content.NewStore()
		d, _ := st.Put(b)
		var got []byte
		for off := uint64(0); off < uint64(n) || off == 0; off += content.PartMax {
			w := content.Want{Digest: d, Offset: off}
			p, ok := st.Part(w)
			if !ok {
				t.Fatalf("size %d: no part at %d", n, off)
			}
			if len(p.Data) > content.PartDataMax {
				t.Fatalf("size %d: part at %d carries %d bytes, over PartDataMax", n, off, len(p.Data))
			}
			data, err := p.Verify(w)
			if err != nil {
				t.Fatalf("size %d: part at %d: %v", n, off, err)
			}
			got = append(got, data...)
			if n == 0 {
				break
			}
		}
		if !bytes.Equal(got, b) {
			t.Fatalf("size %d: parts give %d bytes, differ from the blob", n, len(got))
		}
	}
}

// Misaligned and short wants verify too, and answer exactly their range.
func TestPartOddRanges(t *testing.T) {
	b := blob(7, 3*content.PartMax+100)
	st := content.NewStore()
	d, _ := st.Put(b)
	for _, w := range []content.Want{
		{Digest: d, Offset: 1, Length: 10},
		{Digest: d, Offset: content.PartMax - 5, Length: content.PartMax},
		{Digest: d, Offset: uint64(len(b)) - 1},
		{Digest: d, Offset: 0, Length: 1},
		{Digest: d, Offset: 2*content.PartMax + 3, Length: 0},
	} {
		p, ok := st.Part(w)
		if !ok {
			t.Fatalf("%+v: not answered", w)
		}
		data, err := p.Verify(w)
		if err != nil {
			t.Fatalf("%+v: %v", w, err)
		}
		end := min(w.Offset+uint64(max(w.Length, 0)), uint64(len(b)))
		if w.Length == 0 {
			end = min(w.Offset+content.PartMax, uint64(len(b)))
		}
		if !bytes.Equal(data, b[w.Offset:end]) {
			t.Fatalf("%+v: wrong bytes", w)
		}
	}
	// The largest honest part: a misaligned want near the end of a BlobMax blob.
	big := blob(8, content.BlobMax)
	bd, _ := st.Put(big)
	for _, off := range []uint64{content.BlobMax/2 - 1, content.PartMax + 1, 0} {
		w := content.Want{Digest: bd, Offset: off}
		p, _ := st.Part(w)
		if len(p.Data) > content.PartDataMax {
			t.Errorf("BlobMax part at %d: %d bytes over PartDataMax %d", off, len(p.Data), content.PartDataMax)
		}
		if _, err := p.Verify(w); err != nil {
			t.Errorf("BlobMax part at %d: %v", off, err)
		}
	}
}

func TestPartRefusals(t *testing.T) {
	st := content.NewStore()
	small, _ := st.Put(blob(1, 100))
	large, _ := st.Put(blob(2, 5*content.PartMax+3))
	for _, w := range []content.Want{
		{Digest: content.Sum([]byte("absent"))},
		{Digest: small, Offset: 100},
		{Digest: large, Offset: 5*content.PartMax + 3},
		{Digest: large, Length: content.PartMax + 1},
	} {
		if _, ok := st.Part(w); ok {
			t.Errorf("%+v answered", w)
		}
	}
	if _, ok := st.Part(content.Want{Digest: content.Sum(nil)}); ok {
		t.Errorf("empty blob answered before it was put")
	}
	st.Put(nil)
	if p, ok := st.Part(content.Want{Digest: content.Sum(nil)}); !ok || p.Size != 0 {
		t.Errorf("empty blob: %+v %v", p, ok)
	}
}

// Each kind of bad part is refused with its typed error.
func TestVerifyRefuses(t *testing.T) {
	st := content.NewStore()
	sd, _ := st.Put(blob(1, 1000))
	ld, _ := st.Put(blob(2, 5*content.PartMax+3))
	other := content.Sum([]byte("other"))
	part := func(d content.Digest, off uint64) (content.Want, content.Part) {
		w := content.Want{Digest: d, Offset: off}
		p, ok := st.Part(w)
		if !ok {
			t.Fatalf("no part %s@%d", d.Short(), off)
		}
		p.Data = bytes.Clone(p.Data)
		return w, p
	}
	cases := []struct {
		name string
		mut  func(w *content.Want, p *content.Part)
		want error
	}{
		{"small flipped", func(w *content.Want, p *content.Part) { *w, *p = part(sd, 0); p.Data[3] ^= 1 }, content.ErrCorrupt},
		{"small short", func(w *content.Want, p *content.Part) { *w, *p = part(sd, 0); p.Data = p.Data[:999] }, content.ErrCorrupt},
		{"small size lie", func(w *content.Want, p *content.Part) { *w, *p = part(sd, 0); p.Size = 999 }, content.ErrCorrupt},
		{"small as large", func(w *content.Want, p *content.Part) { *w, *p = part(sd, 0); p.Size = content.PartMax + 1 }, content.ErrCorrupt},
		{"other digest", func(w *content.Want, p *content.Part) { *w, *p = part(sd, 0); w.Digest = other }, content.ErrCorrupt},
		{"other offset", func(w *content.Want, p *content.Part) { *w, *p = part(ld, content.PartMax); w.Offset = 0 }, content.ErrCorrupt},
		{"large flipped data", func(w *content.Want, p *content.Part) { *w, *p = part(ld, content.PartMax); p.Data[len(p.Data)-1] ^= 1 }, content.ErrCorrupt},
		{"large flipped proof", func(w *content.Want, p *content.Part) { *w, *p = part(ld, content.PartMax); p.Data[10] ^= 1 }, content.ErrCorrupt},
		{"large truncated", func(w *content.Want, p *content.Part) {
			*w, *p = part(ld, content.PartMax)
			p.Data = p.Data[:len(p.Data)-1]
		}, content.ErrMalformed},
		{"large trailing", func(w *content.Want, p *content.Part) { *w, *p = part(ld, content.PartMax); p.Data = append(p.Data, 0) }, content.ErrMalformed},
		{"large size lie", func(w *content.Want, p *content.Part) { *w, *p = part(ld, content.PartMax); p.Size++ }, content.ErrCorrupt},
		{"first part without size proof", func(w *content.Want, p *content.Part) {
			*w, *p = part(ld, 0)
			q, _ := st.Part(content.Want{Digest: ld, Offset: 0, Length: content.PartMax})
			p.Data = q.Data[:len(q.Data)/2]
		}, content.ErrMalformed},
		{"size proof flipped", func(w *content.Want, p *content.Part) { *w, *p = part(ld, 0); p.Data[len(p.Data)-1] ^= 1 }, content.ErrCorrupt},
		{"size over BlobMax", func(w *content.Want, p *content.Part) { *w, *p = part(ld, 0); p.Size = content.BlobMax + 1 }, content.ErrTooLarge},
		{"data over PartDataMax", func(w *content.Want, p *content.Part) {
			*w, *p = part(ld, 0)
			p.Data = make([]byte, content.PartDataMax+1)
		}, content.ErrTooLarge},
		{"offset past size", func(w *content.Want, p *content.Part) { *w, *p = part(ld, 0); p.Offset, w.Offset = p.Size, p.Size }, content.ErrMalformed},
		{"want over PartMax", func(w *content.Want, p *content.Part) { *w, *p = part(sd, 0); w.Length = content.PartMax + 1 }, content.ErrMalformed},
	}
	for _, c := range cases {
		var w content.Want
		var p content.Part
		c.mut(&w, &p)
		_, err := p.Verify(w)
		if !errors.Is(err, c.want) {
			t.Errorf("%s: got %v, want %v", c.name, err, c.want)
		}
	}
}

// A size proof at offset 0: a liar who keeps the first slice but claims
// another size in both the part and the slice header is caught.
func TestSizeLieAtOffsetZero(t *testing.T) {
	st := content.NewStore()
	b := blob(3, 5*content.PartMax+3) // top split at 64 KiB: sizes in (64 KiB, 128 KiB] share it
	d, _ := st.Put(b)
	w := content.Want{Digest: d}
	p, _ := st.Part(w)
	// Forge: the first slice re-headed with a bigger size in the same top split.
	lie := uint64(7 * content.PartMax)
	var was, now [8]byte
	binary.LittleEndian.PutUint64(was[:], p.Size)
	binary.LittleEndian.PutUint64(now[:], lie)
	forged := bytes.ReplaceAll(p.Data, was[:], now[:]) // both slice headers
	if bytes.Count(p.Data, was[:]) != 2 {
		t.Fatalf("expected two slice headers, found %d", bytes.Count(p.Data, was[:]))
	}
	first := content.Part{Digest: d, Size: lie, Offset: 0, Data: forged}
	if _, err := first.Verify(w); err == nil {
		t.Fatal("a size lie at offset 0 verified")
	}
}

func TestStoreBasics(t *testing.T) {
	st := content.NewStore()
	b := blob(1, 5000)
	d, err := st.Put(b)
	if err != nil {
		t.Fatal(err)
	}
	b[0] ^= 1 // Put copied
	if got, _ := st.Get(d); content.Sum(got) != d {
		t.Fatal("Put did not copy")
	}
	st.Put(blob(1, 5000)) // idempotent
	if st.Len() != 1 || st.Bytes() != 5000 || !st.Has(d) {
		t.Fatalf("Len %d Bytes %d Has %v", st.Len(), st.Bytes(), st.Has(d))
	}
	if _, err := st.Put(make([]byte, content.BlobMax+1)); !errors.Is(err, content.ErrTooLarge) {
		t.Fatalf("over BlobMax: %v", err)
	}
	if _, err := st.Put(make([]byte, content.BlobMax)); err != nil {
		t.Fatalf("at BlobMax: %v", err)
	}
}

// Collect drops exactly what keep refuses, asks in digest order, and keeps
// Bytes right.
func TestCollect(t *testing.T) {
	st := content.NewStore()
	var ds []content.Digest
	var total uint64
	for i := range 20 {
		n := i * 3000
		d, _ := st.Put(blob(uint64(i), n))
		ds = append(ds, d)
		total += uint64(n)
	}
	keep := map[content.Digest]bool{}
	var kept uint64
	for i, d := range ds {
		if i%3 == 0 {
			keep[d] = true
			kept += uint64(i * 3000)
		}
	}
	var asked []content.Digest
	dropped := st.Collect(func(d content.Digest) bool { asked = append(asked, d); return keep[d] })
	if dropped != 20-len(keep) || st.Len() != len(keep) || st.Bytes() != kept {
		t.Fatalf("dropped %d, Len %d, Bytes %d; want %d, %d, %d", dropped, st.Len(), st.Bytes(), 20-len(keep), len(keep), kept)
	}
	for i, d := range ds {
		if st.Has(d) != keep[d] {
			t.Errorf("blob %d: Has %v, keep %v", i, st.Has(d), keep[d])
		}
	}
	for i := 1; i < len(asked); i++ {
		if bytes.Compare(asked[i-1][:], asked[i][:]) >= 0 {
			t.Fatal("keep not asked in digest order")
		}
	}
	if st.Collect(func(content.Digest) bool { return true }) != 0 || st.Len() != len(keep) {
		t.Fatal("a second Collect keeping all dropped something")
	}
}

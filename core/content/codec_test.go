package content_test

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"

	"pgregory.net/rapid"

	"revoada.dev/revoada/core/content"
	"revoada.dev/revoada/internal/testalloc"
)

func digestOf(s string) content.Digest { return content.Sum([]byte(s)) }

// Golden bytes: the encodings are hashed and cross the wire, so a change to
// them is a version change.
func TestCodecGolden(t *testing.T) {
	var d content.Digest
	for i := range d {
		d[i] = byte(i)
	}
	dig := hex.EncodeToString(d[:])
	cases := []struct {
		name string
		got  []byte
		want string
	}{
		{"want", content.AppendWant(nil, content.Want{Digest: d, Offset: 0x0102030405060708, Length: 0x4000}),
			"01" + dig + "0102030405060708" + "00004000"},
		{"part", content.AppendPart(nil, content.Part{Digest: d, Size: 3, Offset: 0, Data: []byte("abc")}),
			"01" + dig + "0000000000000003" + "0000000000000000" + "00000003" + "616263"},
		{"manifest", content.Manifest{Revision: 9, Entries: []content.Entry{{Key: "a/b", Revision: 7, Digest: d, Size: 5}}}.Append(nil),
			"01" + "0000000000000009" + "00000001" + "0003" + "612f62" + "0000000000000007" + dig + "0000000000000005"},
		{"empty manifest", content.Manifest{}.Append(nil), "01" + "0000000000000000" + "00000000"},
	}
	for _, c := range cases {
		if got := hex.EncodeToString(c.got); got != c.want {
			t.Errorf("%s:\n got %s\nwant %s", c.name, got, c.want)
		}
	}
}

func drawDigest(t *rapid.T, label string) content.Digest {
	var d content.Digest
	copy(d[:], rapid.SliceOfN(rapid.Byte(), 32, 32).Draw(t, label))
	return d
}

func TestCodecRoundTrip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		w := content.Want{Digest: drawDigest(t, "d"), Offset: rapid.Uint64().Draw(t, "off"), Length: rapid.Uint32Range(0, content.PartMax).Draw(t, "len")}
		p := content.Part{Digest: drawDigest(t, "pd"), Size: rapid.Uint64Range(0, content.BlobMax).Draw(t, "size"), Offset: rapid.Uint64().Draw(t, "poff"),
			Data: rapid.SliceOfN(rapid.Byte(), 0, 300).Draw(t, "data")}
		tail := rapid.SliceOfN(rapid.Byte(), 0, 10).Draw(t, "tail")

		gw, rest, err := content.DecodeWant(content.AppendWant(slices.Clone(tail[:0]), w))
		if err != nil || gw != w || len(rest) != 0 {
			t.Fatalf("want %+v: got %+v rest %d %v", w, gw, len(rest), err)
		}
		_, rest, err = content.DecodeWant(append(content.AppendWant(nil, w), tail...))
		if err != nil || !bytes.Equal(rest, tail) {
			t.Fatalf("want rest %x, got %x %v", tail, rest, err)
		}
		gp, rest, err := content.DecodePart(append(content.AppendPart(nil, p), tail...))
		if err != nil || !bytes.Equal(rest, tail) || gp.Digest != p.Digest || gp.Size != p.Size || gp.Offset != p.Offset || !bytes.Equal(gp.Data, p.Data) {
			t.Fatalf("part %+v: got %+v rest %x %v", p, gp, rest, err)
		}

		keys := rapid.SliceOfNDistinct(rapid.StringN(0, 20, 40), 0, 20, rapid.ID[string]).Draw(t, "keys")
		var es []content.Entry
		for i, k := range keys {
			es = append(es, content.Entry{Key: k, Revision: uint64(i), Digest: digestOf(k), Size: uint64(len(k))})
		}
		m, err := content.NewManifest(rapid.Uint64().Draw(t, "rev"), es)
		if err != nil {
			t.Fatal(err)
		}
		gm, err := content.DecodeManifest(m.Append(nil))
		if err != nil || gm.Revision != m.Revision || !slices.Equal(gm.Entries, m.Entries) {
			t.Fatalf("manifest %+v: got %+v %v", m, gm, err)
		}
	})
}

func TestDecodeRefuses(t *testing.T) {
	d := digestOf("x")
	want := content.AppendWant(nil, content.Want{Digest: d, Offset: 1, Length: 2})
	part := content.AppendPart(nil, content.Part{Digest: d, Size: 3, Data: []byte("abc")})
	good, _ := content.NewManifest(1, []content.Entry{{Key: "a", Digest: d}, {Key: "b", Digest: d}})
	man := good.Append(nil)
	set := func(b []byte, at int, v ...byte) []byte { b = slices.Clone(b); copy(b[at:], v); return b }
	u32 := func(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }
	u64 := func(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }
	cases := []struct {
		name string
		err  error
		run  func() error
	}{
		{"want empty", content.ErrMalformed, func() error { _, _, err := content.DecodeWant(nil); return err }},
		{"want truncated", content.ErrMalformed, func() error { _, _, err := content.DecodeWant(want[:len(want)-1]); return err }},
		{"want version", content.ErrMalformed, func() error { _, _, err := content.DecodeWant(set(want, 0, 2)); return err }},
		{"want length over PartMax", content.ErrMalformed, func() error { _, _, err := content.DecodeWant(set(want, 41, u32(content.PartMax+1)...)); return err }},
		{"part truncated header", content.ErrMalformed, func() error { _, _, err := content.DecodePart(part[:20]); return err }},
		{"part truncated data", content.ErrMalformed, func() error { _, _, err := content.DecodePart(part[:len(part)-1]); return err }},
		{"part version", content.ErrMalformed, func() error { _, _, err := content.DecodePart(set(part, 0, 0)); return err }},
		{"part size over BlobMax", content.ErrTooLarge, func() error { _, _, err := content.DecodePart(set(part, 33, u64(content.BlobMax+1)...)); return err }},
		{"part data over PartDataMax", content.ErrTooLarge, func() error {
			_, _, err := content.DecodePart(set(part, 49, u32(content.PartDataMax+1)...))
			return err
		}},
		{"manifest empty", content.ErrMalformed, func() error { _, err := content.DecodeManifest(nil); return err }},
		{"manifest version", content.ErrMalformed, func() error { _, err := content.DecodeManifest(set(man, 0, 9)); return err }},
		{"manifest truncated", content.ErrMalformed, func() error { _, err := content.DecodeManifest(man[:len(man)-1]); return err }},
		{"manifest trailing", content.ErrMalformed, func() error { _, err := content.DecodeManifest(append(slices.Clone(man), 0)); return err }},
		{"manifest count over bytes", content.ErrMalformed, func() error { _, err := content.DecodeManifest(set(man, 9, u32(3)...)); return err }},
		{"manifest count huge", content.ErrMalformed, func() error { _, err := content.DecodeManifest(set(man, 9, u32(0xffffffff)...)); return err }},
		{"manifest duplicate key", content.ErrMalformed, func() error {
			_, err := content.DecodeManifest(content.Manifest{Entries: []content.Entry{{Key: "a"}, {Key: "a"}}}.Append(nil))
			return err
		}},
		{"manifest unsorted", content.ErrMalformed, func() error {
			_, err := content.DecodeManifest(content.Manifest{Entries: []content.Entry{{Key: "b"}, {Key: "a"}}}.Append(nil))
			return err
		}},
		{"manifest size over BlobMax", content.ErrTooLarge, func() error {
			_, err := content.DecodeManifest(content.Manifest{Entries: []content.Entry{{Key: "a", Size: content.BlobMax + 1}}}.Append(nil))
			return err
		}},
		{"manifest key length past end", content.ErrMalformed, func() error { _, err := content.DecodeManifest(set(man, 13, 0xff, 0xff)); return err }},
		{"NewManifest duplicate", content.ErrMalformed, func() error {
			_, err := content.NewManifest(0, []content.Entry{{Key: "a"}, {Key: "a"}})
			return err
		}},
		{"NewManifest key too long", content.ErrTooLarge, func() error {
			_, err := content.NewManifest(0, []content.Entry{{Key: strings.Repeat("k", content.KeyMax+1)}})
			return err
		}},
	}
	for _, c := range cases {
		if err := c.run(); !errors.Is(err, c.err) {
			t.Errorf("%s: got %v, want %v", c.name, err, c.err)
		}
	}
}

// A count the bytes cannot hold is refused before anything is allocated for
// it (issue 10).
func TestDecodeDoesNotTrustCounts(t *testing.T) {
	man := content.Manifest{}.Append(nil)
	binary.BigEndian.PutUint32(man[9:], 0xffffffff)
	man = append(man, make([]byte, 100)...)
	part := content.AppendPart(nil, content.Part{})
	binary.BigEndian.PutUint32(part[49:], content.PartDataMax)
	var errM, errP error
	testalloc.Check(t, 16<<10, func() {
		_, errM = content.DecodeManifest(man)
		_, _, errP = content.DecodePart(part)
	})
	if errM == nil || errP == nil {
		t.Fatalf("huge claims decoded: %v, %v", errM, errP)
	}
}

func fuzzSeeds(f *testing.F) {
	d := digestOf("seed")
	f.Add(content.AppendWant(nil, content.Want{Digest: d, Offset: 5, Length: 7}))
	st := content.NewStore()
	// A large blob's last part: a Bao slice of 5 bytes and its proof (a
	// part of 16 KiB makes the fuzzer crawl: go's mutator slows with size).
	ld, _ := st.Put(blob(1, content.PartMax+5))
	p, _ := st.Part(content.Want{Digest: ld, Offset: content.PartMax})
	f.Add(content.AppendPart(nil, p))
	f.Add(content.AppendPart(nil, content.Part{Digest: d, Size: 3, Data: []byte("abc")}))
	m, _ := content.NewManifest(4, []content.Entry{{Key: "a", Digest: d, Size: 1}, {Key: "b/c", Revision: 3, Digest: d}})
	f.Add(m.Append(nil))
	f.Add([]byte{})
	f.Add([]byte{1})
}

// typed fails unless err wraps one of the package's sentinels.
func typed(t *testing.T, err error) {
	if err != nil && !errors.Is(err, content.ErrMalformed) && !errors.Is(err, content.ErrTooLarge) && !errors.Is(err, content.ErrCorrupt) {
		t.Fatalf("untyped error: %v", err)
	}
}

func FuzzDecodeWant(f *testing.F) {
	fuzzSeeds(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		w, rest, err := content.DecodeWant(b)
		typed(t, err)
		if err == nil && !bytes.Equal(append(content.AppendWant(nil, w), rest...), b) {
			t.Fatalf("decoded %+v does not re-encode to its input", w)
		}
	})
}

func FuzzDecodePart(f *testing.F) {
	fuzzSeeds(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		var p content.Part
		var rest []byte
		var err error
		testalloc.Check(t, 4*content.PartDataMax, func() { p, rest, err = content.DecodePart(b) })
		typed(t, err)
		if err != nil {
			return
		}
		if !bytes.Equal(append(content.AppendPart(nil, p), rest...), b) {
			t.Fatalf("decoded %+v does not re-encode to its input", p)
		}
		// Verifying whatever decoded never panics and refuses with a typed error.
		_, err = p.Verify(content.Want{Digest: p.Digest, Offset: p.Offset})
		typed(t, err)
	})
}

func FuzzDecodeManifest(f *testing.F) {
	fuzzSeeds(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		var m content.Manifest
		var err error
		testalloc.Check(t, 16*uint64(len(b))+4096, func() { m, err = content.DecodeManifest(b) })
		typed(t, err)
		if err == nil && !bytes.Equal(m.Append(nil), b) {
			t.Fatalf("decoded %+v does not re-encode to its input", m)
		}
	})
}

// Diff against a map-based reference: the entries of m whose key old lacks
// or holds at another digest, in key order.
func TestDiff(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		draw := func(label string) content.Manifest {
			keys := rapid.SliceOfNDistinct(rapid.SampledFrom([]string{"a", "b", "c", "d", "e", "f", "g", "h"}), 0, 8, rapid.ID[string]).Draw(t, label+"keys")
			var es []content.Entry
			for _, k := range keys {
				es = append(es, content.Entry{Key: k, Digest: digestOf(rapid.SampledFrom([]string{"1", "2"}).Draw(t, label+k))})
			}
			m, err := content.NewManifest(0, es)
			if err != nil {
				t.Fatal(err)
			}
			return m
		}
		m, old := draw("new"), draw("old")
		ref := map[string]content.Digest{}
		for _, e := range old.Entries {
			ref[e.Key] = e.Digest
		}
		var want []content.Entry
		for _, e := range m.Entries {
			if d, ok := ref[e.Key]; !ok || d != e.Digest {
				want = append(want, e)
			}
		}
		if got := m.Diff(old); !reflect.DeepEqual(got, want) {
			t.Fatalf("Diff:\n got %v\nwant %v", got, want)
		}
		if len(m.Diff(m)) != 0 {
			t.Fatal("a manifest differs from itself")
		}
	})
}

func TestDiffExample(t *testing.T) {
	one, two := digestOf("1"), digestOf("2")
	old, _ := content.NewManifest(1, []content.Entry{{Key: "a", Digest: one}, {Key: "b", Digest: one}, {Key: "d", Digest: one}})
	m, _ := content.NewManifest(2, []content.Entry{{Key: "a", Digest: one}, {Key: "b", Digest: two}, {Key: "c", Digest: one}})
	got := fmt.Sprint(m.Diff(old))
	want := fmt.Sprint([]content.Entry{{Key: "b", Digest: two}, {Key: "c", Digest: one}})
	if got != want {
		t.Fatalf("got %s, want %s", got, want)
	}
}

package sim

import (
	"bytes"
	"encoding/hex"
	"strconv"
	"strings"
	"testing"
	"time"

	"lukechampine.com/blake3"
	"pgregory.net/rapid"
)

// TestAppendQuoteIsStrconvs: the fast path quotes exactly as strconv does.
func TestAppendQuoteIsStrconvs(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		s := rapid.OneOf(rapid.String(), rapid.StringMatching(`[ -~]*`), rapid.Map(rapid.SliceOf(rapid.Byte()), func(b []byte) string { return string(b) })).Draw(t, "s")
		if got, want := appendQuote([]byte("x"), s), strconv.AppendQuote([]byte("x"), s); !bytes.Equal(got, want) {
			t.Fatalf("appendQuote(%q) = %s, want %s", s, got, want)
		}
	})
}

// TestFingerprintIsTheHashOfTheTrace: however the lines are batched, the
// fingerprint is BLAKE3 of the trace written.
func TestFingerprintIsTheHashOfTheTrace(t *testing.T) {
	for _, lines := range []int{0, 1, 100, 5000} {
		var w bytes.Buffer
		tr := newTracer(&w)
		for i := range lines {
			tr.event(time.Duration(i)*time.Millisecond, "n"+strconv.Itoa(i%7), "recv", "n2 gossip ping s"+strconv.Itoa(i)+"\té")
		}
		sum := blake3.Sum256(w.Bytes())
		if got := tr.fingerprint(); got != hex.EncodeToString(sum[:]) {
			t.Errorf("%d lines: fingerprint %s, hash of the trace %x", lines, got, sum)
		}
		if again := tr.fingerprint(); again != hex.EncodeToString(sum[:]) {
			t.Errorf("%d lines: a second fingerprint %s", lines, again)
		}
	}
}

// TestLineIsEvent: a line whose detail is built in the tracer's buffer is
// the line event writes for the same detail as a string, empty or needing
// escapes, across hash batches.
func TestLineIsEvent(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		var a, b bytes.Buffer
		ta, tb := newTracer(&a), newTracer(&b)
		for range rapid.IntRange(1, 20).Draw(t, "lines") {
			at := time.Duration(rapid.Int64Range(0, 1<<40).Draw(t, "at"))
			d := rapid.OneOf(rapid.String(), rapid.StringMatching(`[ -~]*`), rapid.Just("")).Draw(t, "detail")
			long := strings.Repeat("x", rapid.IntRange(0, hashBatchBytes).Draw(t, "long"))
			ta.event(at, "n1", "recv", long+d)
			tb.endLine(append(append(tb.line(at, "n1", "recv"), long...), d...))
		}
		if a.String() != b.String() || ta.fingerprint() != tb.fingerprint() {
			t.Fatalf("event wrote\n%s\nline wrote\n%s", a.String(), b.String())
		}
	})
}

// TestPlainIsBytewise: plain, eight bytes at a time, answers as plainByte
// over every byte: each byte value at each place of a word and of the tail,
// among plain bytes, and random slices.
func TestPlainIsBytewise(t *testing.T) {
	bytewise := func(d []byte) bool {
		for _, c := range d {
			if !plainByte(c) {
				return false
			}
		}
		return true
	}
	for n := range 20 {
		for at := range n {
			for c := range 256 {
				d := bytes.Repeat([]byte{'a'}, n)
				d[at] = byte(c)
				if got, want := plain(d), bytewise(d); got != want {
					t.Fatalf("plain(%q) = %t, want %t", d, got, want)
				}
			}
		}
	}
	rapid.Check(t, func(t *rapid.T) {
		d := rapid.OneOf(rapid.SliceOf(rapid.Byte()), rapid.SliceOf(rapid.ByteRange(0x1e, 0x80))).Draw(t, "d")
		if got, want := plain(d), bytewise(d); got != want {
			t.Fatalf("plain(%q) = %t, want %t", d, got, want)
		}
	})
}

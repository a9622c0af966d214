package sim

import (
	"encoding/binary"
	"encoding/hex"
	"io"
	"strconv"
	"time"

	"lukechampine.com/blake3"
)

// tracer writes the run's trace as JSON Lines and folds every line into a
// rolling BLAKE3 hash, the run's fingerprint. A line is
//
//	{"t":<simulated microseconds>,"n":"<node>","ev":"<event>","d":"<detail>"}
//
// with fields in that fixed order, so the same run gives the same bytes.
// Lines are hashed in batches of about hashBatchBytes: the hash of the
// concatenation, whatever the batches, but BLAKE3 hashes many chunks at a
// time (SIMD) only when written many at once.
type tracer struct {
	h        *blake3.Hasher
	w        io.Writer // nil: fingerprint only
	buf      []byte    // lines not yet hashed; the last one also not yet written
	start    int       // where the line line began starts in buf
	detailAt int       // where its detail starts in buf
	err      error     // first write error; the trace stops, the fingerprint goes on
}

// hashBatchBytes is how many bytes of lines the tracer holds before hashing
// them; hashSlackBytes more capacity spares lukechampine.com/blake3 a copy
// of a batch's tail (it wants 16 chunks of room behind each subtree it
// hashes).
const (
	hashBatchBytes = 64 << 10
	hashSlackBytes = 32 << 10
)

func newTracer(w io.Writer) *tracer {
	return &tracer{h: blake3.New(32, nil), w: w, buf: make([]byte, 0, hashBatchBytes+hashSlackBytes)}
}

func (t *tracer) event(at time.Duration, node, ev, detail string) {
	b, start := t.begin(at, node, ev)
	if detail != "" {
		b = append(b, `,"d":`...)
		b = appendQuote(b, detail)
	}
	t.end(b, start)
}

// line begins a line whose detail the caller appends to the buffer it
// returns, then hands to endLine: the hot lines (a message received, an
// entry applied) are built in place rather than made into a string, by fmt
// or concatenation, for one line. No other line may begin in between.
func (t *tracer) line(at time.Duration, node, ev string) []byte {
	b, start := t.begin(at, node, ev)
	t.start = start
	b = append(b, detailOpen...)
	t.detailAt = len(b)
	return b
}

// detailOpen begins a detail; line leaves its closing quote to endLine.
const detailOpen = `,"d":"`

// endLine finishes the line line began, with the detail appended to b, as
// event writes it: no detail field when the detail is empty, and the detail
// quoted.
func (t *tracer) endLine(b []byte) {
	d := b[t.detailAt:]
	switch {
	case len(d) == 0:
		b = b[:t.detailAt-len(detailOpen)]
	case plain(d):
		b = append(b, '"')
	default:
		b = strconv.AppendQuote(b[:t.detailAt-1], string(d)) // string(d) copies d before b is written over
	}
	t.end(b, t.start)
}

// begin starts a line, after hashing the batch if it is full; it returns
// the buffer and where the line starts in it.
func (t *tracer) begin(at time.Duration, node, ev string) ([]byte, int) {
	if len(t.buf) >= hashBatchBytes {
		t.h.Write(t.buf)
		t.buf = t.buf[:0]
	}
	b := t.buf
	start := len(b)
	b = append(b, `{"t":`...)
	b = strconv.AppendInt(b, at.Microseconds(), 10)
	b = append(b, `,"n":`...)
	b = appendQuote(b, node)
	b = append(b, `,"ev":`...)
	return appendQuote(b, ev), start
}

// end finishes the line begun at start and writes it.
func (t *tracer) end(b []byte, start int) {
	b = append(b, "}\n"...)
	t.buf = b
	if t.w != nil && t.err == nil {
		_, t.err = t.w.Write(b[start:])
	}
}

// appendQuote is strconv.AppendQuote, without its rune decoding for the
// strings that need no escape (plain).
func appendQuote(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if !plainByte(s[i]) {
			return strconv.AppendQuote(b, s)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// plainByte reports whether strconv.AppendQuote writes c as it is: printable
// ASCII but '"' and '\'.
func plainByte(c byte) bool { return c >= 0x20 && c <= 0x7e && c != '"' && c != '\\' }

// plain reports whether every byte of d is plainByte, eight at a time: a
// word has a byte that is not when one is below 0x20, at or above 0x7f, or
// equals '"' or '\' (the bit tricks of "Bit Twiddling Hacks": each answers
// exactly whether some byte of the word does).
func plain(d []byte) bool {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	zero := func(w uint64) uint64 { return (w - ones) & ^w & highs } // some byte of w is 0
	for len(d) >= 8 {
		w := binary.LittleEndian.Uint64(d)
		if (w-ones*0x20)&^w&highs|w&highs|zero(w^ones*0x7f)|zero(w^ones*'"')|zero(w^ones*'\\') != 0 {
			return false
		}
		d = d[8:]
	}
	for _, c := range d {
		if !plainByte(c) {
			return false
		}
	}
	return true
}

func (t *tracer) fingerprint() string {
	t.h.Write(t.buf)
	t.buf = t.buf[:0]
	return hex.EncodeToString(t.h.Sum(nil))
}

package sim

import (
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
	h       *blake3.Hasher
	w       io.Writer // nil: fingerprint only
	buf     []byte    // lines not yet hashed; the last one also not yet written
	scratch []byte    // the array detail lends, kept from line to line
	err     error     // first write error; the trace stops, the fingerprint goes on
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

// detail returns an empty buffer to build a line's detail in, for
// eventBytes: the hot lines (a message received, an entry applied) are
// built there rather than made into a string, by fmt or concatenation, for
// one line.
func (t *tracer) detail() []byte { return t.scratch[:0] }

// eventBytes is event with the detail in bytes, built in detail's buffer.
func (t *tracer) eventBytes(at time.Duration, node, ev string, detail []byte) {
	t.scratch = detail[:0]
	b, start := t.begin(at, node, ev)
	if len(detail) > 0 {
		b = append(b, `,"d":`...)
		b = appendQuote(b, detail)
	}
	t.end(b, start)
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
// strings that need no escape: printable ASCII without '"' or '\'.
func appendQuote[S string | []byte](b []byte, s S) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
			return strconv.AppendQuote(b, string(s))
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

func (t *tracer) fingerprint() string {
	t.h.Write(t.buf)
	t.buf = t.buf[:0]
	return hex.EncodeToString(t.h.Sum(nil))
}

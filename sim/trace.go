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
	h   *blake3.Hasher
	w   io.Writer // nil: fingerprint only
	buf []byte    // lines not yet hashed; the last one also not yet written
	err error     // first write error; the trace stops, the fingerprint goes on
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
	b = appendQuote(b, ev)
	if detail != "" {
		b = append(b, `,"d":`...)
		b = appendQuote(b, detail)
	}
	b = append(b, "}\n"...)
	t.buf = b
	if t.w != nil && t.err == nil {
		_, t.err = t.w.Write(b[start:])
	}
}

// appendQuote is strconv.AppendQuote, without its rune decoding for the
// strings that need no escape: printable ASCII without '"' or '\'.
func appendQuote(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
			return strconv.AppendQuote(b, s)
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

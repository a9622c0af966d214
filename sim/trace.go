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
type tracer struct {
	h   *blake3.Hasher
	w   io.Writer // nil: fingerprint only
	buf []byte
	err error // first write error; the trace stops, the fingerprint goes on
}

func newTracer(w io.Writer) *tracer { return &tracer{h: blake3.New(32, nil), w: w} }

func (t *tracer) event(at time.Duration, node, ev, detail string) {
	b := t.buf[:0]
	b = append(b, `{"t":`...)
	b = strconv.AppendInt(b, at.Microseconds(), 10)
	b = append(b, `,"n":`...)
	b = strconv.AppendQuote(b, node)
	b = append(b, `,"ev":`...)
	b = strconv.AppendQuote(b, ev)
	if detail != "" {
		b = append(b, `,"d":`...)
		b = strconv.AppendQuote(b, detail)
	}
	b = append(b, "}\n"...)
	t.buf = b
	t.h.Write(b)
	if t.w != nil && t.err == nil {
		_, t.err = t.w.Write(b)
	}
}

func (t *tracer) fingerprint() string { return hex.EncodeToString(t.h.Sum(nil)) }

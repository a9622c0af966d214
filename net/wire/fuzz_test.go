package wire_test

import (
	"bytes"
	"errors"
	"io"
	"slices"
	"testing"

	"revoada.dev/revoada/core/node"
	"revoada.dev/revoada/internal/testalloc"
	"revoada.dev/revoada/net/wire"
)

// seedMessages are one real message of each kind the mesh sent (the
// largest of its kind, so the seeds carry entries, states and items), and
// the heartbeat.
func seedMessages(tb testing.TB) []node.Message {
	byKind := map[string]node.Message{}
	for _, m := range realMessages(tb) {
		k := kindOf(m)
		if prev, ok := byKind[k]; !ok || len(wire.AppendMessage(nil, m)) > len(wire.AppendMessage(nil, prev)) {
			byKind[k] = m
		}
	}
	seeds := []node.Message{heartbeat()}
	for _, k := range slices.Sorted(func(yield func(string) bool) {
		for k := range byKind {
			if !yield(k) {
				return
			}
		}
	}) {
		seeds = append(seeds, byKind[k])
	}
	return seeds
}

func FuzzDecodeMessage(f *testing.F) {
	for _, m := range seedMessages(f) {
		f.Add(wire.AppendMessage(nil, m))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		testalloc.Check(t, testalloc.FuzzMax, func() { checkDecoded(t, b) })
	})
}

func FuzzReadFrame(f *testing.F) {
	for _, m := range seedMessages(f) {
		b, err := wire.AppendMsgFrame(nil, m)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, wire.FrameBytesMax)
	}
	hello, _ := wire.AppendFrame(nil, wire.FrameHello, wire.AppendHello(nil, wire.Hello{}))
	ping, _ := wire.AppendFrame(nil, wire.FramePing, nil)
	end, _ := wire.AppendFrame(nil, wire.FrameSnapEnd, wire.AppendSnapEnd(nil, 3))
	chunk, _ := wire.AppendFrame(nil, wire.FrameSnapChunk, []byte("abc"))
	f.Add(slices.Concat(hello, ping, chunk, end), wire.HelloBytes)
	f.Fuzz(func(t *testing.T, b []byte, max int) {
		testalloc.Check(t, testalloc.FuzzMax, func() {
			r := bytes.NewReader(b)
			rest := b
			for {
				fr, err := wire.ReadFrame(r, max)
				fb, next, berr := wire.DecodeFrame(rest, max)
				if err == io.EOF {
					if len(rest) != 0 {
						t.Fatalf("ReadFrame ended with %d bytes left", len(rest))
					}
					return
				}
				if (err == nil) != (berr == nil) || err != nil && !sameClass(err, berr) {
					t.Fatalf("ReadFrame: %v; DecodeFrame: %v", err, berr)
				}
				if err != nil {
					return
				}
				if fr.Kind != fb.Kind || !bytes.Equal(fr.Payload, fb.Payload) {
					t.Fatalf("ReadFrame and DecodeFrame disagree")
				}
				again, aerr := wire.AppendFrame(nil, fr.Kind, fr.Payload)
				if aerr != nil || !bytes.Equal(again, rest[:len(rest)-len(next)]) {
					t.Fatalf("a frame re-encodes differently: %v", aerr)
				}
				if fr.Kind == wire.FrameMsg {
					checkDecoded(t, fr.Payload)
				}
				rest = next
			}
		})
	})
}

// sameClass reports whether two errors are of the same class.
func sameClass(a, b error) bool {
	for _, class := range []error{wire.ErrMagic, wire.ErrVersion, wire.ErrKind, wire.ErrOversized, wire.ErrTruncated, wire.ErrChecksum, wire.ErrField} {
		if errors.Is(a, class) != errors.Is(b, class) {
			return false
		}
	}
	return true
}

package store_test

import (
	"encoding/binary"
	"errors"
	"testing"

	"revoada.dev/revoada/core/store"
	"revoada.dev/revoada/internal/testalloc"
)

// claim puts a big-endian u32 of 0xffffffff over b[at:at+4]: a length or
// count claiming 4 GiB.
func claim(b []byte, at int) []byte {
	out := append([]byte(nil), b...)
	binary.BigEndian.PutUint32(out[at:], 0xffffffff)
	return out
}

// Crafted inputs: a small envelope, command or snapshot whose length or
// count field claims 4 GiB (issue 10). Each seeds its fuzz target.
func hugeEnvelopes() [][]byte {
	env := store.AppendResource(nil, res(cm("ns", "a"), `{"a":1}`))
	payloadLen := len(env) - len(`{"a":1}`) - 4
	return [][]byte{
		claim(env, payloadLen)[:payloadLen+4+7],
		append([]byte{1, 0xff, 0xff}, make([]byte, 64)...), // a kind of 65535 bytes
	}
}

func hugeCommands() [][]byte {
	restore := store.AppendCommand(nil, store.Command{Op: store.OpRestore, Snapshot: store.New().Snapshot()})
	return [][]byte{claim(restore, 11), claim(restore, 11)[:15]}
}

func hugeSnapshots(t testing.TB) [][]byte {
	s := store.New()
	mustApply(t, s, res(cm("ns", "a"), `{"a":1}`), store.Expect{})
	snap := s.Snapshot()
	const resourceCount = 4 + 1 + 8
	env := store.AppendResource(nil, res(cm("ns", "a"), `{"a":1}`))
	payloadLen := resourceCount + 4 + len(env) - len(`{"a":1}`) - 4
	eventCount := resourceCount + 4 + len(env)
	return [][]byte{
		store.Reseal(claim(snap, resourceCount)),
		store.Reseal(claim(snap, payloadLen)),
		store.Reseal(claim(snap, eventCount)),
	}
}

// Issue 10: every store decoder refuses a length or count it cannot hold,
// with a typed error, allocating next to nothing.
func TestDecodersDoNotTrustLengths(t *testing.T) {
	check := func(what string, in []byte, decode func([]byte) error) {
		t.Helper()
		var err error
		testalloc.Check(t, 64<<10, func() { err = decode(in) })
		if !errors.Is(err, store.ErrInvalid) {
			t.Errorf("%s of %d bytes: %v, want ErrInvalid", what, len(in), err)
		}
	}
	for _, in := range hugeEnvelopes() {
		check("envelope", in, func(b []byte) error { _, _, err := store.DecodeResource(b); return err })
	}
	for _, in := range hugeCommands() {
		check("command", in, func(b []byte) error { _, _, err := store.DecodeCommand(b); return err })
	}
	for _, in := range hugeSnapshots(t) {
		check("snapshot", in, func(b []byte) error { _, err := store.Restore(b); return err })
	}
}

// A restore command's snapshot length is checked against SnapshotBytesMax
// before the bytes present.
func TestRestoreCommandNamesItsLimit(t *testing.T) {
	_, _, err := store.DecodeCommand(hugeCommands()[0])
	var inv *store.InvalidError
	if !errors.As(err, &inv) || inv.Reason != "snapshot: 4294967295 bytes, limit 268435456" {
		t.Fatalf("got %v, want the SnapshotBytesMax refusal", err)
	}
}

package store

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"testing"
)

// TestSnapshotHistoryCache checks AppendSnapshot, which copies the events it
// encoded for an earlier snapshot (or Restore read), against encoding every
// event afresh, through writes, deletes, compactions, restores and the
// history's HistoryMax trim.
func TestSnapshotHistoryCache(t *testing.T) {
	s := New()
	for i := range 3*HistoryMax + 500 {
		ref := Ref{Kind: "ConfigMap", Namespace: "default", Name: fmt.Sprintf("cm-%d", i%37)}
		if i%5 == 4 {
			_, _, _ = s.Delete(ref, Expect{})
		} else if _, _, err := s.Apply(Resource{Ref: ref, Face: "pureraft", Format: Native, Payload: []byte(fmt.Sprintf("n=%d", i))}, Expect{}); err != nil {
			t.Fatal(err)
		}
		if i%1499 == 1000 {
			s.Compact(s.Revision() - Revision(i%300))
		}
		if i%4001 == 4000 { // a restored store starts with the history's encoding
			r, err := Restore(s.Snapshot())
			if err != nil {
				t.Fatal(err)
			}
			s = r
		}
		if i%211 == 0 || i%1499 == 1000 || i%4001 == 4000 {
			if got, want := s.Snapshot(), uncachedSnapshot(s); !bytes.Equal(got, want) {
				t.Fatalf("write %d: the snapshot differs from a fresh encoding (%d bytes, want %d)", i, len(got), len(want))
			}
		}
	}
}

// uncachedSnapshot is AppendSnapshot without the history cache.
func uncachedSnapshot(s *Store) []byte {
	rs, _ := s.List("", "")
	b := append([]byte(snapshotMagic), snapshotVersion)
	b = binary.BigEndian.AppendUint64(b, uint64(s.rev))
	b = binary.BigEndian.AppendUint32(b, uint32(len(rs)))
	for _, r := range rs {
		b = AppendResource(b, r)
	}
	b = binary.BigEndian.AppendUint32(b, uint32(len(s.history)))
	for _, ev := range s.history {
		b = AppendResource(append(b, byte(ev.Type)), ev.Resource)
	}
	return binary.BigEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

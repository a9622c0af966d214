package disk

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"

	bolt "go.etcd.io/bbolt"

	"revoada.dev/revoada/core/store"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// resourceKey is a resource's key in bucket resources: namespace, name and
// kind, NUL-separated, which sorts bytewise in store.Compare order.
func resourceKey(ref store.Ref) []byte {
	k := make([]byte, 0, len(ref.Namespace)+len(ref.Name)+len(ref.Kind)+2)
	k = append(k, ref.Namespace...)
	k = append(k, 0)
	k = append(k, ref.Name...)
	k = append(k, 0)
	return append(k, ref.Kind...)
}

// historyValue is an event's value in bucket history.
func historyValue(ev store.Event) []byte {
	return store.AppendResource([]byte{byte(ev.Type)}, ev.Resource)
}

// putEvent records one write: the resource's new state (or its absence),
// its event, the revision, and drops the history the store compacted from
// first to next.
func putEvent(tx *bolt.Tx, ev store.Event, first, next store.Revision) error {
	res := tx.Bucket(bucketResources)
	var err error
	if ev.Type == store.Deleted {
		err = res.Delete(resourceKey(ev.Resource.Ref))
	} else {
		err = res.Put(resourceKey(ev.Resource.Ref), store.AppendResource(nil, ev.Resource))
	}
	if err != nil {
		return err
	}
	if err := tx.Bucket(bucketHistory).Put(u64(uint64(ev.Revision)), historyValue(ev)); err != nil {
		return err
	}
	if err := tx.Bucket(bucketMeta).Put([]byte(keyRevision), u64(uint64(ev.Revision))); err != nil {
		return err
	}
	return dropHistory(tx, first, next)
}

// dropHistory deletes the events from revision first up to next, exclusive.
func dropHistory(tx *bolt.Tx, first, next store.Revision) error {
	h := tx.Bucket(bucketHistory)
	for rev := first; rev < next; rev++ {
		if err := h.Delete(u64(uint64(rev))); err != nil {
			return err
		}
	}
	return nil
}

// putStore replaces the file's content by st's.
func putStore(tx *bolt.Tx, st *store.Store) error {
	for _, name := range [][]byte{bucketResources, bucketHistory} {
		if err := tx.DeleteBucket(name); err != nil {
			return err
		}
	}
	if err := createBuckets(tx, string(bucketResources), string(bucketHistory)); err != nil {
		return err
	}
	items, rev := st.List("", "")
	res := tx.Bucket(bucketResources)
	for _, r := range items {
		if err := res.Put(resourceKey(r.Ref), store.AppendResource(nil, r)); err != nil {
			return err
		}
	}
	events, err := st.Events(st.Compacted(), "")
	if err != nil {
		return err
	}
	h := tx.Bucket(bucketHistory)
	for _, ev := range events {
		if err := h.Put(u64(uint64(ev.Revision)), historyValue(ev)); err != nil {
			return err
		}
	}
	return tx.Bucket(bucketMeta).Put([]byte(keyRevision), u64(uint64(rev)))
}

// loadStore decodes the file into a Store. It assembles the file's content
// as a core/store snapshot (the encoding in core/store's package doc:
// resources in Compare order, then the contiguous history ending at the
// revision) and lets store.Restore check it: every envelope, the order, and
// that the history agrees with the state.
func loadStore(tx *bolt.Tx) (*store.Store, error) {
	rev, err := getU64(tx.Bucket(bucketMeta), keyRevision)
	if err != nil {
		return nil, err
	}
	resources, n, err := loadResources(tx.Bucket(bucketResources))
	if err != nil {
		return nil, err
	}
	history, m, err := loadHistory(tx.Bucket(bucketHistory), store.Revision(rev))
	if err != nil {
		return nil, err
	}
	snap := append([]byte("rvst"), 1)
	snap = binary.BigEndian.AppendUint64(snap, rev)
	snap = binary.BigEndian.AppendUint32(snap, uint32(n))
	snap = append(snap, resources...)
	snap = binary.BigEndian.AppendUint32(snap, uint32(m))
	snap = append(snap, history...)
	snap = binary.BigEndian.AppendUint32(snap, crc32.Checksum(snap, castagnoli))
	return store.Restore(snap)
}

// loadResources returns the envelopes of bucket resources, concatenated in
// key order, and their count, checking each against its key.
func loadResources(b *bolt.Bucket) ([]byte, int, error) {
	var out []byte
	n := 0
	err := b.ForEach(func(k, v []byte) error {
		r, rest, err := store.DecodeResource(v)
		switch {
		case err != nil:
			return fmt.Errorf("resource %q: %w", k, err)
		case len(rest) != 0 || !bytes.Equal(k, resourceKey(r.Ref)):
			return fmt.Errorf("resource %q: value holds %s and %d more bytes", k, r.Ref, len(rest))
		}
		out = append(out, v...)
		n++
		return nil
	})
	return out, n, err
}

// loadHistory returns the events of bucket history concatenated, and their
// count, checking that their revisions are contiguous and end at rev.
func loadHistory(b *bolt.Bucket, rev store.Revision) ([]byte, int, error) {
	var out []byte
	n := 0
	var prev store.Revision
	err := b.ForEach(func(k, v []byte) error {
		if len(k) != 8 {
			return fmt.Errorf("history key %x: %d bytes, want 8", k, len(k))
		}
		at := store.Revision(binary.BigEndian.Uint64(k))
		if prev != 0 && at != prev+1 {
			return fmt.Errorf("history jumps from revision %d to %d", prev, at)
		}
		prev = at
		out = append(out, v...)
		n++
		return nil
	})
	if err == nil && n > 0 && prev != rev {
		err = fmt.Errorf("history ends at revision %d, the store is at %d", prev, rev)
	}
	return out, n, err
}

package disk

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"revoada.dev/revoada/core/node"
)

// Storage is a production node's Raft state on bbolt: a node.Storage with
// the semantics of the simulator's disk (sim/disk.go). Save encodes a
// Persist and queues it in memory; Sync commits every queued Persist, in
// order, in one fsync'd bbolt transaction; Load reads the file, which is
// exactly what the last successful Sync made durable. What was saved but not
// synced is lost by a crash, as on the simulated disk.
//
// Applying a Persist, in field order (node.Persist):
//   - Snapshot, received from the leader, replaces the whole log: the
//     stored snapshot is replaced and every stored entry dropped;
//   - Entries: an entry at index i replaces the stored entries from i on;
//   - HardState replaces the stored one;
//   - Compact, a newer local snapshot, replaces the stored snapshot and
//     drops the entries up to its index; one no newer than the stored
//     snapshot is ignored.
//
// A Save that makes the queue hold SavesPendingMax Persists or
// PendingBytesMax bytes syncs at once: syncing early is never wrong, and
// the queue stays bounded for a driver that rarely must sync.
//
// After a failed Sync the file still holds the previous Sync's state and
// the queue is dropped; the node has moved on from state that is not
// durable, so its driver must stop it (a failed fsync cannot safely be
// retried).
//
// Storage is safe for concurrent use; a node's driver calls it from one
// goroutine.
type Storage struct {
	path string
	db   *bolt.DB

	mu           sync.Mutex // guards pending, pendingBytes, closed and synced
	pending      []save
	pendingBytes int
	closed       bool
	synced       func(time.Duration) // ObserveSyncs's; nil for none
}

var _ node.Storage = (*Storage)(nil)

// Limits of the unsynced queue.
const (
	SavesPendingMax = 1024
	PendingBytesMax = 64 << 20
)

const storageLayout = "revoada-raft/1"

var (
	bucketRaft     = []byte("raft")
	bucketSnapshot = []byte("snapshot")
	bucketEntries  = []byte("entries")
	keyIndex       = "index"
	keyHardState   = "hardstate"
	keySnapshot    = "snapshot"
	keyIncarnation = "incarnation"
)

// save is one Persist, encoded at Save so that later changes to the
// caller's messages cannot reach the file.
type save struct {
	snapshot      []byte
	snapshotIndex uint64
	entries       [][]byte
	first         uint64 // index of entries[0]
	hardState     []byte
	compact       []byte
	compactIndex  uint64
}

func (s save) size() int {
	n := len(s.snapshot) + len(s.hardState) + len(s.compact)
	for _, e := range s.entries {
		n += len(e)
	}
	return n
}

// OpenStorage opens the Raft state file at path, creating it if absent; the
// directory must exist. Errors: as OpenBackend's.
func OpenStorage(path string) (*Storage, error) {
	db, err := open(path, string(bucketRaft), storageLayout, func(tx *bolt.Tx) error {
		return createBuckets(tx, string(bucketSnapshot), string(bucketEntries))
	})
	if err != nil {
		return nil, err
	}
	s := &Storage{path: path, db: db}
	if _, err := s.Load(); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

// Path is the file's path.
func (s *Storage) Path() string { return s.path }

// Save queues p; see Storage.
func (s *Storage) Save(p node.Persist) error {
	if p.Empty() {
		return nil
	}
	sv, err := encodeSave(p)
	if err != nil {
		return fmt.Errorf("disk: %s: save: %w", s.path, err)
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return fmt.Errorf("%w: %s", ErrClosed, s.path)
	}
	s.pending = append(s.pending, sv)
	s.pendingBytes += sv.size()
	full := len(s.pending) >= SavesPendingMax || s.pendingBytes >= PendingBytesMax
	s.mu.Unlock()
	if full {
		return s.Sync()
	}
	return nil
}

func encodeSave(p node.Persist) (save, error) {
	var sv save
	var err error
	if p.Snapshot != nil {
		if sv.snapshot, err = proto.Marshal(p.Snapshot); err != nil {
			return sv, err
		}
		sv.snapshotIndex = p.Snapshot.GetMetadata().GetIndex()
	}
	for _, e := range p.Entries {
		b, err := proto.Marshal(e)
		if err != nil {
			return sv, err
		}
		sv.entries = append(sv.entries, b)
	}
	if len(p.Entries) > 0 {
		sv.first = p.Entries[0].GetIndex()
	}
	if p.HardState != nil {
		if sv.hardState, err = proto.Marshal(p.HardState); err != nil {
			return sv, err
		}
	}
	if p.Compact != nil {
		sv.compactIndex = p.Compact.GetMetadata().GetIndex()
		sv.compact, err = proto.Marshal(p.Compact)
	}
	return sv, err
}

// ObserveSyncs makes every successful Sync that wrote something call f
// with how long its bbolt transaction took: the commit, whose fsync makes
// the batch durable (etcd's wal_fsync and backend_commit durations in one,
// the raft log being this file). f is called with the Storage's lock held,
// on the goroutine that called Sync, and must not block; nil stops it.
func (s *Storage) ObserveSyncs(f func(time.Duration)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.synced = f
}

// Sync commits the queued Persists in one transaction; see Storage.
func (s *Storage) Sync() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return fmt.Errorf("%w: %s", ErrClosed, s.path)
	}
	if len(s.pending) == 0 {
		return nil
	}
	pending := s.pending
	s.pending, s.pendingBytes = nil, 0
	began := time.Now()
	err := s.db.Update(func(tx *bolt.Tx) error {
		for _, sv := range pending {
			if err := applySave(tx, sv); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("disk: %s: sync: %w", s.path, err)
	}
	if s.synced != nil {
		s.synced(time.Since(began))
	}
	return nil
}

// applySave applies one Persist to the file, in the order of its fields.
func applySave(tx *bolt.Tx, sv save) error {
	if sv.snapshot != nil {
		if err := putSnapshot(tx, sv.snapshot, sv.snapshotIndex); err != nil {
			return err
		}
		if err := dropFrom(tx.Bucket(bucketEntries), 0); err != nil {
			return err
		}
	}
	if len(sv.entries) > 0 {
		if err := putEntries(tx.Bucket(bucketEntries), sv.first, sv.entries); err != nil {
			return err
		}
	}
	if sv.hardState != nil {
		if err := tx.Bucket(bucketRaft).Put([]byte(keyHardState), sv.hardState); err != nil {
			return err
		}
	}
	if sv.compact != nil {
		return compact(tx, sv.compact, sv.compactIndex)
	}
	return nil
}

// putEntries drops the stored entries from index first on and stores ents.
func putEntries(b *bolt.Bucket, first uint64, ents [][]byte) error {
	if err := dropFrom(b, first); err != nil {
		return err
	}
	for i, e := range ents {
		if err := b.Put(u64(first+uint64(i)), e); err != nil {
			return err
		}
	}
	return nil
}

// compact installs a local snapshot at index and drops the entries it covers,
// unless the stored snapshot is as new.
func compact(tx *bolt.Tx, snap []byte, index uint64) error {
	b := tx.Bucket(bucketSnapshot)
	if b.Get([]byte(keySnapshot)) != nil {
		cur, err := getU64(b, keyIndex)
		if err != nil {
			return fmt.Errorf("stored snapshot: %w", err)
		}
		if cur >= index {
			return nil
		}
	}
	if err := putSnapshot(tx, snap, index); err != nil {
		return err
	}
	return dropUpTo(tx.Bucket(bucketEntries), index)
}

// putSnapshot stores a snapshot and its index. The snapshot has a bucket
// of its own, so that the frequent hard state writes do not rewrite its
// pages (bbolt rewrites every leaf a transaction touches).
func putSnapshot(tx *bolt.Tx, snap []byte, index uint64) error {
	b := tx.Bucket(bucketSnapshot)
	if err := b.Put([]byte(keyIndex), u64(index)); err != nil {
		return err
	}
	return b.Put([]byte(keySnapshot), snap)
}

// dropFrom deletes the entries at index first and after.
func dropFrom(b *bolt.Bucket, first uint64) error {
	var keys [][]byte
	c := b.Cursor()
	for k, _ := c.Seek(u64(first)); k != nil; k, _ = c.Next() {
		keys = append(keys, bytes.Clone(k))
	}
	return deleteKeys(b, keys)
}

// dropUpTo deletes the entries at index last and before.
func dropUpTo(b *bolt.Bucket, last uint64) error {
	var keys [][]byte
	end := u64(last)
	c := b.Cursor()
	for k, _ := c.First(); k != nil && bytes.Compare(k, end) <= 0; k, _ = c.Next() {
		keys = append(keys, bytes.Clone(k))
	}
	return deleteKeys(b, keys)
}

// deleteKeys deletes keys collected by a cursor (deleting while iterating
// would make the cursor skip keys).
func deleteKeys(b *bolt.Bucket, keys [][]byte) error {
	for _, k := range keys {
		if err := b.Delete(k); err != nil {
			return err
		}
	}
	return nil
}

// Load returns what the last Sync made durable. Errors: ErrCorrupt (naming
// the path) for bytes that do not decode or a log with a gap.
func (s *Storage) Load() (node.Durable, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return node.Durable{}, fmt.Errorf("%w: %s", ErrClosed, s.path)
	}
	var d node.Durable
	err := guard(s.path, func() error {
		return s.db.View(func(tx *bolt.Tx) error {
			var err error
			if d, err = loadDurable(tx); err != nil {
				return corrupt(s.path, err)
			}
			return nil
		})
	})
	return d, err
}

func loadDurable(tx *bolt.Tx) (node.Durable, error) {
	var d node.Durable
	raft := tx.Bucket(bucketRaft)
	if v := tx.Bucket(bucketSnapshot).Get([]byte(keySnapshot)); v != nil {
		d.Snapshot = &pb.Snapshot{}
		if err := proto.Unmarshal(v, d.Snapshot); err != nil {
			return d, fmt.Errorf("snapshot: %w", err)
		}
		if idx, err := getU64(tx.Bucket(bucketSnapshot), keyIndex); err != nil || idx != d.Snapshot.GetMetadata().GetIndex() {
			return d, fmt.Errorf("snapshot at index %d recorded at %d (%v)", d.Snapshot.GetMetadata().GetIndex(), idx, err)
		}
	}
	if v := raft.Get([]byte(keyHardState)); v != nil {
		d.HardState = &pb.HardState{}
		if err := proto.Unmarshal(v, d.HardState); err != nil {
			return d, fmt.Errorf("hard state: %w", err)
		}
	}
	next := d.Snapshot.GetMetadata().GetIndex() + 1 // the first index the log may start at
	err := tx.Bucket(bucketEntries).ForEach(func(k, v []byte) error {
		if len(k) != 8 {
			return fmt.Errorf("entry key %x: %d bytes, want 8", k, len(k))
		}
		e := &pb.Entry{}
		if err := proto.Unmarshal(v, e); err != nil {
			return fmt.Errorf("entry %x: %w", k, err)
		}
		at := binary.BigEndian.Uint64(k)
		if e.GetIndex() != at || (d.Entries == nil && at > next) || (d.Entries != nil && at != next) {
			return fmt.Errorf("entry %x holds index %d, the log continues at %d", k, e.GetIndex(), next)
		}
		d.Entries = append(d.Entries, e)
		next = at + 1
		return nil
	})
	return d, err
}

// NextIncarnation increments and returns the node's incarnation number, in
// its own fsync'd transaction: every start of a node gets a number no start
// before it had (node.Config.Incarnation). Unsynced Saves stay queued.
func (s *Storage) NextIncarnation() (uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return 0, fmt.Errorf("%w: %s", ErrClosed, s.path)
	}
	var inc uint64
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketRaft)
		last, err := getU64(b, keyIncarnation)
		if err != nil {
			return corrupt(s.path, err)
		}
		inc = last + 1
		return b.Put([]byte(keyIncarnation), u64(inc))
	})
	return inc, err
}

// Close drops what was not synced (as a crash would) and closes the file.
func (s *Storage) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed, s.pending = true, nil
	return s.db.Close()
}

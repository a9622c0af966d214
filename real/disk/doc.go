// Package disk is revoada's durable storage on bbolt (go.etcd.io/bbolt): a
// single-node resource store (Backend, a backend.Backend) and the Raft state
// of a production node (Storage, a node.Storage). Each lives in its own bbolt
// file; a file made by one is refused by the other.
//
// # Durability
//
// Every bbolt transaction that changes a file is committed with bbolt's
// defaults (NoSync false): the commit writes the dirty pages, fdatasyncs,
// writes the meta page and fdatasyncs again, so a write that returned is on
// stable storage and a crash at any point leaves the previous or the new
// state, never a mix (bbolt's copy-on-write B+tree, two meta pages with
// checksums). Backend commits one transaction per write before it
// acknowledges the write; Storage commits at Sync (see Storage).
//
// # Backend bucket layout
//
//	meta       "layout"    "revoada-backend/1"
//	           "revision"  u64 big-endian: the store's revision
//	resources  namespace 0x00 name 0x00 kind  -> store.AppendResource envelope
//	history    revision u64 big-endian        -> type:u8 envelope
//
// Resource keys sort bytewise in store.Compare order (no part may hold a NUL
// byte), so a scan of resources is already in snapshot order. The history is
// the store's retained event history: contiguous revisions ending at
// "revision", at most store.HistoryMax of them; a write that would make it
// longer deletes the oldest event in the same transaction, and Compact
// deletes the events below its revision.
//
// # Storage bucket layout
//
//	raft      "layout"       "revoada-raft/1"
//	          "hardstate"    raftpb.HardState (protobuf)
//	          "incarnation"  u64 big-endian: the last incarnation handed out
//	snapshot  "snapshot"     raftpb.Snapshot (protobuf)
//	          "index"        u64 big-endian: the snapshot's index
//	entries   index u64 big-endian -> raftpb.Entry (protobuf)
//
// The snapshot has a bucket of its own because bbolt rewrites every leaf a
// transaction touches: beside the hard state, each hard state write would
// copy the whole snapshot.
//
// # Corruption
//
// A file that is not a bbolt database, holds another layout, or holds bytes
// that do not decode, is refused at open with an error that names the path
// and wraps ErrCorrupt (and bbolt's or package store's own error). Opening
// never panics: a panic inside bbolt while reading a damaged file is
// recovered into the same error.
package disk

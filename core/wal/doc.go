// Package wal is a node's Raft state as a write-ahead log: a node.Storage
// over an append-only file, with a checksum on every record and a commit
// record at every Sync. It runs unchanged over the simulator's fault-injecting
// disk (sim/disk.go), which is what lets the simulator tear writes and
// corrupt blocks under a real persistence layer; the package itself never
// touches the operating system (Dir and File are the caller's).
//
// # Semantics
//
// Save appends one record holding the node.Persist and applies it to an
// in-memory image (node.MemStorage); Sync appends a commit record and syncs
// the file. On Open the log is replayed: what the last commit record covers
// is durable, exactly node.MemStorage's semantics (everything saved before
// a Sync survives a crash; nothing saved after the last Sync does).
//
// # Format
//
// A log file starts with a 12-byte header, the magic "RVWAL\x00\x00\x01"
// (format version 1 in its last byte) and the CRC-32C of those 8 bytes, and
// holds records:
//
//	length  u32 little-endian: bytes of the payload
//	kind    u8: 1 persist, 2 commit, 3 checkpoint
//	payload
//	crc     u32 little-endian: CRC-32C of the previous record's crc (the
//	        header's for the first), then length, kind and payload
//
// Chaining each checksum to the previous one makes a record valid only at
// its place: a stale or misplaced record does not verify. A persist payload
// is a node.Persist (appendPersist); a checkpoint payload is a node.Durable
// in the same encoding, and is only ever the first record of a file; a
// commit payload is the commit's sequence number (one more than the
// previous commit's in the file) and the record's own offset in the file,
// both u64 little-endian.
//
// # Torn writes and corruption
//
// A crash may leave the writes that were not synced partly on disk: a prefix
// of them, cut at the synced end or at a sector boundary (SectorBytes), with
// zeros or nothing after the cut. Open reads records until the first one
// that does not verify. That record is a torn tail, and the log is
// truncated at the end of the last commit record, if the record was cut
// (its header or its claimed end reaches past the last nonzero byte of the
// file, or past the end) and no commit record follows it. Anything else — a
// record that does not verify while a commit record follows, a complete
// record with a bad checksum, a bad header, a commit at the wrong offset, a
// payload that verifies but does not decode — is corruption: Open refuses
// the log with a *CorruptError naming the file, the offset and what is
// wrong, and never serves the state. A complete record's last byte is never
// zero (the checksum's top bit is set), so bit rot reads as torn only when
// it zeroes exactly the last byte of the file, and what a commit covers is
// followed by that commit.
//
// Records that verify but come after the last commit record were never
// synced; Open drops them with the torn tail (Recovery reports both).
//
// # Checkpoints
//
// A Sync that finds the file larger than CheckpointBytesMin and more than
// CheckpointGrowth times the last checkpoint writes the durable state as a
// checkpoint record into a new file (Next), syncs it, and renames it over
// the log: the Dir's Rename must be atomic and durable (a directory sync on
// a real file system). Open removes a Next left by a crash.
//
// # Failures
//
// A failed write or sync makes the Log refuse every later Save and Sync
// with the same error: what was not synced may or may not be on disk, so the
// node must stop and restart from Open (a failed fsync cannot be retried).
package wal

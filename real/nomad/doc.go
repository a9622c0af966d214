// Package nomad is a revoada store backend (backend.Backend) over a Nomad
// agent's HTTP API, with github.com/hashicorp/nomad/api: what revoada
// stores lives in Nomad's job table, and Nomad's raft indexes are the
// store's revisions.
//
// # Kinds
//
// A NomadJob (the Nomad face's kind, stored in the face's API form
// {"Job": {...}}) is a Nomad job: registered with PUT /v1/jobs in the
// Nomad namespace of its ref (created on first use), read back as Nomad
// holds it (its payload is the job Nomad stores, with the fields Nomad
// changes without a spec write removed: Status, StatusDescription, Stable,
// SubmitTime and the indexes; the revisions carry the indexes), and
// deleted by stopping it (a deregister without purge) and then purging it:
// Nomad v1.6.1's event stream shows a stop (a spec write: Stop, Version+1)
// but has no event at all for a purge. A stopped job is deleted to
// revoada: Get and List skip it, Apply purges it and registers afresh.
// Its ref's namespace may not be "" (the face says "default").
//
// Any other kind is opaque to Nomad, so it is kept in a carrier: a
// parameterized batch job (Nomad never schedules one until it is
// dispatched, and registering one creates no evaluation) named
// "revoada.<len(kind)>.<kind>.<name>" whose Meta holds the ref, face,
// format and payload (base64). Nomad Variables would hold such data too,
// with a check-and-set index of their own, but Nomad v1.6's event stream
// has no Variables topic, so they could not be watched; the job table can.
// A NomadJob's name may not start with "revoada." (carriers' prefix).
//
// # Revisions
//
//   - ModRevision is the job's JobModifyIndex (the raft index of its last
//     spec change; status changes do not count), CreateRevision its
//     CreateIndex, Version its Nomad Version + 1 (Nomad counts from 0, and
//     restarts after a purge, as the store does after a delete).
//   - Revisions are Nomad's raft indexes: increasing, with gaps (Nomad's own
//     writes: evaluations, namespaces, ...).
//   - Apply reads the job, checks store.Expect against it, and registers
//     with EnforceIndex at the JobModifyIndex it read (0: must not exist),
//     so the check and the write are one compare-and-swap in Nomad. Without
//     an Expect, a lost race is retried (applyAttemptsMax).
//   - Nomad does not write a job whose spec is unchanged (Job.Register
//     compares them): applying an identical NomadJob returns it at its
//     current revision, where the store contract writes a new one. A
//     carrier always changes (its Meta counts writes), so it is written.
//   - Delete reads, checks the Expect, stops the job and purges it; the
//     deleting revision is the stop's index. Nomad's deregister has no
//     check-index, so a write between the read and the stop is lost (a
//     race the store contract's compare-and-swap does not have). A failed
//     purge leaves a stopped job, deleted to revoada, that the next Apply
//     of the name or Nomad's garbage collector removes.
//
// # Watch
//
// Watch reads Nomad's event stream (GET /v1/event/stream, topic Job, every
// namespace), which Nomad serves from a bounded in-memory buffer
// (event_buffer_size, 100 events by default). Only spec writes count (the
// event's index is the job's JobModifyIndex; status changes are skipped):
// a JobRegistered event is an Added (Version 1) or Modified one, a
// JobDeregistered event of a stopped job a Deleted one, carrying the job
// as it was before the stop. Events come in index order. Nomad answers a
// stream request only with its first event or heartbeat (every 10 s), so
// the watch's goroutine opens the stream and Watch returns at once. From 0 the watch lists the jobs first (Added
// events in store.Compare order, then a Bookmark at the list's index) and
// streams from that index on. From r > 0 it streams from r, but only if
// Nomad's buffer provably still holds every Job event since r (its oldest
// buffered Job event is at or before r, or the job table has not changed
// since r); otherwise Watch answers store.ErrCompacted: re-list. The
// answer errs on the safe side: a watch may be refused that would have
// missed nothing, never served with a gap.
//
// # Not supported
//
// Restore answers store.ErrUnsupported for a valid snapshot (Nomad's own
// snapshot restore replaces the whole cluster state; revoada does not drive
// it), store.ErrInvalid for a bad one. Compaction is Nomad's garbage
// collector and event buffer, not revoada's: Backend is not a
// backend.Compactor. Snapshot is deterministic bytes: the resources in
// store.Compare order with their faces, formats, payloads and versions —
// not Nomad's indexes, which depend on the agent's other writes.
//
// A Backend that cannot reach its agent answers errors naming the address
// (New checks it first).
package nomad

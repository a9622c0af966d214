// Package metrics is one production node's Prometheus metrics: a registry
// per node (never the process's default one, so that several nodes in one
// process do not collide), filled from what real/host, real/tcp and
// real/disk count where things happen, and served as /metrics in the
// Prometheus text format on a listener of its own, in plain HTTP, as etcd's
// --listen-metrics-urls serves it.
//
// # Names
//
// Names follow etcd's (server/etcdserver/metrics.go, wal/metrics.go,
// rafthttp/metrics.go) with revoada_ for etcd_, base units, _total on
// counters and the peer as a label:
//
//	revoada_raft_has_leader                        gauge: 1 if the node knows a leader
//	revoada_raft_is_leader                         gauge: 1 if the node is the leader
//	revoada_raft_leader_changes_seen_total         counter: etcd's rule, a change to a leader (none to one included)
//	revoada_raft_proposals_committed_total         counter: the commit index last persisted
//	revoada_raft_proposals_applied_total           counter: the index last applied
//	revoada_raft_proposals_pending                 gauge: writes and role shifts whose callers wait
//	revoada_raft_proposals_failed_total            counter: those that ended without the log's answer
//	revoada_disk_fsync_duration_seconds            histogram: each bbolt commit of raft.db, its fsync included
//	revoada_network_peer_sent_bytes_total{peer}    counter: message frames written to the peer
//	revoada_network_peer_received_bytes_total{peer} counter: message frames read from it
//	revoada_network_peer_dropped_total{peer,reason} counter: messages to it the transport dropped
//	revoada_membership_members{health}             gauge: the node's gossip view by health
//	revoada_policy_audits_total{decision}          counter: the leader's audits, "propose" or the reason withheld
//	revoada_request_duration_seconds{verb}         histogram: apply, get, list, delete, watch as the node served them
//
// and the client library's go_* and process_* collectors. Where etcd
// differs from its own conventions, revoada keeps etcd's name and fixes
// the type: etcd's proposals_committed_total and proposals_applied_total
// are gauges set to an index (a _total gauge, which promtool's lint
// flags); here they are counters, as the index only grows while a node
// runs. proposals_pending is a gauge without _total, as etcd's. The fsync
// histogram has etcd's wal_fsync buckets (1 ms doubling, 14 of them) and
// stands for both of etcd's disk histograms: revoada's raft log is the
// bbolt file, so one commit is its WAL fsync and its backend commit.
// Peers are labelled by their full node ID (hex): a short prefix could be
// forged to collide. A peer label appears with the peer's first traffic,
// and a drop reason with its first drop, as etcd's counter vectors do.
//
// # Address
//
// Listen takes HOST:PORT. A loopback host (127.0.0.0/8, ::1, localhost)
// is taken as it is; any other must be an IP literal and is taken only
// when the caller says so (remote): the endpoint has no TLS and no
// authentication, and names the mesh's nodes, so exposing it is a choice
// made in so many words. An empty host (":9090", every interface) is
// refused either way: write 0.0.0.0 to mean it. A bad address is an
// *AddrError.
package metrics

package metrics

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"revoada.dev/revoada/core/membership"
	"revoada.dev/revoada/net/transport"
	"revoada.dev/revoada/real/host"
	"revoada.dev/revoada/real/tcp"
)

// Limits of the handler.
const (
	ScrapesInFlightMax = 4                // scrapes served at once; more are answered 503
	ScrapeTimeout      = 10 * time.Second // a scrape that takes longer is answered 503
)

// Metrics is one node's registry. Make it before the node (New), give it
// to host.Config.Observer, and once the node runs, Watch it.
type Metrics struct {
	reg      *prometheus.Registry
	fsync    prometheus.Histogram
	requests *prometheus.HistogramVec
}

var _ host.Observer = (*Metrics)(nil)

// New makes a registry holding the Go and process collectors and the
// histograms the node feeds as things happen.
func New() *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		fsync: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "revoada_disk_fsync_duration_seconds",
			Help: "The latency distribution of the commits of raft.db, each with its fsync.",
			// etcd's wal_fsync buckets: 1 ms doubling up to about 8 s.
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 14),
		}),
		requests: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "revoada_request_duration_seconds",
			Help: "The latency distribution of the client verbs the node served (for watch: its start).",
			// 0.1 ms doubling up to about 13 s: a local read to a write
			// that waits out an election.
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 18),
		}, []string{"verb"}),
	}
	for _, v := range host.Verbs {
		m.requests.WithLabelValues(string(v)) // every verb's series, at zero
	}
	m.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), m.fsync, m.requests)
	return m
}

// Synced observes a commit of raft.db (host.Observer).
func (m *Metrics) Synced(d time.Duration) { m.fsync.Observe(d.Seconds()) }

// Served observes a verb the node served (host.Observer).
func (m *Metrics) Served(verb host.Verb, d time.Duration) {
	m.requests.WithLabelValues(string(verb)).Observe(d.Seconds())
}

// Peers is what counts a node's traffic per peer: *tcp.Transport.
type Peers interface {
	PeerStats() []tcp.PeerStats
}

var _ Peers = (*tcp.Transport)(nil)

// Watch registers the figures of node h, and of its transport's peers
// (nil for none), read at every scrape. Call it once per Metrics.
func (m *Metrics) Watch(h *host.Node, peers Peers) error {
	return m.reg.Register(&nodeCollector{h: h, peers: peers})
}

// Gatherer is the registry, for a test or another handler.
func (m *Metrics) Gatherer() prometheus.Gatherer { return m.reg }

// Handler serves the registry in the Prometheus exposition formats, the
// text format by default.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{MaxRequestsInFlight: ScrapesInFlightMax, Timeout: ScrapeTimeout})
}

// The descriptions of what nodeCollector reads.
var (
	descHasLeader = prometheus.NewDesc("revoada_raft_has_leader",
		"Whether or not a leader exists. 1 is existence, 0 is not.", nil, nil)
	descIsLeader = prometheus.NewDesc("revoada_raft_is_leader",
		"Whether or not this member is a leader. 1 if is, 0 otherwise.", nil, nil)
	descLeaderChanges = prometheus.NewDesc("revoada_raft_leader_changes_seen_total",
		"The number of leader changes seen.", nil, nil)
	descCommitted = prometheus.NewDesc("revoada_raft_proposals_committed_total",
		"The total number of consensus proposals committed: the commit index last persisted.", nil, nil)
	descApplied = prometheus.NewDesc("revoada_raft_proposals_applied_total",
		"The total number of consensus proposals applied: the index last applied.", nil, nil)
	descPending = prometheus.NewDesc("revoada_raft_proposals_pending",
		"The current number of pending proposals to commit.", nil, nil)
	descFailed = prometheus.NewDesc("revoada_raft_proposals_failed_total",
		"The total number of failed proposals seen.", nil, nil)
	descMembers = prometheus.NewDesc("revoada_membership_members",
		"The members of the node's gossip view, by health.", []string{"health"}, nil)
	descAudits = prometheus.NewDesc("revoada_policy_audits_total",
		"The policy audits of the node as leader, by decision: propose, or the reason one was withheld.", []string{"decision"}, nil)
	descSent = prometheus.NewDesc("revoada_network_peer_sent_bytes_total",
		"The total number of bytes of message frames sent to peers.", []string{"peer"}, nil)
	descReceived = prometheus.NewDesc("revoada_network_peer_received_bytes_total",
		"The total number of bytes of message frames received from peers.", []string{"peer"}, nil)
	descDropped = prometheus.NewDesc("revoada_network_peer_dropped_total",
		"The total number of messages to peers the transport dropped, by reason.", []string{"peer", "reason"}, nil)
)

// one is 1 for true, 0 for false.
func one(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// nodeCollector reads a node's Stats and its transport's PeerStats at
// each scrape: atomic counters, so a scrape never waits for the node's
// loop (a node stuck on its disk still answers).
type nodeCollector struct {
	h     *host.Node
	peers Peers
}

func (c *nodeCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descHasLeader, descIsLeader, descLeaderChanges, descCommitted, descApplied, descPending, descFailed,
		descMembers, descAudits, descSent, descReceived, descDropped} {
		ch <- d
	}
}

func (c *nodeCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.h.Stats()
	ch <- prometheus.MustNewConstMetric(descHasLeader, prometheus.GaugeValue, one(s.HasLeader))
	ch <- prometheus.MustNewConstMetric(descIsLeader, prometheus.GaugeValue, one(s.IsLeader))
	ch <- prometheus.MustNewConstMetric(descLeaderChanges, prometheus.CounterValue, float64(s.LeaderChanges))
	ch <- prometheus.MustNewConstMetric(descCommitted, prometheus.CounterValue, float64(s.Committed))
	ch <- prometheus.MustNewConstMetric(descApplied, prometheus.CounterValue, float64(s.Applied))
	ch <- prometheus.MustNewConstMetric(descPending, prometheus.GaugeValue, float64(s.ProposalsPending))
	ch <- prometheus.MustNewConstMetric(descFailed, prometheus.CounterValue, float64(s.ProposalsFailed))
	for _, health := range []membership.Health{membership.Healthy, membership.Suspect, membership.Dead} {
		ch <- prometheus.MustNewConstMetric(descMembers, prometheus.GaugeValue, float64(s.Members[health]), health.String())
	}
	for decision, n := range s.Audits {
		ch <- prometheus.MustNewConstMetric(descAudits, prometheus.CounterValue, float64(n), decision)
	}
	if c.peers == nil {
		return
	}
	for _, p := range c.peers.PeerStats() {
		peer := p.Peer.String()
		ch <- prometheus.MustNewConstMetric(descSent, prometheus.CounterValue, float64(p.SentBytes), peer)
		ch <- prometheus.MustNewConstMetric(descReceived, prometheus.CounterValue, float64(p.ReceivedBytes), peer)
		for r, n := range p.Dropped {
			if n > 0 {
				ch <- prometheus.MustNewConstMetric(descDropped, prometheus.CounterValue, float64(n), peer, transport.DropReason(r).String())
			}
		}
	}
}

package metrics_test

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"revoada.dev/revoada/core/roles"
	"revoada.dev/revoada/core/store"
	"revoada.dev/revoada/core/topology"
	"revoada.dev/revoada/net/transport"
	"revoada.dev/revoada/real/host"
	"revoada.dev/revoada/real/metrics"
	"revoada.dev/revoada/real/metrics/metricstest"
	"revoada.dev/revoada/real/tcp"
)

// node is a host with its transport and its metrics server.
type node struct {
	h   *host.Node
	tr  *tcp.Transport
	srv *metrics.Server
}

// meshWithMetrics starts three hosts over real/tcp on loopback, with
// self-healing towards quorum-3m and 20 ms ticks, each with its own
// registry served on a loopback port.
func meshWithMetrics(t *testing.T) []*node {
	t.Helper()
	var dirs []string
	var members []roles.Member
	for range 3 {
		dir := t.TempDir()
		id, err := host.Identity(dir)
		if err != nil {
			t.Fatal(err)
		}
		dirs, members = append(dirs, dir), append(members, roles.Member{Node: id, Roles: roles.ControlPlane})
	}
	shape, err := roles.NewShape(members)
	if err != nil {
		t.Fatal(err)
	}
	target, err := topology.ByName("quorum-3m")
	if err != nil {
		t.Fatal(err)
	}
	var nodes []*node
	addrs := map[roles.NodeID]string{}
	for _, dir := range dirs {
		n := &node{}
		m := metrics.New()
		cfg := host.Config{Dir: dir, Bootstrap: shape, Target: target, TickInterval: 20 * time.Millisecond, Observer: m,
			Transport: func(key ed25519.PrivateKey, hd transport.Handler) (transport.Transport, error) {
				var err error
				n.tr, err = tcp.New(tcp.Config{Key: key, Mesh: shape.Digest(), Listen: "127.0.0.1:0", Handler: hd})
				return n.tr, err
			}}
		if n.h, err = host.Start(cfg); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { n.h.Close() })
		if err := m.Watch(n.h, n.tr); err != nil {
			t.Fatal(err)
		}
		if n.srv, err = metrics.Listen("127.0.0.1:0", false, m); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { n.srv.Close() })
		nodes, addrs[n.h.ID()] = append(nodes, n), n.tr.Addr()
	}
	for _, n := range nodes {
		for id, addr := range addrs {
			n.h.SetPeer(id, addr)
		}
	}
	return nodes
}

// scrape reads url's metrics.
func scrape(t *testing.T, url string) metricstest.Families {
	t.Helper()
	fams, err := metricstest.Scrape(url)
	if err != nil {
		t.Fatal(err)
	}
	return fams
}

// eventually scrapes node i until ok holds of its metrics, failing with
// what it saw when a minute has passed.
func eventually(t *testing.T, nodes []*node, i int, what string, ok func(metricstest.Families) bool) metricstest.Families {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(20 * time.Millisecond) {
		fams := scrape(t, nodes[i].srv.URL())
		if ok(fams) {
			return fams
		}
		if time.Now().After(deadline) {
			st, _ := json.Marshal(nodes[i].h.Stats())
			t.Fatalf("node %d: never %s; stats %s", i+1, what, st)
		}
	}
}

// TestMeshMetrics scrapes a three-node mesh over HTTP: every node knows
// the leader and counts a leader change, sees the three healthy, has
// synced, and counts bytes each way with each peer; writes make the
// committed and applied counters grow on every node and the apply latency
// histogram count them; and once the leader is closed, a survivor counts
// another leader change.
func TestMeshMetrics(t *testing.T) {
	if testing.Short() {
		t.Skip("real time and real sockets")
	}
	nodes := meshWithMetrics(t)
	before := make([]metricstest.Families, len(nodes))
	for i, n := range nodes {
		before[i] = eventually(t, nodes, i, "a leader, three healthy members and traffic with both peers", func(f metricstest.Families) bool {
			for _, p := range nodes {
				if p == n {
					continue
				}
				peer := p.h.ID().String()
				if f.Value("revoada_network_peer_sent_bytes_total", "peer", peer) <= 0 || f.Value("revoada_network_peer_received_bytes_total", "peer", peer) <= 0 {
					return false
				}
			}
			return f.Value("revoada_raft_has_leader") == 1 && f.Value("revoada_raft_leader_changes_seen_total") >= 1 &&
				f.Value("revoada_membership_members", "health", "healthy") == 3 && f.Value("revoada_disk_fsync_duration_seconds") > 0
		})
		// Each leader has a term of its own: a node that counts more
		// changes than terms counts something else.
		if st, err := n.h.Status(t.Context()); err != nil || before[i].Value("revoada_raft_leader_changes_seen_total") > float64(st.Raft.Term) {
			t.Fatalf("node %d: %v leader changes by term %d (%v)", i+1, before[i].Value("revoada_raft_leader_changes_seen_total"), st.Raft.Term, err)
		}
		if got := before[i].Series("revoada_network_peer_sent_bytes_total"); got != 2 {
			t.Fatalf("node %d: sent bytes for %d peers, want 2", i+1, got)
		}
		for _, name := range []string{"go_goroutines", "process_open_fds", "revoada_raft_proposals_pending", "revoada_raft_proposals_failed_total"} {
			if before[i].Value(name) < 0 {
				t.Fatalf("node %d: no %s", i+1, name)
			}
		}
	}

	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	for k := range 3 {
		r := configMap(fmt.Sprintf("w%d", k))
		for {
			if _, err := nodes[0].h.Backend().Apply(ctx, r, store.Expect{}); err == nil {
				break
			} else if ctx.Err() != nil {
				t.Fatalf("write %d never taken: %v", k, err)
			}
		}
	}
	for i := range nodes {
		committed := before[i].Value("revoada_raft_proposals_committed_total")
		applied := before[i].Value("revoada_raft_proposals_applied_total")
		eventually(t, nodes, i, "committed and applied the writes", func(f metricstest.Families) bool {
			return f.Value("revoada_raft_proposals_committed_total") >= committed+3 && f.Value("revoada_raft_proposals_applied_total") >= applied+3
		})
	}
	if f := scrape(t, nodes[0].srv.URL()); f.Value("revoada_request_duration_seconds", "verb", "apply") < 3 || f.Value("revoada_request_duration_seconds", "verb", "get") != 0 {
		t.Fatalf("node 1's request histograms: apply %v, get %v; want at least 3 and 0",
			f.Value("revoada_request_duration_seconds", "verb", "apply"), f.Value("revoada_request_duration_seconds", "verb", "get"))
	}
	leader := -1
	for i, n := range nodes {
		if scrape(t, n.srv.URL()).Value("revoada_raft_is_leader") == 1 {
			if leader >= 0 {
				t.Fatalf("nodes %d and %d both lead", leader+1, i+1)
			}
			leader = i
		}
	}
	if leader < 0 {
		t.Fatal("no node leads")
	}
	eventually(t, nodes, leader, "counted a policy audit", func(f metricstest.Families) bool {
		return f.Value("revoada_policy_audits_total", "decision", "converged") > 0
	})
	survivor := (leader + 1) % len(nodes)
	changes := scrape(t, nodes[survivor].srv.URL()).Value("revoada_raft_leader_changes_seen_total")
	if err := nodes[leader].h.Close(); err != nil {
		t.Fatal(err)
	}
	eventually(t, nodes, survivor, "saw the next leader", func(f metricstest.Families) bool {
		return f.Value("revoada_raft_leader_changes_seen_total") > changes && f.Value("revoada_raft_has_leader") == 1
	})
}

func configMap(name string) store.Resource {
	payload, err := json.Marshal(map[string]any{"apiVersion": "v1", "kind": "ConfigMap",
		"metadata": map[string]any{"name": name, "namespace": "ns"}, "data": map[string]string{"v": name}})
	if err != nil {
		panic(err)
	}
	return store.Resource{Ref: store.Ref{Kind: "ConfigMap", Namespace: "ns", Name: name}, Face: "kubernetes", Format: store.JSON, Payload: payload}
}

// TestCheckAddr: loopback is taken, another host only when allowed, and
// no host, a host name or a bad port never; each refusal an *AddrError.
func TestCheckAddr(t *testing.T) {
	for _, c := range []struct {
		addr   string
		remote bool
		ok     bool
	}{
		{"127.0.0.1:9090", false, true}, {"[::1]:9090", false, true}, {"localhost:9090", false, true}, {"127.0.0.2:0", false, true},
		{"0.0.0.0:9090", false, false}, {"0.0.0.0:9090", true, true}, {"10.1.2.3:9090", false, false}, {"10.1.2.3:9090", true, true},
		{":9090", false, false}, {":9090", true, false}, {"example.com:9090", true, false},
		{"127.0.0.1", false, false}, {"127.0.0.1:port", false, false}, {"127.0.0.1:70000", false, false}, {"", false, false},
	} {
		err := metrics.CheckAddr(c.addr, c.remote)
		var ae *metrics.AddrError
		if c.ok != (err == nil) || err != nil && !errors.As(err, &ae) {
			t.Errorf("CheckAddr(%q, remote %v) = %v; want ok %v, or an *AddrError", c.addr, c.remote, err, c.ok)
		}
	}
	if _, err := metrics.Listen("0.0.0.0:0", false, metrics.New()); err == nil {
		t.Fatal("Listen took a non-loopback address without remote")
	}
}

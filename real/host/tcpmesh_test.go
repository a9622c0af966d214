package host_test

import (
	"context"
	"crypto/ed25519"
	"testing"
	"time"

	"revoada.dev/revoada/core/roles"
	"revoada.dev/revoada/core/store"
	"revoada.dev/revoada/core/topology"
	"revoada.dev/revoada/net/transport"
	"revoada.dev/revoada/real/gossip"
	"revoada.dev/revoada/real/host"
	"revoada.dev/revoada/real/tcp"
)

// TestSelfHealingOverTCP is the production path end to end, in real time on
// loopback: four hosts over real/tcp (mutual TLS on their node keys), three
// voters and a worker, with self-healing towards quorum-3m. They elect and
// replicate; when a voter is closed for good, gossip declares it dead and
// the leader's policy promotes the worker, and the mesh keeps taking writes.
// Ticks are 20 ms, so the policy's grace and the detector run five times
// faster than in production. The membership is the core's gossip through
// the transport, or hashicorp/memberlist beside it (real/gossip).
func TestSelfHealingOverTCP(t *testing.T) {
	if testing.Short() {
		t.Skip("real time: about ten seconds each")
	}
	t.Run("core-gossip", func(t *testing.T) { selfHealingOverTCP(t, false) })
	t.Run("memberlist", func(t *testing.T) { selfHealingOverTCP(t, true) })
}

func selfHealingOverTCP(t *testing.T, memberlist bool) {
	const n = 4
	dirs, members := identities(t, n)
	members[n-1].Roles = roles.Worker
	shape, err := roles.NewShape(members)
	if err != nil {
		t.Fatal(err)
	}
	target, err := topology.ByName("quorum-3m")
	if err != nil {
		t.Fatal(err)
	}
	cfg := host.Config{Target: target, TickInterval: 20 * time.Millisecond}
	var each func(i int, c *host.Config, started []*host.Node)
	if memberlist {
		each = func(i int, c *host.Config, started []*host.Node) {
			c.Memberlist = &host.Memberlist{Bind: "127.0.0.1:0", Timing: gossip.LANTiming()}
			if i > 0 {
				c.Memberlist.Seeds = []string{started[0].GossipAddr()}
			}
		}
	}
	hosts := tcpMeshWith(t, dirs, shape, cfg, each)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	write := func(live []*host.Node, name string) {
		t.Helper()
		for ctx.Err() == nil {
			for _, h := range live {
				if _, err := h.Backend().Apply(ctx, configMap("ns", name, "{}"), store.Expect{}); err == nil {
					return
				}
			}
			time.Sleep(50 * time.Millisecond)
		}
		t.Fatalf("no host took the write of %s within a minute", name)
	}
	write(hosts, "before")

	// Close a voter that is not the one we ask, then wait for the worker
	// to hold etcd in the committed shape.
	if err := hosts[0].Close(); err != nil {
		t.Fatal(err)
	}
	worker := members[n-1].Node
	for {
		st, err := hosts[1].Status(ctx)
		if err != nil {
			t.Fatalf("status: %v", err)
		}
		if r, _ := st.Shape.Roles(worker); r.Has(roles.Etcd) {
			t.Logf("the worker holds %s", r)
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("the worker was never promoted; last shape %v, last decision %+v", st.Shape, st.Decision)
		}
		time.Sleep(50 * time.Millisecond)
	}
	write(hosts[1:], "after")
}

// BenchmarkMeshApply measures replicated writes on a three-node mesh over
// real/tcp on loopback, every node fsyncing to its own bbolt file: 64
// writers at once, spread over the three nodes (a follower forwards to the
// leader), each write committed by a majority and applied before it is
// answered. Compare with etcd: ../shared/research/production-node.md.
func BenchmarkMeshApply(b *testing.B) {
	dirs, members := identities(b, 3)
	shape, err := roles.NewShape(members)
	if err != nil {
		b.Fatal(err)
	}
	hosts := tcpMesh(b, dirs, shape, host.Config{})
	warm := configMap("ns", "warm", "{}")
	for tries := 0; ; tries++ { // until a leader takes writes
		_, err := hosts[0].Backend().Apply(b.Context(), warm, store.Expect{})
		if err == nil {
			break
		}
		if tries == 100 {
			b.Fatalf("no write taken in 100 tries: %v; %+v", err, hosts[0].Stats())
		}
		time.Sleep(50 * time.Millisecond)
	}
	parallel(b, func(i int) error {
		_, err := hosts[i%3].Backend().Apply(b.Context(), benchConfigMap(i), store.Expect{})
		return err
	})
}

// tcpMesh starts a host in each of dirs over real/tcp on loopback, all with
// the bootstrap shape and cfg's other settings, and tells each where the
// others listen. The hosts close when the test ends.
func tcpMesh(t testing.TB, dirs []string, shape roles.Shape, cfg host.Config) []*host.Node {
	return tcpMeshWith(t, dirs, shape, cfg, nil)
}

// tcpMeshWith is tcpMesh with each, if not nil, changing each host's
// config before it starts, knowing the hosts started before it.
func tcpMeshWith(t testing.TB, dirs []string, shape roles.Shape, cfg host.Config, each func(i int, c *host.Config, started []*host.Node)) []*host.Node {
	t.Helper()
	hosts := make([]*host.Node, len(dirs))
	addrs := map[roles.NodeID]string{}
	for i, dir := range dirs {
		var tr *tcp.Transport
		c := cfg
		c.Dir, c.Bootstrap = dir, shape
		if each != nil {
			each(i, &c, hosts[:i])
		}
		c.Transport = func(key ed25519.PrivateKey, hd transport.Handler) (transport.Transport, error) {
			var err error
			tr, err = tcp.New(tcp.Config{Key: key, Mesh: shape.Digest(), Listen: "127.0.0.1:0", Handler: hd})
			return tr, err
		}
		h, err := host.Start(c)
		if err != nil {
			t.Fatalf("start node %d: %v", i+1, err)
		}
		t.Cleanup(func() { h.Close() })
		hosts[i], addrs[h.ID()] = h, tr.Addr()
	}
	for _, h := range hosts {
		for id, addr := range addrs {
			h.SetPeer(id, addr)
		}
	}
	return hosts
}

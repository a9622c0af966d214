package host_test

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"testing"
	"testing/synctest"
	"time"

	pb "go.etcd.io/raft/v3/raftpb"

	"revoada.dev/revoada/backend"
	"revoada.dev/revoada/core/node"
	"revoada.dev/revoada/core/roles"
	"revoada.dev/revoada/core/store"
	"revoada.dev/revoada/net/transport"
	"revoada.dev/revoada/net/transport/memtransport"
	"revoada.dev/revoada/real/host"
)

// meshOf starts n hosts sharing one bootstrap shape, every node a voter,
// over an in-memory network, in fresh data directories.
func meshOf(t *testing.T, n int) ([]*host.Node, []string, func(i int) *host.Node) {
	t.Helper()
	net := memtransport.NewNetwork()
	dirs, members := identities(t, n)
	peers := map[roles.NodeID]string{}
	for i, m := range members {
		peers[m.Node] = fmt.Sprint("n", i+1)
	}
	shape, err := roles.NewShape(members)
	if err != nil {
		t.Fatal(err)
	}
	startOne := func(i int) *host.Node {
		h, err := host.Start(host.Config{Dir: dirs[i], Bootstrap: shape, Peers: peers,
			Transport: func(key ed25519.PrivateKey, hd transport.Handler) (transport.Transport, error) {
				id := roles.NodeID(key.Public().(ed25519.PublicKey))
				return net.New(id, peers[id], hd)
			}})
		if err != nil {
			t.Fatalf("start node %d: %v", i+1, err)
		}
		t.Cleanup(func() { h.Close() })
		return h
	}
	hosts := make([]*host.Node, n)
	for i := range hosts {
		hosts[i] = startOne(i)
	}
	return hosts, dirs, startOne
}

// identities makes n data directories and their node keys, every node a
// control-plane member.
func identities(t testing.TB, n int) (dirs []string, members []roles.Member) {
	t.Helper()
	for range n {
		dir := t.TempDir()
		id, err := host.Identity(dir)
		if err != nil {
			t.Fatal(err)
		}
		dirs, members = append(dirs, dir), append(members, roles.Member{Node: id, Roles: roles.ControlPlane})
	}
	return dirs, members
}

// applyAnywhere writes through the first live host that takes the write,
// letting fake time pass between tries: a follower forwards to the leader,
// and with none elected yet the write times out and is retried.
func applyAnywhere(t *testing.T, hosts []*host.Node, r store.Resource) store.Resource {
	t.Helper()
	for range 60 {
		for _, h := range hosts {
			if h == nil {
				continue
			}
			got, err := h.Backend().Apply(t.Context(), r, store.Expect{})
			if err == nil {
				return got
			}
		}
		time.Sleep(time.Second)
	}
	t.Fatalf("no host took the write of %s in a minute", r.Ref)
	return store.Resource{}
}

// TestMeshOfThree: three hosts over a transport elect a leader and
// replicate; every node serves a linearizable read of what another wrote;
// with one node closed the other two carry on, and the closed one, started
// again from its directory, catches up.
func TestMeshOfThree(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		hosts, _, startOne := meshOf(t, 3)
		first := applyAnywhere(t, hosts, configMap("ns", "a", `{"v":1}`))
		for i, h := range hosts {
			got, err := h.Backend().Get(t.Context(), first.Ref, backend.ReadOptions{})
			if err != nil || got.ModRevision != first.ModRevision {
				t.Fatalf("node %d reads %v, %v; want revision %d", i+1, got.ModRevision, err, first.ModRevision)
			}
		}
		if err := hosts[0].Close(); err != nil {
			t.Fatal(err)
		}
		rest := []*host.Node{nil, hosts[1], hosts[2]}
		second := applyAnywhere(t, rest, configMap("ns", "b", `{"v":2}`))
		if second.ModRevision <= first.ModRevision {
			t.Fatalf("second write at revision %d after %d", second.ModRevision, first.ModRevision)
		}
		again := startOne(0)
		for range 60 {
			got, err := again.Backend().Get(t.Context(), second.Ref, backend.ReadOptions{})
			if err == nil && got.ModRevision == second.ModRevision {
				if st := again.Stats(); st.PeerDrops != 0 {
					t.Fatalf("stats %+v: peer messages dropped", st)
				}
				return
			}
			if err != nil && !errors.Is(err, store.ErrNotFound) && !errors.Is(err, context.DeadlineExceeded) {
				t.Logf("restarted node reads: %v", err)
			}
			time.Sleep(time.Second)
		}
		t.Fatal("the restarted node never read the write made while it was down")
	})
}

// A node outside the shape that proves its key to the transport still
// cannot make the mesh follow its term, nor write through it: its
// messages are dropped and counted (without the check, one heartbeat of
// term 1000 deposed the leader, and a forwarded write was applied).
func TestStrangersMessagesDropped(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		net := memtransport.NewNetwork()
		dirs, members := identities(t, 1)
		shape, err := roles.NewShape(members)
		if err != nil {
			t.Fatal(err)
		}
		h, err := host.Start(host.Config{Dir: dirs[0], Bootstrap: shape,
			Transport: func(key ed25519.PrivateKey, hd transport.Handler) (transport.Transport, error) {
				return net.New(members[0].Node, "n1", hd)
			}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { h.Close() })
		applyAnywhere(t, []*host.Node{h}, configMap("ns", "a", "{}"))
		stranger := roles.NodeID{0xee}
		tr, err := net.New(stranger, "x", nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { tr.Close() })
		tr.SetPeer(members[0].Node, "n1")
		hb := node.Message{From: stranger, To: members[0].Node, Kind: node.MsgRaft, Raft: &pb.Message{
			Type: pb.MsgHeartbeat.Enum(), Term: new(uint64(1000)), From: new(stranger.RaftID()), To: new(members[0].Node.RaftID())}}
		if err := tr.Send(hb); err != nil {
			t.Fatal(err)
		}
		w := configMap("ns", "forged", "{}")
		fwd := node.Message{From: stranger, To: members[0].Node, Kind: node.MsgForward, Request: &node.Request{
			ID: node.RequestID{Origin: stranger, Incarnation: 1, Seq: 1}, Write: &store.Command{Op: store.OpApply, Resource: w}}}
		if err := tr.Send(fwd); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Second)
		synctest.Wait()
		if _, err := h.Backend().Get(t.Context(), w.Ref, backend.ReadOptions{}); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("a stranger's forwarded write: get %v, want not found", err)
		}
		st, err := h.Status(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if st.Raft.Term >= 1000 || h.Stats().Strangers != 2 {
			t.Fatalf("after a stranger's heartbeat of term 1000: term %d, %d strangers counted", st.Raft.Term, h.Stats().Strangers)
		}
	})
}

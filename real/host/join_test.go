package host_test

import (
	"context"
	"crypto/ed25519"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"revoada.dev/revoada/backend"
	"revoada.dev/revoada/core/roles"
	"revoada.dev/revoada/core/topology"
	"revoada.dev/revoada/net/transport"
	"revoada.dev/revoada/net/transport/memtransport"
	"revoada.dev/revoada/real/host"
)

// TestJoinAndLeave: a node joins a running mesh of three voters. It keeps
// silent until admitted. Only the member that admits it is told its
// address, which the Join carries to every replica; the leader tells the
// joiner it is a member, and every driver takes its messages once the Join
// commits. A voter then leaves
// gracefully; self-healing promotes the joined node in its place, which
// then serves what was written before it joined.
func TestJoinAndLeave(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		net := memtransport.NewNetwork()
		dirs, members := identities(t, 4)
		joiner := members[3].Node
		shape, err := roles.NewShape(members[:3])
		if err != nil {
			t.Fatal(err)
		}
		target, err := topology.ByName("quorum-3m")
		if err != nil {
			t.Fatal(err)
		}
		addr := func(id roles.NodeID) string { return "mem-" + id.Short() }
		peers := map[roles.NodeID]string{}
		for _, m := range members[:3] {
			peers[m.Node] = addr(m.Node)
		}
		start := func(i int, join bool) *host.Node {
			h, err := host.Start(host.Config{Dir: dirs[i], Bootstrap: shape, Peers: peers, Join: join, Target: target,
				Advertise: addr(members[i].Node),
				Transport: func(key ed25519.PrivateKey, hd transport.Handler) (transport.Transport, error) {
					id := roles.NodeID(key.Public().(ed25519.PublicKey))
					return net.New(id, addr(id), hd)
				}})
			if err != nil {
				t.Fatalf("start node %d: %v", i+1, err)
			}
			t.Cleanup(func() { h.Close() })
			return h
		}
		hosts := []*host.Node{start(0, false), start(1, false), start(2, false)}
		before := applyAnywhere(t, hosts, configMap("ns", "before", "{}"))

		j := start(3, true)
		if st := status(t, j); st.InShape || st.Raft.Member {
			t.Fatalf("a joining node before its admission: in shape %v, raft member %v", st.InShape, st.Raft.Member)
		}
		time.Sleep(5 * time.Second)
		synctest.Wait()
		// Outside the shape the joiner keeps silent: every member would
		// drop what it sent (TestStrangersMessagesDropped).
		for i, h := range hosts {
			if st := h.Stats(); j.Stats().Ticks == 0 || st.Strangers != 0 {
				t.Fatalf("node %d, before the joiner's admission: %+v; want nothing from the joiner", i+1, st)
			}
		}
		ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
		defer cancel()
		if changed, err := hosts[0].Admit(ctx, joiner, addr(joiner)); err != nil || !changed {
			t.Fatalf("admit: changed %v, %v", changed, err)
		}
		// Admitting a member again changes nothing, its address included.
		if changed, err := hosts[1].Admit(ctx, members[2].Node, "mem-nowhere"); err != nil || changed {
			t.Fatalf("admitting a member: changed %v, %v", changed, err)
		}
		waitFor(t, "the joiner to know it is a member", func() bool { return status(t, j).InShape })
		waitFor(t, "every voter to apply the join", func() bool {
			for _, h := range hosts {
				if r, ok := status(t, h).Shape.Roles(joiner); !ok || r != roles.Worker {
					return false
				}
			}
			return true
		})

		// A voter that is not the admitting node leaves; the joiner is the
		// only worker the policy can promote in its place.
		leaving := hosts[2]
		if err := leaving.Leave(ctx); err != nil {
			t.Fatalf("leave: %v", err)
		}
		if status(t, leaving).InShape {
			t.Fatal("Leave returned before the node knew it left")
		}
		leaving.Close()
		waitFor(t, "the joiner to hold etcd in place of the node that left", func() bool {
			s := status(t, hosts[0]).Shape
			r, _ := s.Roles(joiner)
			_, stays := s.Roles(leaving.ID())
			return r.Has(roles.Etcd) && !stays && s.Len() == 3
		})
		waitFor(t, "the joiner to read the write made before it joined", func() bool {
			got, err := j.Backend().Get(ctx, before.Ref, backend.ReadOptions{})
			return err == nil && got.ModRevision == before.ModRevision
		})
		after := applyAnywhere(t, []*host.Node{j}, configMap("ns", "after", "{}"))
		got, err := hosts[1].Backend().Get(ctx, after.Ref, backend.ReadOptions{})
		if err != nil || got.ModRevision != after.ModRevision {
			t.Fatalf("a write through the joined node, read elsewhere: %v, %v", got.ModRevision, err)
		}
	})
}

// TestLastVoterCannotLeave: the one etcd holder's Leave is refused, and the
// node stays in the shape.
func TestLastVoterCannotLeave(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := start(t, t.TempDir())
		applyAnywhere(t, []*host.Node{h}, configMap("ns", "a", "{}"))
		if err := h.Leave(t.Context()); !errors.Is(err, roles.ErrLastVoter) {
			t.Fatalf("the last voter's leave: %v, want %v", err, roles.ErrLastVoter)
		}
		if !status(t, h).InShape {
			t.Fatal("a refused leave took the node out")
		}
	})
}

func status(t *testing.T, h *host.Node) host.Status {
	t.Helper()
	st, err := h.Status(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// waitFor polls cond once a (fake) second for a minute.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for range 60 {
		if cond() {
			return
		}
		time.Sleep(time.Second)
	}
	t.Fatalf("waited a minute for %s", what)
}

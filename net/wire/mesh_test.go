package wire_test

import (
	"crypto/ed25519"
	"fmt"
	"maps"
	"math/rand/v2"
	"sync"
	"testing"

	"revoada.dev/revoada/core/membership"
	"revoada.dev/revoada/core/node"
	"revoada.dev/revoada/core/roles"
	"revoada.dev/revoada/core/store"
)

// meshTicks is how long the mesh that makes real messages runs.
const meshTicks = 400

var (
	meshOnce     sync.Once
	meshMessages []node.Message
)

// realMessages are every message a mesh of three voters and a worker, with
// gossip, sends in meshTicks ticks, while the worker writes (once with a
// precondition that fails), reads a resource that exists and one that does
// not, lists, and asks to be promoted, catching up from a snapshot, and
// every voter reads: raft
// traffic of every kind a mesh makes, forwards, results with resources and
// with errors, and gossip.
func realMessages(tb testing.TB) []node.Message {
	meshOnce.Do(func() { meshMessages = runMesh(tb) })
	return meshMessages
}

func runMesh(tb testing.TB) []node.Message {
	const size = 4
	var ids [size]roles.NodeID
	var keys [size]ed25519.PrivateKey
	members := make([]roles.Member, size)
	for i := range size {
		var seed [ed25519.SeedSize]byte
		seed[0] = byte(i + 1)
		keys[i] = ed25519.NewKeyFromSeed(seed[:])
		copy(ids[i][:], keys[i].Public().(ed25519.PublicKey))
		members[i] = roles.Member{Node: ids[i], Roles: roles.ControlPlane}
	}
	members[size-1].Roles = roles.Worker
	shape, err := roles.NewShape(members)
	if err != nil {
		tb.Fatal(err)
	}
	nodes := make(map[roles.NodeID]*node.Node, size)
	for i, id := range ids {
		cfg := node.DefaultConfig(id, shape, rand.New(rand.NewPCG(1, uint64(i))))
		cfg.SnapshotEntries, cfg.CompactionTail = 8, 2 // the promoted worker catches up from a MsgSnap
		g := membership.DefaultConfig(keys[i], rand.New(rand.NewPCG(2, uint64(i))))
		cfg.Gossip = &g
		if nodes[id], err = node.New(cfg, node.Durable{}); err != nil {
			tb.Fatal(err)
		}
	}
	worker := nodes[ids[size-1]]
	ref := store.Ref{Kind: "ConfigMap", Namespace: "default", Name: "wire"}
	apply := store.Command{Op: store.OpApply, Resource: store.Resource{Ref: ref, Face: "kubernetes", Format: store.JSON, Payload: []byte(`{"data":{"k":"v"}}`)}}
	conflict := apply
	conflict.Expect = store.Expect{Set: true, Revision: 99}
	work := map[int]func() error{}
	for tick := 100; tick < 150; tick += 2 {
		c := apply
		c.Resource.Ref.Name = fmt.Sprintf("wire-%d", tick)
		work[tick] = func() error { _, err := worker.Write(c); return err }
	}
	maps.Copy(work, map[int]func() error{
		150: func() error { _, err := worker.Write(apply); return err },
		200: func() error { _, err := worker.Write(conflict); return err },
		220: func() error { _, err := worker.Read(node.Read{Op: node.ReadGet, Ref: ref}); return err },
		230: func() error {
			_, err := worker.Read(node.Read{Op: node.ReadGet, Ref: store.Ref{Kind: "ConfigMap", Name: "none"}, Local: true})
			return err
		},
		240: func() error { _, err := worker.Read(node.Read{Op: node.ReadList, Kind: "ConfigMap"}); return err },
		245: func() error { // at least two voters are followers: they ask the leader (MsgReadIndex)
			for _, id := range ids[:size-1] {
				if _, err := nodes[id].Read(node.Read{Op: node.ReadGet, Ref: ref}); err != nil {
					return err
				}
			}
			return nil
		},
		260: func() error {
			_, err := worker.Submit(roles.Shift{{Kind: roles.Promote, Node: ids[size-1], Roles: roles.ControlPlane, Reason: roles.ScalingUp}})
			return err
		},
	})
	var sent []node.Message
	for tick := range meshTicks {
		if w := work[tick]; w != nil {
			if err := w(); err != nil {
				tb.Fatal(err)
			}
		}
		for _, id := range ids {
			nodes[id].Tick()
		}
		for range 4 { // a few rounds of delivery per tick
			var out []node.Message
			for _, id := range ids {
				n := nodes[id]
				for n.HasReady() {
					rd := n.Ready()
					out = append(out, rd.Messages...)
					n.Advance(rd)
				}
			}
			for _, m := range out {
				sent = append(sent, m.Clone())
				nodes[m.To].Step(m.Clone())
			}
		}
	}
	return sent
}

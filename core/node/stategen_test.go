package node

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"

	"go.etcd.io/raft/v3"

	"revoada.dev/revoada/core/content"
	"revoada.dev/revoada/core/membership"
	"revoada.dev/revoada/core/roles"
	"revoada.dev/revoada/core/store"
)

// TestVoterRootsFollowMembership drives three voters and a worker, with
// gossip and a write every few ticks, and checks after every tick and
// every message taken that the worker's voterRoots, kept while
// membership's states do not change (statesGen), are what asking
// membership now gives. It fails if a state change slips past the
// generation: the worker would take an older root than the voters
// gossip, or one a voter no longer gossips.
func TestVoterRootsFollowMembership(t *testing.T) {
	k := newKeyed(t)
	var nodes []*Node
	byID := map[roles.NodeID]*Node{}
	for i := range k.keys {
		cfg := DefaultConfig(k.id(i), k.shape, rand.New(rand.NewPCG(uint64(i), 1)))
		g := membership.DefaultConfig(k.keys[i], rand.New(rand.NewPCG(uint64(i), 2)))
		cfg.Gossip, cfg.Key, cfg.Now = &g, k.keys[i], func() int64 { return 0 }
		n, err := New(cfg, Durable{})
		if err != nil {
			t.Fatal(err)
		}
		nodes = append(nodes, n)
		byID[n.ID()] = n
	}
	worker := nodes[3]
	asked := func() []voterRoot { // voterRoots without the generation
		var out []voterRoot
		for _, v := range worker.viewVoters() {
			st, ok := worker.heal.gossip.State(v)
			if ok && st.Roles.Has(roles.Etcd) && st.StateRoot.ManifestHash != (content.Digest{}) && v != worker.ID() {
				out = append(out, voterRoot{id: v, root: st.StateRoot})
			}
		}
		return out
	}
	check := func(step string) {
		t.Helper()
		if got, want := slices.Clone(worker.voterRoots()), asked(); !reflect.DeepEqual(got, want) {
			t.Fatalf("%s: the worker's kept voter roots %v, membership gives %v", step, got, want)
		}
	}
	changed := 0
	var last []voterRoot
	for tick := range 600 {
		for _, n := range nodes {
			n.Tick()
		}
		check(fmt.Sprintf("tick %d", tick))
		for _, n := range nodes {
			if tick%7 == 0 && n.Status().State == raft.StateLeader {
				ref := store.Ref{Kind: "ConfigMap", Namespace: "ns", Name: fmt.Sprint("k", tick%5)}
				if _, err := n.Write(store.Command{Op: store.OpApply, Resource: store.Resource{Ref: ref, Face: "kubernetes", Format: store.JSON, Payload: []byte(`{}`)}}); err != nil {
					t.Fatal(err)
				}
			}
		}
		var queue []Message
		for _, n := range nodes {
			rd := n.Ready()
			queue = append(queue, rd.Messages...)
			n.Advance(rd)
		}
		for i, m := range queue {
			byID[m.To].Step(m)
			check(fmt.Sprintf("tick %d, message %d", tick, i))
		}
		if now := asked(); !reflect.DeepEqual(now, last) {
			changed++
			last = slices.Clone(now)
		}
	}
	if changed < 10 || worker.SyncStatus().Synced.Index == 0 {
		t.Fatalf("the voters' roots changed %d times and the worker synced index %d: the test exercised too little",
			changed, worker.SyncStatus().Synced.Index)
	}
}

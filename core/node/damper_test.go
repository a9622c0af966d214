package node

import (
	"bytes"
	"math/rand/v2"
	"slices"
	"testing"

	pb "go.etcd.io/raft/v3/raftpb"

	"revoada.dev/revoada/core/attest"
	"revoada.dev/revoada/core/roles"
)

// snapshotOf is a snapshot of m at index, term 1, voting the shape's voters.
func snapshotOf(m *Machine, index uint64) *pb.Snapshot {
	var voters []uint64
	for _, v := range m.shape.Voters() {
		voters = append(voters, v.RaftID())
	}
	slices.Sort(voters)
	return &pb.Snapshot{Data: m.Encode(), Metadata: &pb.SnapshotMetadata{
		Index: new(index), Term: new(uint64(1)), ConfState: &pb.ConfState{Voters: voters},
	}}
}

// The damper runs on the node's own ticks: a shift the node did not see
// applied — one in the snapshot it starts from, or in one it installs —
// counts from the moment it learned of it, so neither a restart nor a
// snapshot install shortens the damper; a shift it already knew keeps its
// tick.
func TestDamperCountsFromWhenTheNodeLearned(t *testing.T) {
	m := NewMachine(bootShape(t))
	restore4 := roles.Command{Kind: roles.Promote, Node: nid(4), Roles: roles.Scheduler, Reason: roles.Operator}
	if eff := m.Apply(normal(2, req(9, 1, restore4))); eff.result.Err != nil || !eff.result.Changed {
		t.Fatalf("the shift at index 2: %v", eff.result)
	}
	n, err := New(DefaultConfig(nid(1), bootShape(t), rand.New(rand.NewPCG(1, 2))), Durable{Snapshot: snapshotOf(m, 2)})
	if err != nil {
		t.Fatal(err)
	}
	if h := n.damperHistory(); h.Now != 0 || h.Shifted[nid(4)] != 0 || len(h.Shifted) != 1 {
		t.Fatalf("at start: %+v, want nid(4) shifted at tick 0, now 0", h)
	}
	for range 10 {
		n.Tick()
	}
	if h := n.damperHistory(); h.Now != 10 || h.Shifted[nid(4)] != 0 {
		t.Fatalf("after 10 ticks: %+v", h)
	}
	// A newer snapshot: nid(4)'s shift is the one already known, nid(3)'s
	// is news.
	demote3 := roles.Command{Kind: roles.Demote, Node: nid(3), Roles: roles.Scheduler, Reason: roles.Operator}
	if eff := m.Apply(normal(3, req(9, 2, demote3))); eff.result.Err != nil || !eff.result.Changed {
		t.Fatalf("the shift at index 3: %v", eff.result)
	}
	if err := n.restore(snapshotOf(m, 3)); err != nil {
		t.Fatal(err)
	}
	if h := n.damperHistory(); h.Shifted[nid(4)] != 0 || h.Shifted[nid(3)] != 10 || h.Now != 10 {
		t.Fatalf("after installing the snapshot at tick 10: %+v, want nid(4) at 0, nid(3) at 10", h)
	}
}

// Logs and snapshots written while the damper ran on a wall-based clock
// still decode: a stamped shift (payload kind 4) as its fenced twin, the
// stamp ignored; a version-3 snapshot with its clock skipped and every
// stamp read as index 0.
func TestOldDamperFormatsDecode(t *testing.T) {
	sched := roles.Command{Kind: roles.Demote, Node: nid(1), Roles: roles.Scheduler, Reason: roles.Rebalance}
	r := req(9, 1, sched)
	r.Fence = &Fence{Term: 3, Basis: roles.Digest{7}}
	now := encodePayload(payloadFenced, r)
	old := slices.Concat(now[:payloadHeader], []byte{0, 0, 0, 0, 0, 0, 0x30, 0x39}, now[payloadHeader:])
	old[1] = payloadStamped
	kind, got, err := decodePayload(old)
	if err != nil || kind != payloadStamped || *got.Fence != *r.Fence || !slices.Equal(got.Shift, r.Shift) || got.ID != r.ID {
		t.Fatalf("a stamped shift decodes as %d %+v, %v; want %+v", kind, got, err, r)
	}
	if _, _, err := decodePayload(old[:payloadHeader+5]); err == nil {
		t.Fatal("a stamped shift cut inside its stamp decodes")
	}

	m := NewMachine(bootShape(t))
	m.Apply(normal(2, req(9, 1, roles.Command{Kind: roles.Promote, Node: nid(4), Roles: roles.Scheduler, Reason: roles.Operator})))
	v6 := m.Encode()
	// Version 5: without the unsigned count and the chain at the end.
	v5 := slices.Clone(v6[:len(v6)-8-len(attest.AppendChain(nil, m.Chain().Blocks()))])
	v5[0] = snapshotVersionV5
	if back, err := DecodeMachine(v5); err != nil || back.Chain().Len() != 1 || back.Unsigned() != 0 || !back.shape.Equal(m.shape) {
		t.Fatalf("a version-5 snapshot decodes as %v, %v", back, err)
	}
	table := len(v5) - len(m.store.AppendSnapshot(nil)) - 4 - (4 + 40) // one node in the table
	if id := nid(4); !bytes.Equal(v5[table+4:table+36], id[:]) {
		t.Fatal("the shifted table is not where the test expects it")
	}
	// Version 4: the one dedup record without its current revision (the
	// u64 before rev, which is the last field before the table).
	v4 := slices.Concat(v5[:table-16], v5[table-8:])
	v4[0], table = 4, table-8
	if back, err := DecodeMachine(v4); err != nil || len(back.Shifted()) != 1 {
		t.Fatalf("a version-4 snapshot decodes as %v, %v", back, err)
	}
	v3 := slices.Concat(v4[:table], []byte{0, 0, 0, 0, 0, 0, 0x30, 0x39}, v4[table:])
	v3[0] = snapshotVersionV3
	back, err := DecodeMachine(v3)
	if err != nil {
		t.Fatal(err)
	}
	if s := back.Shifted(); len(s) != 1 || s[nid(4)] != 0 || !back.shape.Equal(m.shape) {
		t.Fatalf("a version-3 snapshot decodes with shifted %v", s)
	}
}

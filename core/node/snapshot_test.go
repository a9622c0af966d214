package node

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"revoada.dev/revoada/core/roles"
	"revoada.dev/revoada/core/store"
)

// TestSnapshotsAreAmortized: a lone voter writing resources that grow its
// state takes a periodic snapshot exactly at the first batch after which at
// least SnapshotEntries entries and at least the last snapshot's size in
// entry bytes were applied since the last snapshot — never earlier, never
// later — so that snapshots, however large the state, cost O(bytes logged).
func TestSnapshotsAreAmortized(t *testing.T) {
	shape, err := roles.NewShape([]roles.Member{{Node: nid(1), Roles: roles.ControlPlane}})
	if err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig(nid(1), shape, rand.New(rand.NewPCG(1, 2)))
	cfg.SnapshotEntries, cfg.CompactionTail = 4, 2
	n, err := New(cfg, Durable{})
	if err != nil {
		t.Fatal(err)
	}
	var since, bytes, lastSnap, snaps uint64
	var last uint64 = 1
	drain := func() {
		for n.HasReady() {
			rd := n.Ready()
			if s := rd.Persist.Snapshot; s != nil {
				lastSnap, last, since, bytes = uint64(len(s.GetData())), s.GetMetadata().GetIndex(), 0, 0
			}
			for _, a := range rd.Applied {
				if a.Raw != nil && a.Index > last {
					since, bytes = since+1, bytes+uint64(len(a.Raw.GetData()))
				}
			}
			due := since >= cfg.SnapshotEntries && bytes >= lastSnap
			switch s := rd.Persist.Compact; {
			case s != nil && !due:
				t.Fatalf("snapshot at %d after %d entries, %d bytes; the last was %d bytes", s.GetMetadata().GetIndex(), since, bytes, lastSnap)
			case s == nil && due:
				t.Fatalf("no snapshot after %d entries, %d bytes; the last was %d bytes", since, bytes, lastSnap)
			case s != nil:
				snaps++
				lastSnap, last, since, bytes = uint64(len(s.GetData())), s.GetMetadata().GetIndex(), 0, 0
			}
			n.Advance(rd)
		}
	}
	for range 100 {
		n.Tick()
		drain()
	}
	if !n.Status().Member || n.Status().Lead != nid(1).RaftID() {
		t.Fatalf("the lone voter is not leader: %+v", n.Status())
	}
	padding := strings.Repeat("x", 200)
	for i := range 300 {
		ref := store.Ref{Kind: "ConfigMap", Namespace: "default", Name: fmt.Sprint("cm-", i)}
		payload := fmt.Sprintf(`{"data":{"k":%q}}`, padding)
		if _, err := n.Write(store.Command{Op: store.OpApply, Resource: store.Resource{Ref: ref, Face: "kubernetes", Format: store.JSON, Payload: []byte(payload)}}); err != nil {
			t.Fatal(err)
		}
		drain()
	}
	// The state grows to about 300 × 200 bytes: with a snapshot every 4
	// entries that would be 75 snapshots; amortized, the gaps double, and
	// the snapshots number about log2 of the growth.
	t.Logf("%d periodic snapshots, the last %d bytes", snaps, lastSnap)
	if snaps < 3 || snaps > 20 {
		t.Fatalf("%d periodic snapshots over 300 writes, want between 3 and 20", snaps)
	}
	if n.Store().Revision() == 0 {
		t.Fatal("no write applied")
	}
}

package node

import (
	"fmt"
	"strconv"
	"testing"

	pb "go.etcd.io/raft/v3/raftpb"

	"revoada.dev/revoada/core/membership"
	"revoada.dev/revoada/core/roles"
)

// TestDescribeGossip: the table Describe reads is the description it would
// build, for every kind and count, the table's and beyond.
func TestDescribeGossip(t *testing.T) {
	for k := range membership.Gossip + 3 {
		for n := range 40 {
			m := Message{Kind: MsgGossip, Gossip: &membership.Message{Kind: k, States: make([]membership.SignedState, n)}}
			if got, want := m.Describe(), "gossip "+k.String()+" s"+strconv.Itoa(n); got != want {
				t.Errorf("kind %d, %d states: %q, want %q", k, n, got, want)
			}
		}
	}
}

// TestDescribeAppends: AppendDescribe appends what Describe says, and a
// request ID reads origin/incarnation/seq.
func TestDescribeAppends(t *testing.T) {
	id := RequestID{Origin: roles.NodeID{0xab, 0xcd, 1, 2, 3, 4, 5}, Incarnation: 7, Seq: 1 << 40}
	if got, want := id.String(), fmt.Sprintf("%s/%d/%d", id.Origin.Short(), id.Incarnation, id.Seq); got != want {
		t.Errorf("request ID %q, want %q", got, want)
	}
	for _, m := range []Message{
		{Kind: MsgRaft, Raft: &pb.Message{Type: new(pb.MsgApp), Term: new(uint64(3)), Index: new(uint64(9)), Entries: make([]*pb.Entry, 2)}},
		{Kind: MsgForward, Request: &Request{ID: id}},
		{Kind: MsgResult, Result: &Result{ID: id}},
		{Kind: MsgGossip, Gossip: &membership.Message{Kind: membership.Ping}},
	} {
		want := m.Describe()
		if got := string(m.AppendDescribe([]byte("x"))); got != "x"+want {
			t.Errorf("AppendDescribe %q, want %q", got, "x"+want)
		}
	}
	if got := (Message{Kind: MsgRaft, Raft: &pb.Message{Type: new(pb.MsgApp), Term: new(uint64(3))}}).Describe(); got != "MsgApp t3 i0 c0 n0" {
		t.Errorf("Describe %q", got)
	}
	if got := (Message{Kind: MsgForward, Request: &Request{ID: id}}).Describe(); got != "forward abcd01020304/7/1099511627776" {
		t.Errorf("Describe %q", got)
	}
}

package node

import (
	"strconv"
	"testing"

	"revoada.dev/revoada/core/membership"
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

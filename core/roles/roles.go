// Package roles is the mesh shape as a deterministic state machine: which node
// holds which control-plane roles, and the typed commands (Promote, Demote,
// Quarantine, Restore) that change it.
//
// A Shape is a plain value. Apply is total: every command either changes the
// shape, leaves it unchanged (the command was already in effect — each command
// is idempotent), or is rejected with a typed Rejection that names the
// invariant it would have broken. A batch of commands (a Shift) is applied
// atomically: all or nothing. A shift as a whole need not be idempotent
// (promote X, then quarantine X): retried requests are deduplicated by ID in
// package node before they get here.
//
// Invariants of a Shape, checked by Validate and kept by Apply:
//   - every node holds exactly one of: a non-empty set of control-plane roles,
//     Worker, Quarantined or Observer;
//   - at least one node holds the etcd role (the Raft voter set is never empty).
//
// The holders of RoleEtcd are the Raft voters; package node keeps the two equal
// at every applied index.
//
// Not safe for concurrent use.
package roles

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// NodeID is a node's ed25519 public key. Its text form is 64 hex digits; Short
// gives the 12-digit display form.
type NodeID [32]byte

// ErrBadNodeID is returned by ParseNodeID for text that is not 64 hex digits.
var ErrBadNodeID = errors.New("roles: bad node id")

// ParseNodeID parses the 64-hex-digit text form of a NodeID.
func ParseNodeID(s string) (NodeID, error) {
	var id NodeID
	if len(s) != 64 {
		return id, fmt.Errorf("%w: %q has %d characters, want 64 hex digits", ErrBadNodeID, s, len(s))
	}
	if _, err := hex.Decode(id[:], []byte(s)); err != nil {
		return id, fmt.Errorf("%w: %q: %v", ErrBadNodeID, s, err)
	}
	return id, nil
}

func (id NodeID) String() string { return hex.EncodeToString(id[:]) }

// Short is the 12-hex-digit display form.
func (id NodeID) Short() string { return hex.EncodeToString(id[:6]) }

// Compare orders NodeIDs bytewise; every iteration over nodes uses this order.
// It allocates nothing: membership compares IDs for every message. The
// first 8 bytes, as a big-endian word, order two keys but for a shared
// prefix (RaftID's bytes, unique within a shape).
func (id NodeID) Compare(o NodeID) int {
	if a, b := binary.BigEndian.Uint64(id[:8]), binary.BigEndian.Uint64(o[:8]); a != b {
		return cmp.Compare(a, b)
	}
	return bytes.Compare(id[8:], o[8:])
}

// RaftID is the Raft member ID of the node: the first 8 bytes of the key,
// big-endian, with 0 (reserved by raft for "none") mapped to 1. NewShape
// rejects two nodes whose RaftIDs collide.
func (id NodeID) RaftID() uint64 {
	var v uint64
	for _, b := range id[:8] {
		v = v<<8 | uint64(b)
	}
	if v == 0 {
		v = 1
	}
	return v
}

// Roles is a set of roles, a bitmask.
type Roles uint8

// The roles a node can hold.
const (
	APIServer Roles = 1 << iota
	Etcd
	Scheduler
	ControllerManager
	Worker
	Quarantined
	Observer

	// ControlPlane is all four control-plane roles.
	ControlPlane = APIServer | Etcd | Scheduler | ControllerManager
	allRoles     = ControlPlane | Worker | Quarantined | Observer
)

var roleNames = []struct {
	r    Roles
	name string
}{
	{APIServer, "api-server"}, {Etcd, "etcd"}, {Scheduler, "scheduler"},
	{ControllerManager, "controller-manager"}, {Worker, "worker"},
	{Quarantined, "quarantined"}, {Observer, "observer"},
}

// Has reports whether every role of q is in r.
func (r Roles) Has(q Roles) bool { return r&q == q }

// IsControlPlane reports whether r holds any control-plane role.
func (r Roles) IsControlPlane() bool { return r&ControlPlane != 0 }

func (r Roles) String() string {
	if r == 0 {
		return "none"
	}
	var parts []string
	for _, n := range roleNames {
		if r&n.r != 0 {
			parts = append(parts, n.name)
		}
	}
	if r&^allRoles != 0 {
		parts = append(parts, fmt.Sprintf("0x%x", uint8(r&^allRoles)))
	}
	return strings.Join(parts, ",")
}

// ParseRoles parses a comma-separated list of role names; "control-plane"
// stands for all four control-plane roles.
func ParseRoles(s string) (Roles, error) {
	var r Roles
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "control-plane" {
			r |= ControlPlane
			continue
		}
		i := slices.IndexFunc(roleNames, func(n struct {
			r    Roles
			name string
		}) bool {
			return n.name == part
		})
		if i < 0 {
			return 0, fmt.Errorf("roles: unknown role %q", part)
		}
		r |= roleNames[i].r
	}
	return r, nil
}

// valid reports whether r is an allowed role set for one node.
func (r Roles) valid() bool {
	switch {
	case r == Worker, r == Quarantined, r == Observer:
		return true
	default:
		return r != 0 && r&^ControlPlane == 0
	}
}

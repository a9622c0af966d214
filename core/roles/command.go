package roles

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// Kind is the kind of a role command.
type Kind uint8

// The role commands.
const (
	// Promote adds control-plane roles to a worker or control-plane node.
	Promote Kind = iota + 1
	// Demote removes control-plane roles; a node left with none is a Worker.
	Demote
	// Quarantine strips every role from a node and fences it off.
	Quarantine
	// Restore returns a quarantined node to the mesh as a Worker.
	Restore
	// Join admits a node that is not in the shape as a Worker; a node that
	// is a member already is left as it is.
	Join
	// Leave removes a node from the shape with whatever roles it holds (an
	// etcd holder leaves the raft voters too); a node that is not a member
	// is left out.
	Leave
)

var kindNames = map[Kind]string{
	Promote: "promote", Demote: "demote", Quarantine: "quarantine", Restore: "restore", Join: "join", Leave: "leave",
}

func (k Kind) String() string { return nameOf(kindNames, k, "kind") }

// ParseKind parses a command kind name.
func ParseKind(s string) (Kind, error) { return parseName(kindNames, s, "command kind") }

// Reason says why a command was issued; it is recorded with the command.
type Reason uint8

// The reasons a command may carry.
const (
	ReplacingFailed Reason = iota + 1
	ScalingUp
	ScalingDown
	HealthDegraded
	Operator
	Rebalance
)

var reasonNames = map[Reason]string{
	ReplacingFailed: "replacing-failed", ScalingUp: "scaling-up", ScalingDown: "scaling-down",
	HealthDegraded: "health-degraded", Operator: "operator", Rebalance: "rebalance",
}

func (r Reason) String() string { return nameOf(reasonNames, r, "reason") }

// ParseReason parses a reason name.
func ParseReason(s string) (Reason, error) { return parseName(reasonNames, s, "reason") }

func nameOf[K ~uint8](names map[K]string, k K, what string) string {
	if s, ok := names[k]; ok {
		return s
	}
	return fmt.Sprintf("%s(%d)", what, uint8(k))
}

// parseName looks a name up; the error lists the valid names in order.
func parseName[K ~uint8](names map[K]string, s, what string) (K, error) {
	keys := slices.Sorted(maps.Keys(names))
	valid := make([]string, len(keys))
	for i, k := range keys {
		if names[k] == s {
			return k, nil
		}
		valid[i] = names[k]
	}
	return 0, fmt.Errorf("roles: unknown %s %q (want one of %s)", what, s, strings.Join(valid, ", "))
}

// Command is one typed role command. For Promote and Demote, Roles names the
// control-plane roles to add or remove (zero means all four); the other kinds
// take no roles and must leave it zero.
type Command struct {
	Kind   Kind
	Node   NodeID
	Roles  Roles
	Reason Reason
	// Addr, on a Join only, is where the joining node listens for its
	// peers (at most AddrBytesMax bytes): carried by the log to every
	// replica, so that the leader can reach the node it admitted.
	Addr string
}

// AddrBytesMax bounds a Join's Addr.
const AddrBytesMax = 255

func (c Command) String() string {
	if c.Roles != 0 {
		return fmt.Sprintf("%s %s %s (%s)", c.Kind, c.Node.Short(), c.Roles, c.Reason)
	}
	return fmt.Sprintf("%s %s (%s)", c.Kind, c.Node.Short(), c.Reason)
}

// Shift is a batch of commands applied atomically, in one log entry.
type Shift []Command

// Rejection is the typed reason a command or shift was not applied.
type Rejection struct {
	Code    RejectCode
	Command int // index of the offending command within the shift
	Detail  string
}

func (r *Rejection) Error() string {
	return fmt.Sprintf("roles: rejected command %d: %s: %s", r.Command, r.Code, r.Detail)
}

// Is lets errors.Is match a Rejection against its code's sentinel.
func (r *Rejection) Is(target error) bool {
	var code RejectCode
	return errors.As(target, &code) && code == r.Code
}

// RejectCode names the rule a rejected command would have broken.
type RejectCode uint8

// Rejection codes. Each is also an error value usable with errors.Is.
const (
	// ErrUnknownNode: the command names a node that is not in the shape.
	ErrUnknownNode RejectCode = iota + 1
	// ErrLastVoter: the command would leave no node holding etcd.
	ErrLastVoter
	// ErrQuarantined: a quarantined node cannot be promoted or demoted.
	ErrQuarantined
	// ErrObserver: an observer cannot hold roles.
	ErrObserver
	// ErrInvalidCommand: unknown kind or reason, or roles that are not
	// control-plane roles.
	ErrInvalidCommand
	// ErrEmptyShift: a shift with no commands.
	ErrEmptyShift
	// ErrStale: the shift's voter change no longer matches the shape (the
	// shape moved between proposal and apply); the proposer retries.
	ErrStale
	// ErrShapeFull: a join would take the shape past ShapeMembersMax, or
	// the joining node's raft ID is a member's already.
	ErrShapeFull
	// ErrNoVoterStays: the shift takes every voter out of the voters at
	// once. The leader is one of them, and it never proposes its own
	// removal: it hands leadership to a voter that stays, and there is
	// none. Keep one, and move it in a later shift.
	ErrNoVoterStays
)

var codeNames = map[RejectCode]string{
	ErrUnknownNode: "unknown-node", ErrLastVoter: "last-voter", ErrQuarantined: "quarantined",
	ErrObserver: "observer", ErrInvalidCommand: "invalid-command", ErrEmptyShift: "empty-shift",
	ErrStale: "stale", ErrShapeFull: "shape-full", ErrNoVoterStays: "no-voter-stays",
}

func (c RejectCode) Error() string { return "roles: " + c.String() }

func (c RejectCode) String() string {
	if s, ok := codeNames[c]; ok {
		return s
	}
	return fmt.Sprintf("code(%d)", uint8(c))
}

func reject(i int, code RejectCode, format string, args ...any) *Rejection {
	return &Rejection{Code: code, Command: i, Detail: fmt.Sprintf(format, args...)}
}

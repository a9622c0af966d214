// Package checkers judges what a simulated (or real) run did from the outside:
// client histories checked for linearizability with porcupine, watch streams
// and lists checked against the linearized writes, liveness monitors with hot
// and cold states over time. Checkers read histories; they never reach into
// node state.
package checkers

import (
	"time"

	"revoada.dev/revoada/core/store"
)

// The outcomes a client operation can end with. Timeout, crashed, unfinished
// and error operations have unknown effect: a write may or may not have been
// applied.
const (
	OutcomeOK          = "ok"
	OutcomeNotFound    = "not-found"
	OutcomeConflict    = "conflict"
	OutcomeInvalid     = "invalid"
	OutcomeUnsupported = "unsupported"
	OutcomeCompacted   = "compacted" // a watch asked to resume from a compacted revision
	OutcomeTimeout     = "timeout"
	OutcomeCrashed     = "crashed"
	OutcomeReset       = "reset"
	OutcomeUnfinished  = "unfinished"
	OutcomeError       = "error"
)

// Op is one client operation as a history records it.
type Op struct {
	Client         int
	Node           string // the node it was sent to
	Verb           string // apply, get, list, delete, watch
	Key            string // the resource name; "" for list and watch
	Invoke, Return time.Duration
	Local          bool         // a read that may be served stale from the contact's replica
	Expect         store.Expect // a write's expected revision, if Set
	Value          string       // apply: the value written; get: the value read ("" for none)
	Outcome        string       // one of the Outcome constants
	Revision       store.Revision
	// Revision is a write's ModRevision or a get's resource ModRevision.
	Served store.Revision // a read's served revision; a watch's start revision
	Items  []Item         // a list's resources
	Events []Item         // a watch's events, in the order it saw them
}

// Item is a resource as a list or watch saw it.
type Item struct {
	Name     string
	Value    string
	Revision store.Revision
	Deleted  bool
	At       time.Duration // a watch event: when the client saw it
}

// Unknown reports whether the operation's effect is unknown.
func (o *Op) Unknown() bool {
	return o.Outcome == OutcomeTimeout || o.Outcome == OutcomeCrashed || o.Outcome == OutcomeUnfinished || o.Outcome == OutcomeError
}

// IsWrite reports whether the operation is an apply or a delete.
func (o *Op) IsWrite() bool { return o.Verb == "apply" || o.Verb == "delete" }

// Mark is a point on a run's timeline that is not a client operation: a
// fault, a node starting or crashing, a change of raft state or of roles.
// Reports draw them; the linearizability visualisation annotates with them.
type Mark struct {
	At     time.Duration
	Node   string // the node concerned; "" for the whole mesh
	Kind   string // one of the Mark constants
	Detail string
}

// The kinds of Mark.
const (
	MarkStart     = "start"     // Node started (from its disk); Detail: incarnation
	MarkCrash     = "crash"     // Node crashed, losing unsynced state
	MarkPause     = "pause"     // Node frozen
	MarkResume    = "resume"    // Node unfrozen
	MarkPartition = "partition" // the mesh split; Detail: the groups, e.g. "n1,n2 | n3,n4,n5"
	MarkHeal      = "heal"      // every partition removed
	MarkState     = "state"     // Node's raft state changed; Detail: "leader term 3", "follower term 3", "candidate term 4"
	MarkRoles     = "roles"     // Node's committed roles changed; Detail: "control-plane" or "worker"
	MarkShift     = "shift"     // a role shift committed; Detail: the shift
	MarkFault     = "fault"     // any other fault (loss, duplication, clock skew); Detail says which
)

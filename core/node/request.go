package node

import (
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"

	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"revoada.dev/revoada/core/attest"
	"revoada.dev/revoada/core/membership"
	"revoada.dev/revoada/core/roles"
	"revoada.dev/revoada/core/store"
)

// RequestID names a client request across forwarding, retries and apply.
// Incarnation changes every time the origin restarts, so a restarted node never
// reuses an ID; Seq counts requests within one incarnation.
type RequestID struct {
	Origin      roles.NodeID
	Incarnation uint64
	Seq         uint64
}

func (id RequestID) String() string {
	var buf [48]byte
	return string(id.append(buf[:0]))
}

// append appends String's answer to b.
func (id RequestID) append(b []byte) []byte {
	b = hex.AppendEncode(b, id.Origin[:6]) // Origin.Short()
	b = strconv.AppendUint(append(b, '/'), id.Incarnation, 10)
	return strconv.AppendUint(append(b, '/'), id.Seq, 10)
}

// Request is what a client submits: exactly one of a role shift, a
// resource write (through the log) or a read (served at a linearizable point,
// or locally when Read.Local is set).
type Request struct {
	ID    RequestID
	Shift roles.Shift
	Write *store.Command
	Read  *Read
	// Fence, set on the policy's shifts, is what the deciding leader saw.
	Fence *Fence
	// Witness is a voter's co-signature of a block of the attested role
	// history (the node submits its own; see Node.witness).
	Witness *Witness
	// proposal is the leader's signed proposal of Shift, read from a
	// signed entry at apply; it never travels in a message.
	proposal *attest.Proposal
}

// Witness is a voter's co-signature of the role history's block Seq.
type Witness struct {
	Seq     uint64
	Witness attest.Witness
}

// Fence is checked when a policy shift is applied: the entry must be of the
// term of the leader that decided the shift, and the shape must be the one
// it decided on, unchanged since. A deposed leader's decision, retried and
// forwarded after a heal, so never commits under a leader that decided
// otherwise, nor a decision after shifts it did not see.
type Fence struct {
	Term uint64
	// Basis is the shape's digest at the decision with the index of its
	// last change, hashed (the machine's fenceBasis).
	Basis roles.Digest
}

// ReadOp is the verb of a read.
type ReadOp uint8

// The reads.
const (
	ReadGet  ReadOp = iota + 1 // one resource by Ref
	ReadList                   // every resource of Kind (in Namespace; "" for all)
)

// Read is a read request. A linearizable read (the default) is served once
// the node has applied the index raft's ReadIndex confirmed with a quorum
// (Raft §6.4); a Local read is served at once from the node's own replica and
// reports the revision and staleness it served.
type Read struct {
	Op        ReadOp
	Ref       store.Ref // ReadGet
	Kind      string    // ReadList
	Namespace string    // ReadList
	Local     bool
}

// Payloads inside resources are immutable once handed to a node: messages,
// results and events share them rather than copy them.

// Errors a request can end with besides a roles.Rejection.
var (
	// ErrTimeout: the request was retried RequestRetriesMax times without a
	// result. It may or may not have been applied.
	ErrTimeout = errors.New("node: request timed out")
	// ErrInvalidRequest: Submit was given a request it cannot send.
	ErrInvalidRequest = errors.New("node: invalid request")
	// ErrFenced: a policy shift was refused at apply because the term or
	// the shape it was decided in had changed (see Fence).
	ErrFenced = errors.New("node: policy shift fenced: the mesh moved since it was decided")
	// ErrNotMember: Submit on a node outside the shape, which its peers
	// do not hear: one not admitted yet, or one that left. Nothing was
	// sent; ask a member.
	ErrNotMember = errors.New("node: this node is not a member of the mesh (not admitted yet, or it left)")
)

// Result is the final outcome of a request, delivered once on the node the
// request was submitted to.
type Result struct {
	ID RequestID
	// Index is the log index the request was applied at (0 if it was not).
	Index uint64
	// Changed reports whether the shape changed (false for a command that was
	// already in effect, or a duplicate).
	Changed bool
	// Err is nil when the request was applied or served, a *roles.Rejection
	// when a shift was refused by the shape's rules, a store error (wrapping
	// store.ErrNotFound, ErrConflict, ErrInvalid, ...) for a write or read the
	// store refused, or ErrTimeout.
	Err error
	// Duplicate is set when the request had been applied before (a retry):
	// the result repeats the first outcome, with Resource holding only the
	// Ref and ModRevision of the write.
	Duplicate bool

	Resource store.Resource   // a write's stored (or deleted) resource; a get's resource
	Items    []store.Resource // a list's resources
	Revision store.Revision   // the store revision a read was served at
	// Behind is, for a local read, how many committed entries the replica
	// had not applied yet when it served the read (0 for linearizable reads);
	// for a worker serving its synced state (content.go), how many entries
	// the root it serves is behind the newest root the voters it trusts
	// gossip.
	Behind uint64
}

// MessageKind says what a Message carries.
type MessageKind uint8

// The message kinds.
const (
	MsgRaft    MessageKind = iota + 1 // a Raft message
	MsgForward                        // a request forwarded towards the leader
	MsgResult                         // a request's result, sent to its origin
	MsgGossip                         // a membership message
	MsgShape                          // the leader's shape, for a node outside raft
	MsgContent                        // blob wants, parts and refusals (content.go)
)

func (k MessageKind) String() string {
	switch k {
	case MsgRaft:
		return "raft"
	case MsgForward:
		return "forward"
	case MsgResult:
		return "result"
	case MsgGossip:
		return "gossip"
	case MsgShape:
		return "shape"
	case MsgContent:
		return "content"
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// Message is what nodes send each other. Exactly one of Raft, Request,
// Result, Gossip and Shape is set, matching Kind. Messages are data: the network may drop,
// delay, duplicate or reorder them, and delivers each receiver its own Clone.
type Message struct {
	From, To roles.NodeID
	Kind     MessageKind
	Raft     *pb.Message
	Request  *Request
	Result   *Result
	Gossip   *membership.Message
	Shape    *ShapeNotice
	Content  *ContentMessage
	Hops     uint8 // forwards so far
}

// ShapeNotice is the shape a leader applied at Index, sent to the nodes of
// the shape that raft does not replicate to (workers, a node that joined)
// and to the nodes a shift removed; see view.go.
type ShapeNotice struct {
	Index uint64
	Shape roles.Shape
	// Chain, on the notices a raft member resends, is the tail of its
	// attested role history (at most ShapeNoticeBlocksMax blocks), ending
	// in Shape: a node that no longer knows any member takes the notice if
	// the chain leads back to its own (see Node.StepStranger).
	Chain []attest.Block
}

// ShapeNoticeBlocksMax bounds the blocks a shape notice carries.
const ShapeNoticeBlocksMax = 64

// Clone returns a deep copy of what a receiver may write to: raft mutates
// the messages it steps. Gossip is shared.
func (m Message) Clone() Message {
	c := m
	if m.Raft != nil {
		c.Raft = proto.Clone(m.Raft).(*pb.Message)
	}
	if m.Request != nil {
		r := m.Request.clone()
		c.Request = &r
	}
	if m.Result != nil {
		r := *m.Result
		r.Items = slices.Clone(m.Result.Items)
		c.Result = &r
	}
	// Gossip and Shape are shared: membership never writes to a message,
	// sent or received (its digests are shared between messages too), and
	// a shape is never written to once built.
	return c
}

func (r Request) clone() Request {
	c := r
	c.Shift = slices.Clone(r.Shift)
	if r.Fence != nil {
		f := *r.Fence
		c.Fence = &f
	}
	if r.Write != nil {
		w := *r.Write
		c.Write = &w
	}
	if r.Read != nil {
		rd := *r.Read
		c.Read = &rd
	}
	return c
}

// validate checks that exactly one of Shift, Write and Read is set.
func (r Request) validate() error {
	n := 0
	for _, set := range []bool{len(r.Shift) > 0, r.Write != nil, r.Read != nil, r.Witness != nil} {
		if set {
			n++
		}
	}
	switch {
	case n != 1:
		return fmt.Errorf("%w: a request carries exactly one of a shift, a write, a read or a witness", ErrInvalidRequest)
	case len(r.Shift) > roles.ShiftCommandsMax:
		return fmt.Errorf("%w: a shift takes 1..%d commands, got %d", ErrInvalidRequest, roles.ShiftCommandsMax, len(r.Shift))
	case r.Read != nil && r.Read.Op != ReadGet && r.Read.Op != ReadList:
		return fmt.Errorf("%w: unknown read op %d", ErrInvalidRequest, r.Read.Op)
	case r.Read != nil && r.Read.Op == ReadGet:
		if err := r.Read.Ref.Validate(); err != nil {
			return fmt.Errorf("%w: %w", ErrInvalidRequest, err)
		}
	case r.Read != nil && max(len(r.Read.Kind), len(r.Read.Namespace)) > store.NameBytesMax:
		// A list names no resource, but its kind and namespace travel
		// in the same encoding as a name (package net/wire).
		return fmt.Errorf("%w: a list's kind or namespace over %d bytes", ErrInvalidRequest, store.NameBytesMax)
	case r.Write != nil:
		if err := r.Write.Validate(); err != nil {
			return fmt.Errorf("%w: %w", ErrInvalidRequest, err)
		}
	}
	return nil
}

// Describe is a short canonical description used in traces.
func (m Message) Describe() string {
	if m.Kind == MsgGossip {
		return m.describeGossip()
	}
	var buf [64]byte
	return string(m.AppendDescribe(buf[:0]))
}

// AppendDescribe appends Describe's answer to b, for a trace line built in
// a buffer: it allocates nothing but b's growth.
func (m Message) AppendDescribe(b []byte) []byte {
	switch m.Kind {
	case MsgRaft:
		r := m.Raft
		b = append(b, r.GetType().String()...)
		b = append(b, " t"...)
		b = strconv.AppendUint(b, r.GetTerm(), 10)
		b = append(b, " i"...)
		b = strconv.AppendUint(b, r.GetIndex(), 10)
		b = append(b, " c"...)
		b = strconv.AppendUint(b, r.GetCommit(), 10)
		b = append(b, " n"...)
		return strconv.AppendInt(b, int64(len(r.GetEntries())), 10)
	case MsgForward:
		return m.Request.ID.append(append(b, "forward "...))
	case MsgResult:
		return m.Result.ID.append(append(b, "result "...))
	case MsgGossip:
		return append(b, m.describeGossip()...)
	case MsgContent:
		b = append(b, "content w"...)
		b = strconv.AppendInt(b, int64(len(m.Content.Wants)), 10)
		b = append(b, " p"...)
		b = strconv.AppendInt(b, int64(len(m.Content.Parts)), 10)
		b = append(b, " l"...)
		return strconv.AppendInt(b, int64(len(m.Content.Lacks)), 10)
	}
	return append(b, m.Kind.String()...)
}

func (m Message) describeGossip() string {
	k, n := m.Gossip.Kind, len(m.Gossip.States)
	if int(k) < len(gossipDescribed) && n < len(gossipDescribed[k]) {
		return gossipDescribed[k][n]
	}
	return "gossip " + k.String() + " s" + strconv.Itoa(n)
}

// gossipDescribed[k][n] is the Describe of a gossip message of kind k with
// n states, for the kinds and counts most messages have: made once, so a
// trace line costs no allocation for them.
var gossipDescribed = func() (t [membership.Gossip + 1][33]string) {
	for k := range t {
		for n := range t[k] {
			t[k][n] = "gossip " + membership.MsgKind(k).String() + " s" + strconv.Itoa(n)
		}
	}
	return t
}()

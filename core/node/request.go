package node

import (
	"errors"
	"fmt"

	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"revoada.dev/revoada/core/roles"
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
	return fmt.Sprintf("%s/%d/%d", id.Origin.Short(), id.Incarnation, id.Seq)
}

// Request is a shift of role commands submitted by a client.
type Request struct {
	ID    RequestID
	Shift roles.Shift
}

// Errors a request can end with besides a roles.Rejection.
var (
	// ErrTimeout: the request was retried RequestRetriesMax times without a
	// result. It may or may not have been applied.
	ErrTimeout = errors.New("node: request timed out")
	// ErrInvalidRequest: Submit was given a request it cannot send.
	ErrInvalidRequest = errors.New("node: invalid request")
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
	// Err is nil when the shift was applied, a *roles.Rejection when it was
	// refused by the shape's rules, or ErrTimeout.
	Err error
}

// MessageKind says what a Message carries.
type MessageKind uint8

// The message kinds.
const (
	MsgRaft    MessageKind = iota + 1 // a Raft message
	MsgForward                        // a request forwarded towards the leader
	MsgResult                         // a request's result, sent to its origin
)

func (k MessageKind) String() string {
	switch k {
	case MsgRaft:
		return "raft"
	case MsgForward:
		return "forward"
	case MsgResult:
		return "result"
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// Message is what nodes send each other. Exactly one of Raft, Request and
// Result is set, matching Kind. Messages are data: the network may drop,
// delay, duplicate or reorder them, and delivers each receiver its own Clone.
type Message struct {
	From, To roles.NodeID
	Kind     MessageKind
	Raft     *pb.Message
	Request  *Request
	Result   *Result
	Hops     uint8 // forwards so far
}

// Clone returns a deep copy: raft mutates the messages it steps.
func (m Message) Clone() Message {
	c := m
	if m.Raft != nil {
		c.Raft = proto.Clone(m.Raft).(*pb.Message)
	}
	if m.Request != nil {
		r := *m.Request
		r.Shift = append(roles.Shift(nil), m.Request.Shift...)
		c.Request = &r
	}
	if m.Result != nil {
		r := *m.Result
		c.Result = &r
	}
	return c
}

// Describe is a short canonical description used in traces.
func (m Message) Describe() string {
	switch m.Kind {
	case MsgRaft:
		r := m.Raft
		return fmt.Sprintf("%s t%d i%d c%d n%d", r.GetType(), r.GetTerm(), r.GetIndex(), r.GetCommit(), len(r.GetEntries()))
	case MsgForward:
		return "forward " + m.Request.ID.String()
	case MsgResult:
		return "result " + m.Result.ID.String()
	}
	return m.Kind.String()
}

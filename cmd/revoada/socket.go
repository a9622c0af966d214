package main

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	kjson "sigs.k8s.io/json"

	"revoada.dev/revoada/backend"
	"revoada.dev/revoada/core/node"
	"revoada.dev/revoada/core/roles"
	"revoada.dev/revoada/core/store"
)

// The node socket protocol, version 1: how a client verb reaches the node
// another revoada process runs on the same data directory (see the package
// doc for when). It is local only, a unix socket in the data directory, and
// interim: the HTTPS API of issue 13 replaces it.
//
// A connection carries a sequence of exchanges: the client sends one
// request, the server answers with zero or more frames of an answer's body
// ("item", "doc", "event") and one final frame ("ok", "error", or for a
// watch "closing"). The first request is always "hello". A watch is the
// last exchange of its connection. Every message is a frame: a 4-byte
// big-endian length, then that many bytes (at most frameBytesMax) of one
// JSON object with a "v" field, the protocol version. A message of another
// version is refused with errVersion before the rest of it is read; field
// names match exactly, and unknown or repeated fields are errors.
//
// Every write to the store arrives as an input file ("apply": file name,
// face, format and bytes) that the serving process decodes with the face,
// document by document, as a local apply does; no resource crosses the
// socket into the store, so the socket is no door around a face's checks.

// Protocol constants and limits.
const (
	protocolVersion = 1
	// socketName is the socket's file in the data directory.
	socketName = "revoada.sock"
	// socketPathBytesMax is what a unix socket's address holds (sun_path
	// less its NUL): a longer data directory path is served by no socket.
	socketPathBytesMax = 107
	// frameBytesMax bounds one frame: the largest payload or input file
	// (1 MiB) base64-encoded is 1.4 MiB, and the rest of a message is small.
	frameBytesMax = 2 << 20
	// chainBytesMax bounds a role history sent in one frame: base64 makes
	// it 4/3 as large.
	chainBytesMax = frameBytesMax*3/4 - 1<<10
	// connsMax bounds the connections a node serves at once, watches
	// included; more are answered errBusy, and the verb tries again
	// (busyAttemptsMax). Idle connections are closed (requestWaitMax), so
	// only as many verbs as run at once, and watches, hold one.
	connsMax = 256
	// listItemsMax bounds the items of one list answer a client collects.
	listItemsMax = 1 << 20
	// requestWaitMax is how long a server waits for a connection's next
	// request (the first, hello, or one after an answer; a watch sends
	// none and is exempt), and drainWaitMax how long a closing server waits
	// for a client to send one or hang up, before it drops the connection.
	// A verb sends each request as soon as it can, so a connection silent
	// this long is idle.
	requestWaitMax = 5 * time.Second
	drainWaitMax   = 10 * time.Second
	// frameWriteWaitMax is how long a server waits for a client to take
	// one frame: a client that stops reading (its output piped into a
	// command that reads nothing) is dropped then, so it holds no
	// goroutine, slot or shutdown. A watch client dropped past its
	// initial listing resumes from its next revision.
	frameWriteWaitMax = 5 * time.Second
	// closeWaitMax bounds how long a closing server waits for its
	// connections to end before it drops those still open: no client, one
	// that keeps it busy (a long answer read slowly, an initial listing
	// that does not end) included, holds the process longer.
	closeWaitMax = 30 * time.Second
)

// Request operations.
const (
	opHello  = "hello"
	opApply  = "apply"
	opGet    = "get"
	opList   = "list"
	opDelete = "delete"
	opWatch  = "watch"
	opKinds  = "kinds"
	opStatus = "status"
	opLeave  = "leave"
	opAdmit  = "admit"
	opShift  = "shift"
	// opNetFaults sets the node's message loss and duplication
	// (transport.Faulty): the fault injection of 'revoada real', open to
	// whoever may connect, the data directory's owner, who may as well
	// kill the node.
	opNetFaults = "net-faults"
	// opClockRate sets the speed of the node's clock (host's
	// SetClockRate), 'revoada real's clock fault; the owner's only, as
	// opNetFaults.
	opClockRate = "clock-rate"
	// opChain reads the node's attested role history.
	opChain = "chain"
)

// Answer frame types.
const (
	ansItem    = "item"    // one resource of a list
	ansDoc     = "doc"     // one outcome of an apply
	ansEvent   = "event"   // one watch event
	ansOK      = "ok"      // the exchange succeeded (a watch: it ended after a Reset event)
	ansError   = "error"   // the exchange failed: Err says why
	ansClosing = "closing" // a watch ends because the serving process exits: resume elsewhere
)

// Protocol errors. Every error reading or decoding a frame wraps one of
// them.
var (
	errFrameTooLarge  = errors.New("revoada: socket: frame too large")
	errFrameTruncated = errors.New("revoada: socket: frame truncated")
	errMessage        = errors.New("revoada: socket: malformed message")
	errVersion        = errors.New("revoada: socket: unsupported protocol version")
	errOp             = errors.New("revoada: socket: unknown request")
	errBusy           = errors.New("revoada: socket: busy: the process serving the data directory has too many connections")
	// errSocketPath: the data directory's path leaves no room for its
	// socket in a unix socket address, so its holder serves no other
	// command.
	errSocketPath = errors.New("more than a unix socket address holds")
	// errNodeGone: the process serving the data directory ended the
	// connection (it exits, or was killed).
	errNodeGone = errors.New("revoada: the process serving the data directory went away")
)

// checkSocketPath refuses a socket path longer than a unix socket address
// holds (errSocketPath), saying what to do.
func checkSocketPath(path string) error {
	if len(path) <= socketPathBytesMax {
		return nil
	}
	return fmt.Errorf("its socket %s would be %d bytes, %w (%d); give --data a shorter path (relative, or through a symlink)",
		path, len(path), errSocketPath, socketPathBytesMax)
}

// request is one client request.
type request struct {
	V         int            `json:"v"`
	Op        string         `json:"op"`
	Ref       *store.Ref     `json:"ref,omitempty"`       // get, delete
	Kind      string         `json:"kind,omitempty"`      // list, watch
	Namespace string         `json:"namespace,omitempty"` // list
	From      store.Revision `json:"from,omitempty"`      // watch
	Apply     *applyInput    `json:"apply,omitempty"`     // apply
	Node      string         `json:"node,omitempty"`      // admit: ID@HOST:PORT
	Expect    *store.Expect  `json:"expect,omitempty"`    // delete: its expected revision
	Shift     []byte         `json:"shift,omitempty"`     // shift: roles.AppendShift's encoding
	Loss      float64        `json:"loss,omitempty"`      // net-faults
	Duplicate float64        `json:"duplicate,omitempty"` // net-faults
	Rate      float64        `json:"rate,omitempty"`      // clock-rate
}

// answer is one frame of an answer.
type answer struct {
	V        int             `json:"v"`
	Type     string          `json:"type"`
	Resource *store.Resource `json:"resource,omitempty"` // item; ok of get and delete
	Revision store.Revision  `json:"revision,omitempty"` // ok of list; ok or error of get: the revision served
	Event    *store.Event    `json:"event,omitempty"`    // event
	Doc      *wireDoc        `json:"doc,omitempty"`      // doc
	Kinds    []string        `json:"kinds,omitempty"`    // ok of kinds
	Status   *meshStatus     `json:"status,omitempty"`   // ok of status
	Changed  bool            `json:"changed,omitempty"`  // ok of admit: the shape changed
	Chain    []byte          `json:"chain,omitempty"`    // ok of chain: attest.AppendChain's bytes
	Err      *wireError      `json:"err,omitempty"`      // error; doc
}

// wireDoc is a docResult on the wire.
type wireDoc struct {
	Where    string         `json:"where,omitempty"`
	Ref      store.Ref      `json:"ref"`
	Revision store.Revision `json:"revision,omitempty"`
	Invalid  bool           `json:"invalid,omitempty"`
}

// wireError is an error on the wire: a code naming its sentinel, and its
// text.
type wireError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// wireCodes name the sentinels an error may wrap, most specific first.
var wireCodes = []struct {
	code string
	err  error
}{
	{"not_found", store.ErrNotFound}, {"conflict", store.ErrConflict}, {"invalid", store.ErrInvalid},
	{"unsupported", store.ErrUnsupported}, {"compacted", store.ErrCompacted},
	{"watch_overflow", backend.ErrWatchOverflow}, {"version", errVersion}, {"busy", errBusy},
	{"frame_too_large", errFrameTooLarge}, {"frame_truncated", errFrameTruncated},
	{"message", errMessage}, {"op", errOp}, {"timeout", node.ErrTimeout},
	{"rejected-unknown-node", roles.ErrUnknownNode}, {"rejected-last-voter", roles.ErrLastVoter},
	{"rejected-quarantined", roles.ErrQuarantined}, {"rejected-observer", roles.ErrObserver},
	{"rejected-invalid-command", roles.ErrInvalidCommand}, {"rejected-empty-shift", roles.ErrEmptyShift},
	{"rejected-stale", roles.ErrStale},
}

func toWire(err error) *wireError {
	if err == nil {
		return nil
	}
	for _, c := range wireCodes {
		if errors.Is(err, c.err) {
			return &wireError{Code: c.code, Message: err.Error()}
		}
	}
	return &wireError{Code: "other", Message: err.Error()}
}

// remoteError is an error the serving process answered: its text, wrapping
// the sentinel its code names (none for "other" or a code this version
// does not know).
type remoteError struct {
	msg      string
	sentinel error
}

func (e *remoteError) Error() string { return e.msg }
func (e *remoteError) Unwrap() error { return e.sentinel }

func fromWire(w *wireError) error {
	if w == nil {
		return nil
	}
	e := &remoteError{msg: w.Message}
	for _, c := range wireCodes {
		if c.code == w.Code {
			e.sentinel = c.err
		}
	}
	return e
}

// writeFrame writes v as one frame, in one Write.
func writeFrame(w io.Writer, v any) error {
	body, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("revoada: socket: encoding %T: %v", v, err)) // our own types always encode
	}
	if len(body) > frameBytesMax {
		return fmt.Errorf("%w: %d bytes, limit %d", errFrameTooLarge, len(body), frameBytesMax)
	}
	frame := binary.BigEndian.AppendUint32(make([]byte, 0, 4+len(body)), uint32(len(body)))
	_, err = w.Write(append(frame, body...))
	return err
}

// readFrame reads one frame's body. It returns io.EOF at a clean end
// (nothing read), errFrameTruncated for a frame cut short, and
// errFrameTooLarge, before allocating, for a length over frameBytesMax.
func readFrame(r io.Reader) ([]byte, error) {
	var hdr [4]byte
	switch _, err := io.ReadFull(r, hdr[:]); {
	case err == io.EOF:
		return nil, io.EOF
	case errors.Is(err, io.ErrUnexpectedEOF):
		return nil, fmt.Errorf("%w: %d-byte length", errFrameTruncated, len(hdr))
	case err != nil:
		return nil, err
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if n > frameBytesMax {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", errFrameTooLarge, n, frameBytesMax)
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(r, body); errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return nil, fmt.Errorf("%w: %d bytes of %d", errFrameTruncated, len(body), n)
	} else if err != nil {
		return nil, err
	}
	return body, nil
}

// decodeMessage decodes a frame's body into a message of type T: first its
// version alone (errVersion for any but protocolVersion), then strictly
// (errMessage for anything but one JSON object of T's fields). Both decodes
// match field names exactly, as sigs.k8s.io/json does for kube-apiserver:
// "OP" is no "op", and a field given twice is an error.
func decodeMessage[T any](body []byte) (T, error) {
	var msg T
	var probe struct {
		V *int `json:"v"`
	}
	if err := kjson.UnmarshalCaseSensitivePreserveInts(body, &probe); err != nil {
		return msg, fmt.Errorf("%w: %v", errMessage, err)
	}
	if probe.V == nil || *probe.V != protocolVersion {
		v := "none"
		if probe.V != nil {
			v = fmt.Sprint(*probe.V)
		}
		return msg, fmt.Errorf("%w: version %s, this revoada speaks %d", errVersion, v, protocolVersion)
	}
	strict, err := kjson.UnmarshalStrict(body, &msg)
	if err == nil {
		err = errors.Join(strict...)
	}
	if err != nil {
		return msg, fmt.Errorf("%w: %v", errMessage, err)
	}
	return msg, nil
}

// readMessage reads and decodes one frame.
func readMessage[T any](r io.Reader) (T, error) {
	body, err := readFrame(r)
	if err != nil {
		var zero T
		return zero, err
	}
	return decodeMessage[T](body)
}

package api

import (
	"context"
	"errors"
	"net/http"
	"unicode/utf8"

	"revoada.dev/revoada/backend"
	"revoada.dev/revoada/core/face"
	"revoada.dev/revoada/core/node"
	"revoada.dev/revoada/core/roles"
	"revoada.dev/revoada/core/store"
)

// ApplyInput is a file to apply: its base name, the face and format to
// decode it with, and its bytes.
type ApplyInput struct {
	File   string       `json:"file"`
	Face   string       `json:"face"`
	Format store.Format `json:"format"`
	Data   []byte       `json:"data"`
	// Expect, if set, is every resource's expected revision (a
	// compare-and-swap apply; 0 means "create only").
	Expect *store.Expect `json:"expect,omitempty"`
}

// DocResult is one outcome of an apply: a resource applied at Revision, or
// a document that failed (Invalid when it did not decode, with Ref unset).
type DocResult struct {
	Where    string // "document 2"; "" for a whole file
	Ref      store.Ref
	Revision store.Revision
	Err      error
	Invalid  bool
}

// ApplyFile decodes in with its face, document by document
// (face.DecodeEach), applies each resource to b, and calls each with every
// outcome in order. It checks ctx before each resource and applies each to
// its end whatever ctx does meanwhile, so that every resource the store
// takes is reported: an interrupted apply returns ctx's error once the
// resource in flight is applied and reported, and applies nothing after
// it. Its error is ctx's or an unknown face, never a document's.
func ApplyFile(ctx context.Context, b backend.Backend, in ApplyInput, each func(DocResult)) error {
	fc, err := face.ByName(in.Face)
	if err != nil {
		return err
	}
	var exp store.Expect
	if in.Expect != nil {
		exp = *in.Expect
	}
	for _, d := range face.DecodeEach(fc, in.File, in.Data, in.Format) {
		if d.Err != nil {
			each(DocResult{Where: d.Where, Err: d.Err, Invalid: true})
			continue
		}
		for _, r := range d.Resources {
			if err := ctx.Err(); err != nil {
				return err
			}
			got, err := b.Apply(context.WithoutCancel(ctx), r, exp)
			each(DocResult{Where: d.Where, Ref: r.Ref, Revision: got.ModRevision, Err: err})
		}
	}
	return ctx.Err()
}

// servedGetter is a backend that says at which revision it served a get,
// and for a local one how far behind the replica was (real/host's).
type servedGetter interface {
	GetBehind(ctx context.Context, ref store.Ref, opt backend.ReadOptions) (store.Resource, store.Revision, uint64, error)
}

// Get reads ref from b and says at which store revision it was served
// when b tells (0 when not).
func Get(ctx context.Context, b backend.Backend, ref store.Ref, opt backend.ReadOptions) (store.Resource, store.Revision, error) {
	r, rev, _, err := getBehind(ctx, b, ref, opt)
	return r, rev, err
}

// getBehind is Get, and how far behind a local read was (List.Behind).
func getBehind(ctx context.Context, b backend.Backend, ref store.Ref, opt backend.ReadOptions) (store.Resource, store.Revision, uint64, error) {
	if g, ok := b.(servedGetter); ok {
		return g.GetBehind(ctx, ref, opt)
	}
	r, err := b.Get(ctx, ref, opt)
	return r, 0, 0, err
}

// Chain is a replica's attested role history on the wire: its blocks in
// attest's encoding (attest.AppendChain), and how many.
type Chain struct {
	Blocks  int    `json:"blocks"`
	Encoded []byte `json:"encoded"`
}

// MeshStatus is what a node knows of its mesh.
type MeshStatus struct {
	ID       string       `json:"id"`
	Term     uint64       `json:"term"`
	State    string       `json:"state"`  // this node's raft state
	Leader   string       `json:"leader"` // the node ID of the leader it knows, "" for none
	Applied  uint64       `json:"applied"`
	Nodes    []NodeStatus `json:"nodes"`
	Decision string       `json:"decision,omitempty"` // its last audit as leader
}

// NodeStatus is one node of the shape, with its gossiped health.
type NodeStatus struct {
	ID     string `json:"id"`
	Roles  string `json:"roles"`
	Health string `json:"health"`
}

// Resource is a store.Resource on the wire: its payload as text when it
// is UTF-8 (every face's formats but native), else in base64.
type Resource struct {
	Kind           string         `json:"kind"`
	Namespace      string         `json:"namespace,omitempty"`
	Name           string         `json:"name"`
	Face           string         `json:"face"`
	Format         string         `json:"format"`
	Payload        *string        `json:"payload,omitempty"`
	PayloadBase64  []byte         `json:"payloadBase64,omitempty"`
	CreateRevision store.Revision `json:"createRevision"`
	ModRevision    store.Revision `json:"modRevision"`
	Version        int64          `json:"version"`
}

func toResource(r store.Resource) Resource {
	w := Resource{Kind: r.Ref.Kind, Namespace: r.Ref.Namespace, Name: r.Ref.Name, Face: r.Face,
		Format: r.Format.String(), CreateRevision: r.CreateRevision, ModRevision: r.ModRevision, Version: r.Version}
	if utf8.Valid(r.Payload) && r.Format != store.Native {
		s := string(r.Payload)
		w.Payload = &s
	} else {
		w.PayloadBase64 = r.Payload
	}
	return w
}

func (w Resource) resource() (store.Resource, error) {
	fm, err := store.ParseFormat(w.Format)
	if err != nil {
		return store.Resource{}, err
	}
	r := store.Resource{Ref: store.Ref{Kind: w.Kind, Namespace: w.Namespace, Name: w.Name}, Face: w.Face, Format: fm,
		Payload: w.PayloadBase64, CreateRevision: w.CreateRevision, ModRevision: w.ModRevision, Version: w.Version}
	if w.Payload != nil {
		r.Payload = []byte(*w.Payload)
	}
	return r, nil
}

// Event is a store.Event on the wire; ERROR ends a stream with Error.
type Event struct {
	Type     string         `json:"type"` // ADDED, MODIFIED, DELETED, BOOKMARK, RESET, ERROR
	Revision store.Revision `json:"revision,omitempty"`
	Resource *Resource      `json:"resource,omitempty"`
	Error    *Error         `json:"error,omitempty"`
}

// List is a list's answer.
type List struct {
	Revision store.Revision `json:"revision"`
	Items    []Resource     `json:"items"`
}

// Doc is a DocResult on the wire.
type Doc struct {
	Where     string         `json:"where,omitempty"`
	Kind      string         `json:"kind,omitempty"`
	Namespace string         `json:"namespace,omitempty"`
	Name      string         `json:"name,omitempty"`
	Revision  store.Revision `json:"revision,omitempty"`
	Invalid   bool           `json:"invalid,omitempty"`
	Error     *Error         `json:"error,omitempty"`
}

// Applied is an apply's answer: an outcome per resource or document, and
// the error that cut the apply short, if one did (no document after those
// was applied).
type Applied struct {
	Documents []Doc  `json:"documents"`
	Error     *Error `json:"error,omitempty"`
}

// Error is an error on the wire: a code naming its class, its text, and
// what the class carries.
type Error struct {
	Code     string         `json:"code"`
	Message  string         `json:"message"`
	Current  store.Revision `json:"current,omitempty"`  // conflict: the current revision (0: absent)
	Revision store.Revision `json:"revision,omitempty"` // a get not found: the revision served
}

// The API's own error classes, beside the store's, the node's and the
// roles'.
var (
	ErrUnauthenticated = errors.New("api: no valid credentials")
	ErrForbidden       = errors.New("api: not allowed")
	ErrBadRequest      = errors.New("api: bad request")
	ErrTooLarge        = errors.New("api: request body too large")
	ErrTooMany         = errors.New("api: too many requests")
	ErrUnavailable     = errors.New("api: unavailable")
	ErrNoMesh          = errors.New("api: this node runs no mesh")
)

// code is an error class: its name on the wire, the sentinel it wraps,
// and its HTTP status.
type code struct {
	name   string
	err    error
	status int
}

// codes are the error classes, most specific first.
var codes = []code{
	{"not_found", store.ErrNotFound, http.StatusNotFound},
	{"conflict", store.ErrConflict, http.StatusConflict},
	{"invalid", store.ErrInvalid, http.StatusUnprocessableEntity},
	{"unsupported", store.ErrUnsupported, http.StatusBadRequest},
	{"compacted", store.ErrCompacted, http.StatusGone},
	{"watch_overflow", backend.ErrWatchOverflow, http.StatusServiceUnavailable},
	{"timeout", node.ErrTimeout, http.StatusGatewayTimeout},
	{"unauthenticated", ErrUnauthenticated, http.StatusUnauthorized},
	{"forbidden", ErrForbidden, http.StatusForbidden},
	{"bad_request", ErrBadRequest, http.StatusBadRequest},
	{"too_large", ErrTooLarge, http.StatusRequestEntityTooLarge},
	{"too_many", ErrTooMany, http.StatusTooManyRequests},
	{"unavailable", ErrUnavailable, http.StatusServiceUnavailable},
	{"no_mesh", ErrNoMesh, http.StatusNotFound},
	{"rejected-unknown-node", roles.ErrUnknownNode, http.StatusUnprocessableEntity},
	{"rejected-last-voter", roles.ErrLastVoter, http.StatusUnprocessableEntity},
	{"rejected-quarantined", roles.ErrQuarantined, http.StatusUnprocessableEntity},
	{"rejected-observer", roles.ErrObserver, http.StatusUnprocessableEntity},
	{"rejected-invalid-command", roles.ErrInvalidCommand, http.StatusUnprocessableEntity},
	{"rejected-empty-shift", roles.ErrEmptyShift, http.StatusUnprocessableEntity},
	{"rejected-stale", roles.ErrStale, http.StatusUnprocessableEntity},
	{"canceled", context.Canceled, 499}, // nginx's "client closed request": nobody reads it
	{"deadline", context.DeadlineExceeded, http.StatusGatewayTimeout},
}

// ToError is err on the wire, and its HTTP status: 500 and code "other"
// for an error of no known class.
func ToError(err error) (*Error, int) {
	if err == nil {
		return nil, http.StatusOK
	}
	w := &Error{Code: "other", Message: err.Error()}
	status := http.StatusInternalServerError
	for _, c := range codes {
		if errors.Is(err, c.err) {
			w.Code, status = c.name, c.status
			break
		}
	}
	if ce := (*store.ConflictError)(nil); errors.As(err, &ce) {
		w.Current = ce.Current
	}
	return w, status
}

// RemoteError is an error a server answered: its text, wrapping the
// sentinel its code names (none for "other" or a code this version does
// not know), and the HTTP status it came with.
type RemoteError struct {
	Wire   Error
	Status int
}

func (e *RemoteError) Error() string { return e.Wire.Message }

// Unwrap is the sentinel of the error's code, if this version knows it;
// the end of the server's context is not the client's: "canceled" is
// ErrUnavailable, "deadline" node.ErrTimeout (an outcome unknown), never
// the context errors a caller takes for its own interrupt or deadline.
func (e *RemoteError) Unwrap() error {
	for _, c := range codes {
		if c.name != e.Wire.Code {
			continue
		}
		switch c.err {
		case context.Canceled:
			return ErrUnavailable
		case context.DeadlineExceeded:
			return node.ErrTimeout
		}
		return c.err
	}
	return nil
}

// Err is w as an error (nil for nil): a *RemoteError.
func (w *Error) Err(status int) error {
	if w == nil {
		return nil
	}
	return &RemoteError{Wire: *w, Status: status}
}

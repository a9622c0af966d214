package node

import (
	"crypto/ed25519"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	"revoada.dev/revoada/core/roles"
	"revoada.dev/revoada/core/store"
)

// The wire encodings of a Request and a Result (version 1), the bodies of a
// forwarded request and of a result message (net/wire frames them).
// Integers are big-endian; str16 is a u16 length and the bytes.
//
//	request := version:u8 id at:u64 fence body
//	id      := origin:[32]u8 incarnation:u64 seq:u64
//	fence   := 0 | 1 term:u64 basis:[32]u8      (the stamped entry payload's)
//	body    := 1 shift | 2 command | 3 read | 4 witness  (roles.AppendShift, store.AppendCommand)
//	read    := op:u8 local:u8 ref scope         (store.AppendRef; scope is {Kind, Namespace, ""})
//	witness := seq:u64 signer:[32]u8 sig:[64]u8 (a co-signature of the role history's block seq)
//
//	result  := version:u8 id index:u64 flags:u8 revision:u64 behind:u64
//	           err [resource] items:u32 resource*
//	flags   := changed:1 duplicate:2 resource:4  (the resource follows iff set)
//	err     := 0                                 no error
//	         | 1 sentinel:u8                     one of wireSentinels, itself
//	         | 2 code:u8 command:u16 detail:str16           *roles.Rejection
//	         | 3 ref want:u64 current:u64                   *store.ConflictError
//	         | 4 field:str16 reason:str16                   *store.InvalidError
//	         | 5 sentinel:u8 text:str16          any other: the first of
//	                                             wireSentinels it wraps (0: none)
//
// An error of class 5 decodes as the dedup table rebuilds a stored one: a
// replayedErr wrapping the sentinel, or errors.New(text) when there is none.
//
// The encodings are canonical: DecodeRequest and DecodeResult accept exactly
// the bytes AppendRequest and AppendResult produce, so decoding and encoding
// again gives the same bytes. A decoded error satisfies errors.Is and
// errors.As as the original did, for the sentinels and types above; the
// sentinels decode to themselves, so `err == ErrFenced` holds across the
// wire. Error text is for people: a text over ErrorTextBytesMax is cut.
const (
	wireVersion = 1
	// ErrorTextBytesMax bounds each text of an error in a Result on the
	// wire: a rejection's detail, an invalid input's field and reason, the
	// message of any other error.
	ErrorTextBytesMax = 1 << 10

	bodyShift, bodyWrite, bodyRead, bodyWitness = 1, 2, 3, 4

	flagChanged, flagDuplicate, flagResource = 1, 2, 4
	flagsAll                                 = flagChanged | flagDuplicate | flagResource

	errNone, errSentinel, errRejection, errConflict, errInvalid, errOther = 0, 1, 2, 3, 4, 5
)

// ErrCorruptMessage is wrapped by every error of DecodeRequest and
// DecodeResult.
var ErrCorruptMessage = errors.New("node: corrupt request or result encoding")

// wireSentinels are the errors a Result carries by number; index 0 is none.
var wireSentinels = []error{nil, ErrTimeout, ErrInvalidRequest, ErrFenced,
	store.ErrNotFound, store.ErrConflict, store.ErrInvalid, store.ErrUnsupported, store.ErrCompacted}

// resourceBytesMin is the encoded size of the smallest resource envelope:
// what each of a result's items takes at least.
var resourceBytesMin = len(store.AppendResource(nil, store.Resource{}))

// AppendRequest appends r's wire encoding to b. r carries exactly one of a
// shift, a write and a read (as Submit checks); it panics otherwise.
func AppendRequest(b []byte, r Request) []byte {
	b = append(b, wireVersion)
	b = appendRequestID(b, r.ID)
	b = appendFence(b, r.Fence)
	switch {
	case len(r.Shift) > 0 && r.Write == nil && r.Read == nil:
		return roles.AppendShift(append(b, bodyShift), r.Shift)
	case len(r.Shift) == 0 && r.Write != nil && r.Read == nil:
		return store.AppendCommand(append(b, bodyWrite), *r.Write)
	case len(r.Shift) == 0 && r.Write == nil && r.Read != nil:
		rd := r.Read
		b = append(b, bodyRead, byte(rd.Op), boolByte(rd.Local))
		b = store.AppendRef(b, rd.Ref)
		return store.AppendRef(b, store.Ref{Kind: rd.Kind, Namespace: rd.Namespace})
	case len(r.Shift) == 0 && r.Write == nil && r.Read == nil && r.Witness != nil:
		return appendWitness(append(b, bodyWitness), r.Witness)
	}
	panic(fmt.Sprintf("node: encoding request %s with none or several of a shift, a write, a read and a witness", r.ID))
}

// DecodeRequest decodes one request from the front of b and returns the
// bytes after it. It checks the structure and ranges (a shift of
// 1..roles.ShiftCommandsMax commands, a known read op, flags of 0 or 1);
// the store validates a write's content when it executes. Nothing in the
// request aliases b.
//
// Errors: ErrCorruptMessage, naming the field and wrapping the part's own
// error (roles.ErrCorrupt, store.ErrInvalid, store.ErrUnsupported).
func DecodeRequest(b []byte) (Request, []byte, error) {
	d := decoder{b: b}
	if v := d.u8(); d.err == nil && v != wireVersion {
		return Request{}, nil, corrupt("request version", fmt.Errorf("%d, this build reads %d", v, wireVersion))
	}
	var r Request
	r.ID = d.requestID()
	if d.err != nil {
		return Request{}, nil, corrupt("request", d.err)
	}
	rest, err := decodeFence(&r, d.b)
	if err != nil {
		return Request{}, nil, corrupt("request fence", err)
	}
	d.b = rest
	switch body := d.u8(); {
	case d.err != nil:
		return Request{}, nil, corrupt("request body", d.err)
	case body == bodyShift:
		r.Shift, d.b, err = roles.DecodeShift(d.b)
		if err == nil && len(r.Shift) == 0 {
			err = errors.New("a shift of no commands")
		}
	case body == bodyWrite:
		var c store.Command
		c, d.b, err = store.DecodeCommand(d.b)
		c.Snapshot = cloneBytes(c.Snapshot) // DecodeCommand aliases it to b
		r.Write = &c
	case body == bodyRead:
		r.Read, err = d.read()
	case body == bodyWitness:
		r.Witness, d.b, err = decodeWitness(d.b)
	default:
		err = fmt.Errorf("body kind %d", body)
	}
	if err != nil {
		return Request{}, nil, corrupt("request body", err)
	}
	return r, d.b, nil
}

// witnessBytes is a witness body's size: seq:u64 signer:[32]u8 sig:[64]u8.
const witnessBytes = 8 + 32 + ed25519.SignatureSize

func appendWitness(b []byte, w *Witness) []byte {
	b = binary.BigEndian.AppendUint64(b, w.Seq)
	b = append(b, w.Witness.Signer[:]...)
	return append(b, w.Witness.Sig[:]...)
}

// decodeWitness decodes a witness body and returns the bytes after it.
func decodeWitness(b []byte) (*Witness, []byte, error) {
	if len(b) < witnessBytes {
		return nil, nil, fmt.Errorf("a witness of %d bytes, want %d", len(b), witnessBytes)
	}
	w := &Witness{Seq: binary.BigEndian.Uint64(b)}
	copy(w.Witness.Signer[:], b[8:])
	copy(w.Witness.Sig[:], b[40:])
	return w, b[witnessBytes:], nil
}

// read decodes a read body after its kind byte.
func (d *decoder) read() (*Read, error) {
	rd := &Read{Op: ReadOp(d.u8())}
	local := d.u8()
	switch {
	case d.err != nil:
		return nil, d.err
	case rd.Op != ReadGet && rd.Op != ReadList:
		return nil, fmt.Errorf("read op %d", rd.Op)
	case local > 1:
		return nil, fmt.Errorf("read local flag %d", local)
	}
	rd.Local = local == 1
	var scope store.Ref
	var err error
	if rd.Ref, d.b, err = store.DecodeRef(d.b); err != nil {
		return nil, err
	}
	if scope, d.b, err = store.DecodeRef(d.b); err != nil {
		return nil, err
	}
	if scope.Name != "" {
		return nil, fmt.Errorf("a read's scope names %q", scope.Name)
	}
	rd.Kind, rd.Namespace = scope.Kind, scope.Namespace
	return rd, nil
}

// AppendResult appends r's wire encoding to b.
func AppendResult(b []byte, r Result) []byte {
	b = append(b, wireVersion)
	b = appendRequestID(b, r.ID)
	b = binary.BigEndian.AppendUint64(b, r.Index)
	hasResource := !resourceZero(r.Resource)
	b = append(b, boolByte(r.Changed)*flagChanged|boolByte(r.Duplicate)*flagDuplicate|boolByte(hasResource)*flagResource)
	b = binary.BigEndian.AppendUint64(b, uint64(r.Revision))
	b = binary.BigEndian.AppendUint64(b, r.Behind)
	b = appendWireErr(b, r.Err)
	if hasResource {
		b = store.AppendResource(b, r.Resource)
	}
	b = binary.BigEndian.AppendUint32(b, uint32(len(r.Items)))
	for _, it := range r.Items {
		b = store.AppendResource(b, it)
	}
	return b
}

// DecodeResult decodes one result from the front of b and returns the
// bytes after it. The item count is checked against the bytes present
// (each item takes at least resourceBytesMin) before anything is
// allocated for it. Nothing in the result aliases b.
//
// Errors: ErrCorruptMessage, naming the field and wrapping the part's own
// error (store.ErrInvalid, store.ErrUnsupported).
func DecodeResult(b []byte) (Result, []byte, error) {
	d := decoder{b: b}
	if v := d.u8(); d.err == nil && v != wireVersion {
		return Result{}, nil, corrupt("result version", fmt.Errorf("%d, this build reads %d", v, wireVersion))
	}
	r := Result{ID: d.requestID(), Index: d.u64()}
	flags := d.u8()
	r.Changed, r.Duplicate = flags&flagChanged != 0, flags&flagDuplicate != 0
	r.Revision, r.Behind = store.Revision(d.u64()), d.u64()
	if d.err == nil && flags&^flagsAll != 0 {
		d.err = fmt.Errorf("flags %#x", flags)
	}
	if d.err == nil {
		r.Err = d.wireErr()
	}
	if d.err != nil {
		return Result{}, nil, corrupt("result", d.err)
	}
	var err error
	if flags&flagResource != 0 {
		if r.Resource, d.b, err = store.DecodeResource(d.b); err != nil {
			return Result{}, nil, corrupt("result resource", err)
		}
		if resourceZero(r.Resource) {
			return Result{}, nil, corrupt("result resource", errors.New("an empty resource marked present"))
		}
	}
	n := int(d.u32())
	switch {
	case d.err != nil:
		return Result{}, nil, corrupt("result items", d.err)
	case n > len(d.b)/resourceBytesMin:
		return Result{}, nil, corrupt("result items", fmt.Errorf("%d items in %d bytes", n, len(d.b)))
	case n > 0:
		r.Items = make([]store.Resource, n)
	}
	for i := range r.Items {
		if r.Items[i], d.b, err = store.DecodeResource(d.b); err != nil {
			return Result{}, nil, corrupt(fmt.Sprintf("result item %d", i), err)
		}
	}
	return r, d.b, nil
}

func appendRequestID(b []byte, id RequestID) []byte {
	b = append(b, id.Origin[:]...)
	b = binary.BigEndian.AppendUint64(b, id.Incarnation)
	return binary.BigEndian.AppendUint64(b, id.Seq)
}

func (d *decoder) requestID() RequestID {
	var id RequestID
	copy(id.Origin[:], d.bytes(len(id.Origin)))
	id.Incarnation, id.Seq = d.u64(), d.u64()
	return id
}

func resourceZero(r store.Resource) bool {
	return r.Ref == (store.Ref{}) && r.Face == "" && r.Format == 0 && r.CreateRevision == 0 &&
		r.ModRevision == 0 && r.Version == 0 && len(r.Payload) == 0
}

func appendWireErr(b []byte, err error) []byte {
	switch e := err.(type) {
	case nil:
		return append(b, errNone)
	case *roles.Rejection:
		if e.Command < 0 || e.Command > 0xffff {
			panic(fmt.Sprintf("node: encoding a rejection of command %d", e.Command))
		}
		b = append(b, errRejection, byte(e.Code))
		b = binary.BigEndian.AppendUint16(b, uint16(e.Command))
		return appendErrText(b, e.Detail)
	case *store.ConflictError:
		b = store.AppendRef(append(b, errConflict), e.Ref)
		b = binary.BigEndian.AppendUint64(b, uint64(e.Want))
		return binary.BigEndian.AppendUint64(b, uint64(e.Current))
	case *store.InvalidError:
		return appendErrText(appendErrText(append(b, errInvalid), e.Field), e.Reason)
	}
	if i := slices.Index(wireSentinels, err); i > 0 {
		return append(b, errSentinel, byte(i))
	}
	wrapped := slices.IndexFunc(wireSentinels[1:], func(s error) bool { return errors.Is(err, s) }) + 1
	return appendErrText(append(b, errOther, byte(wrapped)), err.Error())
}

// appendErrText appends s, cut to ErrorTextBytesMax, as a str16.
func appendErrText(b []byte, s string) []byte {
	s = s[:min(len(s), ErrorTextBytesMax)]
	b = binary.BigEndian.AppendUint16(b, uint16(len(s)))
	return append(b, s...)
}

func (d *decoder) errText() string {
	n := int(d.u16())
	if d.err == nil && n > ErrorTextBytesMax {
		d.err = fmt.Errorf("error text of %d bytes, limit %d", n, ErrorTextBytesMax)
	}
	return string(d.bytes(n))
}

// sentinel reads a wireSentinels index; none (0) only if allowNone.
func (d *decoder) sentinel(allowNone bool) error {
	i := int(d.u8())
	if d.err == nil && (i >= len(wireSentinels) || i == 0 && !allowNone) {
		d.err = fmt.Errorf("error sentinel %d", i)
		return nil
	}
	return wireSentinels[min(i, len(wireSentinels)-1)]
}

// wireErr decodes an err; a failure is left in d.err.
func (d *decoder) wireErr() error {
	switch class := d.u8(); class {
	case errNone:
		return nil
	case errSentinel:
		return d.sentinel(false)
	case errRejection:
		return &roles.Rejection{Code: roles.RejectCode(d.u8()), Command: int(d.u16()), Detail: d.errText()}
	case errConflict:
		ref, rest, err := store.DecodeRef(d.b)
		if err != nil {
			d.err = err
			return nil
		}
		d.b = rest
		return &store.ConflictError{Ref: ref, Want: store.Revision(d.u64()), Current: store.Revision(d.u64())}
	case errInvalid:
		return &store.InvalidError{Field: d.errText(), Reason: d.errText()}
	case errOther: // as the dedup table rebuilds a stored error
		sentinel, text := d.sentinel(true), d.errText()
		if sentinel == nil {
			return errors.New(text)
		}
		return &replayedErr{sentinel: sentinel, msg: text}
	default:
		if d.err == nil {
			d.err = fmt.Errorf("error class %d", class)
		}
		return nil
	}
}

// cloneBytes copies b; an empty b is nil, as the store keeps payloads.
func cloneBytes(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return slices.Clone(b)
}

func corrupt(field string, err error) error {
	return fmt.Errorf("%w: %s: %w", ErrCorruptMessage, field, err)
}

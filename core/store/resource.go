// Package store is revoada's resource model and the pure, revisioned store
// state machine behind all five faces.
//
// Every write gets the next Revision; a resource carries the revision that
// created it and the one that last modified it (its resourceVersion). Apply is
// create-or-update with an optional precondition (compare-and-swap on the
// modify revision, or "must not exist"); Delete may carry one too. Watchers
// read the event history from a revision; history older than the compaction
// point answers ErrCompacted ("too old"), and a restore answers with a Reset.
//
// Errors are typed (ErrNotFound, ErrConflict, ErrInvalid, ErrUnsupported,
// ErrCompacted) and wrapped with detail; test them with errors.Is.
//
// Store is not safe for concurrent use; drive it from one goroutine (it is
// the state machine inside the Raft log). Concurrency-safe wrappers live
// outside core.
//
// # Encodings
//
// Three binary encodings, all version 1, with fixed field order, explicit
// lengths and big-endian integers, so equal values encode to equal bytes:
//
//	str      := len:u16 byte*len                      // len <= NameBytesMax
//	ref      := kind:str namespace:str name:str
//
//	resource := version:u8 (=1)                       // the native envelope
//	            ref face:str format:u8
//	            createRevision:u64 modRevision:u64
//	            version:u64                           // Resource.Version, two's complement
//	            payloadLen:u32 payload:byte*payloadLen // payloadLen <= PayloadBytesMax
//
//	command  := version:u8 (=1) op:u8
//	            expectSet:u8 (0|1) expectRevision:u64 // expectRevision is 0 when expectSet is 0
//	            body
//	body     := resource                              // op 1, OpApply
//	          | ref                                   // op 2, OpDelete
//	          | snapshotLen:u32 snapshot              // op 3, OpRestore: Store.Snapshot's bytes,
//	                                                  // snapshotLen <= SnapshotBytesMax
//
//	snapshot := magic:"rvst" version:u8 (=1) revision:u64
//	            resourceCount:u32 resource*resourceCount   // in Compare order, no duplicates
//	            eventCount:u32 event*eventCount            // eventCount <= HistoryMax
//	            crc:u32                                    // CRC-32C (Castagnoli) of all bytes before it
//	event    := type:u8 (Added|Modified|Deleted) resource
//
// A snapshot's history is contiguous and ends at its revision: event i is at
// revision revision-eventCount+1+i, which is also its resource's modRevision,
// and Compacted() is revision-eventCount+1. Decoders accept only canonical
// bytes, so whatever decodes re-encodes to the same bytes; malformed bytes are
// ErrInvalid, an unknown version or op ErrUnsupported. No decoder allocates
// for a length or count the input claims before checking it against its
// limit above and against the bytes left (each resource takes at least its
// fixed fields), so a few bytes claiming gigabytes cost nothing.
package store

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Revision numbers every write to the store, from 1. Zero means "none".
type Revision uint64

// Ref names a resource. Cluster-scoped resources have no Namespace.
type Ref struct {
	Kind      string
	Namespace string
	Name      string
}

func (r Ref) String() string {
	if r.Namespace == "" {
		return r.Kind + "/" + r.Name
	}
	return r.Kind + "/" + r.Namespace + "/" + r.Name
}

// Format is the encoding of a payload.
type Format uint8

// The formats. Native is the canonical envelope of package store itself.
const (
	Native Format = iota + 1
	YAML
	JSON
	HCL
	Unit // a systemd unit file
)

var formatNames = map[Format]string{Native: "native", YAML: "yaml", JSON: "json", HCL: "hcl", Unit: "unit"}

func (f Format) String() string {
	if s, ok := formatNames[f]; ok {
		return s
	}
	return fmt.Sprintf("format(%d)", uint8(f))
}

// ParseFormat parses a format name (native, yaml, json, hcl, unit).
func ParseFormat(s string) (Format, error) {
	for f, n := range formatNames {
		if n == strings.ToLower(s) {
			return f, nil
		}
	}
	return 0, fmt.Errorf("%w: unknown format %q (want native, yaml, json, hcl or unit)", ErrInvalid, s)
}

// Resource is one stored object: its name, the face that owns it, the format
// and bytes of its payload, and the revisions the store gave it.
type Resource struct {
	Ref     Ref
	Face    string // the face that accepted it: kubernetes, nomad, systemd, pureraft, baremetal
	Format  Format // the format Payload is stored in
	Payload []byte

	CreateRevision Revision // the write that created it
	ModRevision    Revision // the write that last changed it: its resourceVersion
	Version        int64    // writes since creation, from 1
}

// Typed errors. Each error the store returns wraps exactly one of them.
var (
	ErrNotFound    = errors.New("store: not found")
	ErrConflict    = errors.New("store: conflict")
	ErrInvalid     = errors.New("store: invalid")
	ErrUnsupported = errors.New("store: unsupported")
	ErrCompacted   = errors.New("store: revision compacted")
)

// ConflictError says a precondition failed, and what the store holds.
type ConflictError struct {
	Ref     Ref
	Want    Revision // the precondition: a modify revision, or 0 for "must not exist"
	Current Revision // 0 when the resource does not exist
}

func (e *ConflictError) Error() string {
	return fmt.Sprintf("store: conflict: %s: expected revision %d, current %d", e.Ref, e.Want, e.Current)
}

func (e *ConflictError) Unwrap() error { return ErrConflict }

// InvalidError says which field of an input is wrong.
type InvalidError struct {
	Field  string
	Reason string
}

func (e *InvalidError) Error() string {
	return fmt.Sprintf("store: invalid: %s: %s", e.Field, e.Reason)
}

func (e *InvalidError) Unwrap() error { return ErrInvalid }

// Limits.
const (
	PayloadBytesMax = 1 << 20 // a resource's payload
	NameBytesMax    = 253     // a name, a namespace or a kind
)

// Validate checks a ref for the rules every face shares: non-empty kind and
// name, printable UTF-8 without '/', NUL or control characters, and the
// length limit. Faces add their own (DNS-1123 names for Kubernetes).
func (r Ref) Validate() error {
	if err := validPart("kind", r.Kind, true); err != nil {
		return err
	}
	if err := validPart("namespace", r.Namespace, false); err != nil {
		return err
	}
	return validPart("name", r.Name, true)
}

func validPart(field, s string, required bool) error {
	if s != "" && len(s) <= NameBytesMax && plainASCII(s) {
		return nil // the common case, valid by every rule of partError
	}
	return partError(field, s, required)
}

// partError says what is wrong with s as a name part, nil if nothing.
func partError(field, s string, required bool) error {
	switch {
	case s == "" && required:
		return &InvalidError{Field: field, Reason: "required"}
	case len(s) > NameBytesMax:
		return &InvalidError{Field: field, Reason: fmt.Sprintf("%d bytes, limit %d", len(s), NameBytesMax)}
	case !utf8.ValidString(s):
		return &InvalidError{Field: field, Reason: "not UTF-8"}
	case strings.ContainsAny(s, "/\x00"):
		return &InvalidError{Field: field, Reason: fmt.Sprintf("%q contains a path separator or NUL", s)}
	case strings.IndexFunc(s, func(r rune) bool { return unicode.IsControl(r) || unicode.IsSpace(r) || unicode.Is(unicode.Cf, r) }) >= 0:
		// Cf: format characters (bidi overrides, zero-width joiners) would
		// let one name display as another in a listing.
		return &InvalidError{Field: field, Reason: fmt.Sprintf("%q contains white space, a control or a format character", s)}
	}
	return nil
}

// plainASCII reports whether s holds only printable ASCII other than space
// and '/': UTF-8, no NUL, control, space or format character. It lets
// validPart skip its rune-by-rune checks for the names nearly every
// resource has (a snapshot's restore validates every one of them).
func plainASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c >= 0x7f || c == '/' {
			return false
		}
	}
	return true
}

// EventType is the kind of a watch event.
type EventType uint8

// The event types.
const (
	Added EventType = iota + 1
	Modified
	Deleted
	Bookmark // no change; the stream has seen everything up to Revision
	Reset    // the store was restored: state before this event is void, re-list
)

var eventNames = map[EventType]string{Added: "ADDED", Modified: "MODIFIED", Deleted: "DELETED", Bookmark: "BOOKMARK", Reset: "RESET"}

func (t EventType) String() string {
	if s, ok := eventNames[t]; ok {
		return s
	}
	return fmt.Sprintf("event(%d)", uint8(t))
}

// Event is one change seen by a watcher. For Deleted, Resource is the last
// state with ModRevision set to the deleting revision.
type Event struct {
	Type     EventType
	Revision Revision
	Resource Resource // zero for Bookmark and Reset
}

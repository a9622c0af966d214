package store

import (
	"cmp"
	"fmt"
	"slices"
)

// HistoryMax bounds the retained event history: every write that would make
// the history longer compacts away its oldest event, so a watcher that falls
// more than HistoryMax writes behind gets ErrCompacted and re-lists.
const HistoryMax = 10000

// Expect is a write's precondition, checked against the stored resource's
// ModRevision (its resourceVersion):
//
//	Expect{}                             no precondition
//	Expect{Set: true}                    the resource must not exist
//	Expect{Set: true, Revision: r}       the resource must exist with ModRevision r
//
// A failed precondition is a *ConflictError naming the current revision.
type Expect struct {
	Set      bool
	Revision Revision
}

// Check answers nil when the precondition holds for what a store holds of
// ref (cur, when exists), else a *ConflictError naming the current
// revision (0 for none). Backends over other systems check with it too.
func (e Expect) Check(ref Ref, cur Resource, exists bool) error {
	if !e.Set {
		return nil
	}
	var have Revision
	if exists {
		have = cur.ModRevision
	}
	if have != e.Revision {
		return &ConflictError{Ref: ref, Want: e.Revision, Current: have}
	}
	return nil
}

// key names a resource within its kind.
type key struct{ namespace, name string }

// Store is the revisioned resource store: current state, indexed by kind,
// and the event history of the last writes. It is the state machine behind
// the Raft log and the simulation's default backend.
//
// Store is not safe for concurrent use; drive it from one goroutine.
//
// Ownership: Apply copies the payload it is given; resources and events the
// store returns share their Payload with the store, which never modifies it
// in place. Callers must treat returned payloads as read-only.
type Store struct {
	kinds    map[string]map[key]Resource
	count    int
	rev      Revision
	first    Revision // the oldest revision in history; first+len(history) == rev+1
	history  []Event
	enc      historyEncoding
	restores uint64 // see Restores
}

// New returns an empty store at revision 0.
func New() *Store {
	return &Store{kinds: map[string]map[key]Resource{}, first: 1}
}

// Revision is the revision of the last write, 0 for a new empty store.
func (s *Store) Revision() Revision { return s.rev }

// Restores counts the snapshots restored into s (an OpRestore command):
// each replaces the state and its history whole, so a reader that keeps
// what it derived from s, and follows its changes through Events, starts
// over when the count moves.
func (s *Store) Restores() uint64 { return s.restores }

// Len is the number of stored resources.
func (s *Store) Len() int { return s.count }

// Apply creates or updates r.Ref with r's Face, Format and Payload if exp
// holds, and returns the stored resource (CreateRevision, ModRevision and
// Version set by the store; r's own values for them are ignored) with its
// Added or Modified event. Every successful Apply is a new revision, even
// when the content is unchanged.
//
// Errors: *InvalidError (ErrInvalid) for a bad ref, face, format or an
// oversize payload; *ConflictError (ErrConflict) when exp fails. On error the
// store is unchanged.
func (s *Store) Apply(r Resource, exp Expect) (Resource, Event, error) {
	if err := validInput(r); err != nil {
		return Resource{}, Event{}, err
	}
	cur, exists := s.lookup(r.Ref)
	if err := exp.Check(r.Ref, cur, exists); err != nil {
		return Resource{}, Event{}, err
	}
	rev := s.rev + 1
	next := Resource{
		Ref: r.Ref, Face: r.Face, Format: r.Format, Payload: clonePayload(r.Payload),
		CreateRevision: rev, ModRevision: rev, Version: 1,
	}
	typ := Added
	if exists {
		next.CreateRevision, next.Version, typ = cur.CreateRevision, cur.Version+1, Modified
	}
	s.put(next)
	return next, s.record(typ, next), nil
}

// Delete removes ref if exp holds and returns its last state with
// ModRevision set to the deleting revision, with the Deleted event carrying
// the same resource.
//
// Errors: *InvalidError for a bad ref; ErrNotFound when ref is absent
// (whatever exp says); *ConflictError when exp fails. On error the store is
// unchanged.
func (s *Store) Delete(ref Ref, exp Expect) (Resource, Event, error) {
	if err := ref.Validate(); err != nil {
		return Resource{}, Event{}, err
	}
	cur, exists := s.lookup(ref)
	if !exists {
		return Resource{}, Event{}, fmt.Errorf("%w: %s", ErrNotFound, ref)
	}
	if err := exp.Check(ref, cur, true); err != nil {
		return Resource{}, Event{}, err
	}
	s.remove(ref)
	cur.ModRevision = s.rev + 1
	return cur, s.record(Deleted, cur), nil
}

// Get returns the stored resource named ref.
// Errors: *InvalidError for a bad ref, ErrNotFound when absent.
func (s *Store) Get(ref Ref) (Resource, error) {
	if err := ref.Validate(); err != nil {
		return Resource{}, err
	}
	r, ok := s.lookup(ref)
	if !ok {
		return Resource{}, fmt.Errorf("%w: %s", ErrNotFound, ref)
	}
	return r, nil
}

// List returns the resources of kind in namespace ("" kind: every kind; ""
// namespace: every namespace) in Compare order, and the store revision the
// list was served at.
func (s *Store) List(kind, namespace string) ([]Resource, Revision) {
	var out []Resource
	if kind == "" && namespace == "" {
		out = make([]Resource, 0, s.count)
	}
	for k, byKey := range s.kinds {
		if kind != "" && k != kind {
			continue
		}
		for key, r := range byKey {
			if namespace == "" || key.namespace == namespace {
				out = append(out, r)
			}
		}
	}
	slices.SortFunc(out, func(a, b Resource) int { return Compare(a.Ref, b.Ref) })
	return out, s.rev
}

// Compare orders refs by namespace, then name, then kind: the order of List,
// of a watch's initial state and of a snapshot. For refs of one kind it is
// the (namespace, name) order Kubernetes lists in.
func Compare(a, b Ref) int {
	return cmp.Or(cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name), cmp.Compare(a.Kind, b.Kind))
}

func (s *Store) lookup(ref Ref) (Resource, bool) {
	r, ok := s.kinds[ref.Kind][key{ref.Namespace, ref.Name}]
	return r, ok
}

func (s *Store) put(r Resource) {
	byKey := s.kinds[r.Ref.Kind]
	if byKey == nil {
		byKey = map[key]Resource{}
		s.kinds[r.Ref.Kind] = byKey
	}
	k := key{r.Ref.Namespace, r.Ref.Name}
	if _, ok := byKey[k]; !ok {
		s.count++
	}
	byKey[k] = r
}

func (s *Store) remove(ref Ref) {
	byKey := s.kinds[ref.Kind]
	delete(byKey, key{ref.Namespace, ref.Name})
	if len(byKey) == 0 {
		delete(s.kinds, ref.Kind)
	}
	s.count--
}

// validInput checks what Apply accepts from a caller.
func validInput(r Resource) error {
	if err := r.Ref.Validate(); err != nil {
		return err
	}
	if err := validPart("face", r.Face, true); err != nil {
		return err
	}
	if _, ok := formatNames[r.Format]; !ok {
		return &InvalidError{Field: "format", Reason: fmt.Sprintf("unknown %s", r.Format)}
	}
	if len(r.Payload) > PayloadBytesMax {
		return &InvalidError{Field: "payload", Reason: fmt.Sprintf("%d bytes, limit %d", len(r.Payload), PayloadBytesMax)}
	}
	return nil
}

// clonePayload copies p; an empty payload is stored as nil, so equal
// content is equal whatever slice the caller passed.
func clonePayload(p []byte) []byte {
	if len(p) == 0 {
		return nil
	}
	return slices.Clone(p)
}

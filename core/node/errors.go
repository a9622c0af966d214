package node

import (
	"errors"

	"revoada.dev/revoada/core/store"
)

// storedErr is a store error as the dedup table keeps it, so that a retried
// write is answered with the same typed error on every replica.
type storedErr struct {
	code    byte // index into storeErrs; 0 for none
	detail  string
	want    store.Revision // a conflict's precondition
	current store.Revision // and what the store held then
}

var storeErrs = []error{nil, store.ErrNotFound, store.ErrConflict, store.ErrInvalid, store.ErrUnsupported, store.ErrCompacted}

func encodeErr(err error) storedErr {
	e := storedErr{code: byte(len(storeErrs)), detail: err.Error()}
	for i, sentinel := range storeErrs[1:] {
		if errors.Is(err, sentinel) {
			e.code = byte(i + 1)
			break
		}
	}
	var ce *store.ConflictError
	if errors.As(err, &ce) {
		e.want, e.current = ce.Want, ce.Current
	}
	return e
}

// error rebuilds the typed error: errors.Is matches the same sentinel, and
// a conflict is the *store.ConflictError of the write's ref.
func (e storedErr) error(ref store.Ref) error {
	if int(e.code) < len(storeErrs) {
		if storeErrs[e.code] == store.ErrConflict {
			return &store.ConflictError{Ref: ref, Want: e.want, Current: e.current}
		}
		return &replayedErr{sentinel: storeErrs[e.code], msg: e.detail}
	}
	return errors.New(e.detail)
}

// replayedErr is a store error answered from the dedup table.
type replayedErr struct {
	sentinel error
	msg      string
}

func (e *replayedErr) Error() string { return e.msg }
func (e *replayedErr) Unwrap() error { return e.sentinel }

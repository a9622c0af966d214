package node

import (
	"errors"

	"revoada.dev/revoada/core/store"
)

// storedErr is a store error as the dedup table keeps it, so that a retried
// write is answered with the same typed error on every replica.
type storedErr struct {
	code   byte // index into storeErrs; 0 for none
	detail string
	want   store.Revision // a conflict's precondition
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
		e.want = ce.Want
	}
	return e
}

// error rebuilds the typed error: errors.Is matches the same sentinel.
func (e storedErr) error() error {
	if int(e.code) < len(storeErrs) {
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

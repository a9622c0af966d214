package node

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"revoada.dev/revoada/core/roles"
	"revoada.dev/revoada/core/store"
)

// A result's error crosses the wire as the same value for the sentinels
// and the typed errors, and as a replayed error of the same class and
// text for any other; the dedup table's replayed errors cross unchanged.
func TestWireResultErrors(t *testing.T) {
	conflict := &store.ConflictError{Ref: store.Ref{Kind: "ConfigMap", Name: "a"}, Want: 3, Current: 4}
	same := []error{nil, ErrTimeout, ErrInvalidRequest, ErrFenced, store.ErrNotFound, store.ErrCompacted,
		&roles.Rejection{Code: roles.ErrLastVoter, Command: 2, Detail: "the last voter"}, conflict,
		&store.InvalidError{Field: "name", Reason: "empty"}, encodeErr(conflict).error(conflict.Ref), encodeErr(store.ErrNotFound).error(store.Ref{}), encodeErr(errors.New("disk")).error(store.Ref{})}
	for _, err := range same {
		got := resultErr(t, err)
		if !reflect.DeepEqual(got, err) {
			t.Errorf("%v crossed as %#v", err, got)
		}
	}
	wrapped := fmt.Errorf("apply: %w", conflict)
	if got := resultErr(t, wrapped); !errors.Is(got, store.ErrConflict) || got.Error() != wrapped.Error() {
		t.Errorf("%v crossed as %v", wrapped, got)
	}
	long := errors.New(strings.Repeat("x", ErrorTextBytesMax+1))
	if got := resultErr(t, long); got.Error() != long.Error()[:ErrorTextBytesMax] {
		t.Errorf("a long error crossed as %d bytes", len(got.Error()))
	}
}

func resultErr(t *testing.T, err error) error {
	t.Helper()
	b := AppendResult(nil, Result{Err: err})
	r, rest, derr := DecodeResult(b)
	if derr != nil || len(rest) != 0 {
		t.Fatalf("%v: %v, %d bytes left", err, derr, len(rest))
	}
	if again := AppendResult(nil, r); string(again) != string(b) {
		t.Fatalf("%v re-encodes differently", err)
	}
	return r.Err
}

package backend

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"revoada.dev/revoada/core/store"
)

// ErrAudit is returned when the audit log could not be written.
var ErrAudit = errors.New("backend: audit log unwritable")

// Audit decorates a Backend with an audit trail: one JSON Lines record per
// verb (apply, get, list, delete, watch, snapshot, restore, compact), written
// after the verb ran, naming what it touched and its outcome, never payload
// bytes (only their count).
//
// Audit fails closed. An audit that cannot record must not let verbs succeed
// silently: when a record cannot be written, that verb returns an error
// wrapping ErrAudit (and its zero results; an Apply, Delete or Restore may
// nevertheless have taken effect in the inner backend), and from then on
// every verb fails with the same error without reaching the inner backend.
// Counts and Name still answer.
//
// Audit is safe for concurrent use; records are written whole, one at a time.
type Audit struct {
	inner Backend
	now   func() time.Time

	mu     sync.Mutex // guards w and broken; serialises records
	w      io.Writer
	broken error
}

var (
	_ Backend   = (*Audit)(nil)
	_ Compactor = (*Audit)(nil)
)

// NewAudit returns inner wrapped with an audit trail written to w, with
// times read from now.
func NewAudit(inner Backend, w io.Writer, now func() time.Time) *Audit {
	return &Audit{inner: inner, w: w, now: now}
}

// Record is one line of the audit trail.
type Record struct {
	Time      time.Time      `json:"time"`
	Verb      string         `json:"verb"`
	Backend   string         `json:"backend"` // the inner backend's name
	Kind      string         `json:"kind"`
	Namespace string         `json:"namespace"`
	Name      string         `json:"name"`
	Face      string         `json:"face"`
	Format    string         `json:"format"`
	Outcome   string         `json:"outcome"` // ok, not-found, conflict, invalid, unsupported, compacted or error
	Bytes     int            `json:"bytes"`   // payload bytes written or read (snapshot bytes for snapshot, restore)
	Revision  store.Revision `json:"revision"`
	Items     int            `json:"items,omitempty"` // list: the items returned
}

// Outcome names err's class for the audit trail.
func Outcome(err error) string {
	for _, c := range []struct {
		err  error
		name string
	}{
		{store.ErrNotFound, "not-found"}, {store.ErrConflict, "conflict"}, {store.ErrInvalid, "invalid"},
		{store.ErrUnsupported, "unsupported"}, {store.ErrCompacted, "compacted"},
	} {
		if errors.Is(err, c.err) {
			return c.name
		}
	}
	if err != nil {
		return "error"
	}
	return "ok"
}

// Name is the inner backend's name with "+audit".
func (a *Audit) Name() string { return a.inner.Name() + "+audit" }

// Counts is the inner backend's.
func (a *Audit) Counts() Counts { return a.inner.Counts() }

// Apply applies through the inner backend and records it.
func (a *Audit) Apply(ctx context.Context, r store.Resource, exp store.Expect) (store.Resource, error) {
	if err := a.failed(); err != nil {
		return store.Resource{}, err
	}
	got, err := a.inner.Apply(ctx, r, exp)
	rec := a.record("apply", r.Ref, err)
	rec.Face, rec.Format, rec.Bytes, rec.Revision = r.Face, formatName(r.Format), len(r.Payload), got.ModRevision
	return verbResult(got, err, a.log(rec))
}

// Get reads through the inner backend and records it.
func (a *Audit) Get(ctx context.Context, ref store.Ref, opt ReadOptions) (store.Resource, error) {
	if err := a.failed(); err != nil {
		return store.Resource{}, err
	}
	got, err := a.inner.Get(ctx, ref, opt)
	rec := a.record("get", ref, err)
	rec.Face, rec.Format, rec.Bytes, rec.Revision = got.Face, formatName(got.Format), len(got.Payload), got.ModRevision
	return verbResult(got, err, a.log(rec))
}

// List lists through the inner backend and records it.
func (a *Audit) List(ctx context.Context, kind, namespace string, opt ReadOptions) (List, error) {
	if err := a.failed(); err != nil {
		return List{}, err
	}
	l, err := a.inner.List(ctx, kind, namespace, opt)
	rec := a.record("list", store.Ref{Kind: kind, Namespace: namespace}, err)
	rec.Revision, rec.Items = l.Revision, len(l.Items)
	for _, r := range l.Items {
		rec.Bytes += len(r.Payload)
	}
	return verbResult(l, err, a.log(rec))
}

// Delete deletes through the inner backend and records it.
func (a *Audit) Delete(ctx context.Context, ref store.Ref, exp store.Expect) (store.Resource, error) {
	if err := a.failed(); err != nil {
		return store.Resource{}, err
	}
	got, err := a.inner.Delete(ctx, ref, exp)
	rec := a.record("delete", ref, err)
	rec.Face, rec.Format, rec.Revision = got.Face, formatName(got.Format), got.ModRevision
	return verbResult(got, err, a.log(rec))
}

// Watch opens a watch on the inner backend and records the opening (not the
// events). If the record cannot be written the watch is closed.
func (a *Audit) Watch(ctx context.Context, kind string, from store.Revision) (Watch, error) {
	if err := a.failed(); err != nil {
		return nil, err
	}
	w, err := a.inner.Watch(ctx, kind, from)
	rec := a.record("watch", store.Ref{Kind: kind}, err)
	rec.Revision = from
	if lerr := a.log(rec); lerr != nil {
		if w != nil {
			w.Close()
		}
		return nil, lerr
	}
	return w, err
}

// Snapshot snapshots the inner backend and records the size.
func (a *Audit) Snapshot(ctx context.Context) ([]byte, error) {
	if err := a.failed(); err != nil {
		return nil, err
	}
	b, err := a.inner.Snapshot(ctx)
	rec := a.record("snapshot", store.Ref{}, err)
	rec.Bytes = len(b)
	return verbResult(b, err, a.log(rec))
}

// Restore restores the inner backend and records the size.
func (a *Audit) Restore(ctx context.Context, snap []byte) error {
	if err := a.failed(); err != nil {
		return err
	}
	err := a.inner.Restore(ctx, snap)
	rec := a.record("restore", store.Ref{}, err)
	rec.Bytes = len(snap)
	_, err = verbResult(struct{}{}, err, a.log(rec))
	return err
}

// Compact compacts the inner backend if it is a Compactor, and answers
// store.ErrUnsupported otherwise; either way it is recorded.
func (a *Audit) Compact(ctx context.Context, rev store.Revision) error {
	if err := a.failed(); err != nil {
		return err
	}
	err := fmt.Errorf("%w: %s cannot compact", store.ErrUnsupported, a.inner.Name())
	if c, ok := a.inner.(Compactor); ok {
		err = c.Compact(ctx, rev)
	}
	rec := a.record("compact", store.Ref{}, err)
	rec.Revision = rev
	_, err = verbResult(struct{}{}, err, a.log(rec))
	return err
}

// record starts the record of a verb on ref with err's outcome.
func (a *Audit) record(verb string, ref store.Ref, err error) Record {
	return Record{
		Time: a.now().UTC(), Verb: verb, Backend: a.inner.Name(),
		Kind: ref.Kind, Namespace: ref.Namespace, Name: ref.Name, Outcome: Outcome(err),
	}
}

// log writes rec as one line. The first failure breaks the audit for good.
func (a *Audit) log(rec Record) error {
	line, err := json.Marshal(rec)
	if err != nil {
		panic(fmt.Sprintf("backend: audit record does not marshal: %v", err)) // only plain fields
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.broken != nil {
		return a.broken
	}
	if _, err := a.w.Write(append(line, '\n')); err != nil {
		a.broken = fmt.Errorf("%w: %s verb %s: %v", ErrAudit, a.inner.Name(), rec.Verb, err)
		return a.broken
	}
	return nil
}

func (a *Audit) failed() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.broken
}

// verbResult is the verb's own result, unless the audit failed.
func verbResult[T any](v T, err, auditErr error) (T, error) {
	if auditErr != nil {
		var zero T
		return zero, auditErr
	}
	return v, err
}

func formatName(f store.Format) string {
	if f == 0 {
		return ""
	}
	return f.String()
}

package backend_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"revoada.dev/revoada/backend"
	"revoada.dev/revoada/backend/storetest"
	"revoada.dev/revoada/core/store"
)

var auditTime = time.Date(2025, 1, 2, 3, 4, 5, 6, time.UTC)

func fixedNow() time.Time { return auditTime }

// lockedBuffer is a bytes.Buffer safe for the test to read while the audit writes.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func TestAuditConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) backend.Backend {
		log := &lockedBuffer{}
		t.Cleanup(func() { parseRecords(t, log.String()) })
		return backend.NewAudit(backend.NewMemory(), log, fixedNow)
	})
}

// noCompact hides Memory's Compact, to run the suite on a backend without
// the capability.
type noCompact struct{ backend.Backend }

func TestAuditOverNonCompactorConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) backend.Backend {
		return backend.NewAudit(noCompact{backend.NewMemory()}, io.Discard, fixedNow)
	})
}

func parseRecords(t *testing.T, log string) []backend.Record {
	t.Helper()
	var recs []backend.Record
	sc := bufio.NewScanner(strings.NewReader(log))
	for sc.Scan() {
		dec := json.NewDecoder(strings.NewReader(sc.Text()))
		dec.DisallowUnknownFields()
		var r backend.Record
		if err := dec.Decode(&r); err != nil {
			t.Fatalf("audit line %q: %v", sc.Text(), err)
		}
		recs = append(recs, r)
	}
	return recs
}

func TestAuditRecordsVerbsNotBodies(t *testing.T) {
	const secret = "s3cr3t-payload-bytes"
	log := &lockedBuffer{}
	a := backend.NewAudit(backend.NewMemory(), log, fixedNow)
	ctx := t.Context()
	ref := store.Ref{Kind: "ConfigMap", Namespace: "ns", Name: "a"}
	r := store.Resource{Ref: ref, Face: "kubernetes", Format: store.YAML, Payload: []byte(secret)}
	created, _ := a.Apply(ctx, r, store.Expect{})
	_, _ = a.Apply(ctx, r, store.Expect{Set: true})
	_, _ = a.Get(ctx, ref, backend.ReadOptions{})
	_, _ = a.List(ctx, "ConfigMap", "", backend.ReadOptions{})
	w, _ := a.Watch(ctx, "ConfigMap", 0)
	w.Close()
	snap, _ := a.Snapshot(ctx)
	_, _ = a.Delete(ctx, ref, store.Expect{})
	_, _ = a.Get(ctx, ref, backend.ReadOptions{})
	_, _ = a.Apply(ctx, store.Resource{Ref: store.Ref{Kind: "ConfigMap", Name: "a/b"}, Face: "kubernetes", Format: store.JSON}, store.Expect{})
	_ = a.Restore(ctx, snap)
	_ = a.Compact(ctx, 1)
	_, _ = a.Watch(ctx, "", 1)

	if strings.Contains(log.String(), secret) {
		t.Fatalf("the audit log holds payload bytes:\n%s", log)
	}
	want := []struct {
		verb, outcome string
	}{
		{"apply", "ok"}, {"apply", "conflict"}, {"get", "ok"}, {"list", "ok"}, {"watch", "ok"}, {"snapshot", "ok"},
		{"delete", "ok"}, {"get", "not-found"}, {"apply", "invalid"}, {"restore", "ok"}, {"compact", "ok"}, {"watch", "ok"},
	}
	recs := parseRecords(t, log.String())
	if len(recs) != len(want) {
		t.Fatalf("%d records, want %d:\n%s", len(recs), len(want), log)
	}
	for i, rec := range recs {
		if rec.Verb != want[i].verb || rec.Outcome != want[i].outcome || rec.Backend != "memory" || !rec.Time.Equal(auditTime) {
			t.Errorf("record %d = %+v, want verb %s outcome %s", i, rec, want[i].verb, want[i].outcome)
		}
	}
	first := recs[0]
	if first.Kind != "ConfigMap" || first.Namespace != "ns" || first.Name != "a" || first.Face != "kubernetes" ||
		first.Format != "yaml" || first.Bytes != len(secret) || first.Revision != created.ModRevision {
		t.Errorf("apply record %+v", first)
	}
}

func TestAuditCompactWithoutCapability(t *testing.T) {
	a := backend.NewAudit(noCompact{backend.NewMemory()}, io.Discard, fixedNow)
	if err := a.Compact(t.Context(), 1); !errors.Is(err, store.ErrUnsupported) {
		t.Fatalf("compact through a non-compactor: %v", err)
	}
}

// failingWriter accepts ok writes, then fails.
type failingWriter struct{ ok int }

func (w *failingWriter) Write(p []byte) (int, error) {
	if w.ok == 0 {
		return 0, errors.New("disk full")
	}
	w.ok--
	return len(p), nil
}

func TestAuditFailsClosed(t *testing.T) {
	inner := backend.NewMemory()
	a := backend.NewAudit(inner, &failingWriter{ok: 1}, fixedNow)
	ctx := t.Context()
	r := store.Resource{Ref: store.Ref{Kind: "ConfigMap", Name: "a"}, Face: "kubernetes", Format: store.JSON}
	if _, err := a.Apply(ctx, r, store.Expect{}); err != nil {
		t.Fatalf("first apply: %v", err)
	}
	if _, err := a.Apply(ctx, r, store.Expect{}); !errors.Is(err, backend.ErrAudit) {
		t.Fatalf("apply with a failing audit log: %v, want ErrAudit", err)
	}
	rev := inner.Counts()
	before, _ := inner.Snapshot(ctx)
	if _, err := a.Apply(ctx, r, store.Expect{}); !errors.Is(err, backend.ErrAudit) {
		t.Fatalf("apply after the audit broke: %v, want ErrAudit", err)
	}
	if _, err := a.Get(ctx, r.Ref, backend.ReadOptions{}); !errors.Is(err, backend.ErrAudit) {
		t.Fatalf("get after the audit broke: %v, want ErrAudit", err)
	}
	if w, err := a.Watch(ctx, "", 0); !errors.Is(err, backend.ErrAudit) || w != nil {
		t.Fatalf("watch after the audit broke: %v, %v", w, err)
	}
	after, _ := inner.Snapshot(ctx)
	if !bytes.Equal(before, after) || inner.Counts() != rev {
		t.Fatal("a verb reached the inner backend after the audit broke")
	}
}

func TestAuditWatchClosedWhenUnrecorded(t *testing.T) {
	inner := backend.NewMemory()
	a := backend.NewAudit(inner, &failingWriter{}, fixedNow)
	if w, err := a.Watch(t.Context(), "", 0); !errors.Is(err, backend.ErrAudit) || w != nil {
		t.Fatalf("watch with a failing audit log: %v, %v", w, err)
	}
	if c := inner.Counts(); c.Subscribers != 0 {
		t.Fatalf("an unrecorded watch is still open: %+v", c)
	}
}

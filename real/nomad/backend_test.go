package nomad_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"revoada.dev/revoada/backend"
	"revoada.dev/revoada/backend/storetest"
	"revoada.dev/revoada/core/face"
	"revoada.dev/revoada/core/store"
	"revoada.dev/revoada/real/nomad/nomadtest"
)

// TestConformance runs the store contract's suite against a real Nomad
// agent, a fresh one per backend the suite asks for.
func TestConformance(t *testing.T) {
	nomadtest.Binary(t)
	storetest.Run(t, func(t *testing.T) backend.Backend { return newBackend(t) })
}

// jobHCL has a task directly under the job and a quoted cpu: Nomad's
// parser gives the task a group of its own name and makes cpu an integer.
const jobHCL = `job "web" {
  datacenters = ["dc1"]
  task "server" {
    driver = "raw_exec"
    config {
      command = "/bin/sleep"
      args    = ["3600"]
    }
    resources {
      cpu    = "500"
      memory = 64
    }
  }
}
`

func decodeJob(t *testing.T, name, src string) store.Resource {
	t.Helper()
	n, err := face.ByName(face.Nomad)
	if err != nil {
		t.Fatal(err)
	}
	rs, err := n.Decode(name, []byte(src), store.HCL)
	if err != nil {
		t.Fatal(err)
	}
	return rs[0]
}

// TestNomadJob registers a job written in HCL through the face, reads
// Nomad's copy back, updates it under a precondition (EnforceIndex), sees
// a stale precondition refused, and purges it; a watch sees each write.
func TestNomadJob(t *testing.T) {
	b := newBackend(t)
	ctx := t.Context()
	w, err := b.Watch(ctx, face.NomadJobKind, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if ev := next(t, w); ev.Type != store.Bookmark {
		t.Fatalf("first event %s, want a bookmark", ev.Type)
	}

	job := decodeJob(t, "web.nomad", jobHCL)
	created, err := b.Apply(ctx, job, store.Expect{Set: true})
	if err != nil {
		t.Fatal(err)
	}
	if created.Ref != job.Ref || created.Version != 1 || created.CreateRevision != created.ModRevision {
		t.Fatalf("created %s v%d at %d/%d", created.Ref, created.Version, created.CreateRevision, created.ModRevision)
	}
	var stored struct {
		Job struct {
			ID         string
			Namespace  string
			TaskGroups []struct {
				Name  string
				Tasks []struct {
					Name      string
					Resources struct{ CPU, MemoryMB int }
				}
			}
		}
	}
	if err := json.Unmarshal(created.Payload, &stored); err != nil {
		t.Fatal(err)
	}
	if g := stored.Job.TaskGroups; len(g) != 1 || g[0].Name != "server" || len(g[0].Tasks) != 1 ||
		g[0].Tasks[0].Resources.CPU != 500 || g[0].Tasks[0].Resources.MemoryMB != 64 {
		t.Fatalf("Nomad stored groups %+v; want one group \"server\" with its task at 500 MHz, 64 MB", g)
	}
	if ev := next(t, w); ev.Type != store.Added || ev.Revision != created.ModRevision || !bytes.Equal(ev.Resource.Payload, created.Payload) {
		t.Fatalf("watch got %s@%d, want ADDED@%d with the stored job", ev.Type, ev.Revision, created.ModRevision)
	}

	same, err := b.Apply(ctx, job, store.Expect{})
	if err != nil || same.ModRevision != created.ModRevision || same.Version != 1 {
		t.Fatalf("an identical apply: %+v, %v; Nomad writes nothing, so want revision %d, version 1", same.Ref, err, created.ModRevision)
	}

	changed := decodeJob(t, "web.nomad", strings.Replace(jobHCL, `"3600"`, `"7200"`, 1))
	updated, err := b.Apply(ctx, changed, store.Expect{Set: true, Revision: created.ModRevision})
	if err != nil {
		t.Fatal(err)
	}
	if updated.Version != 2 || updated.ModRevision <= created.ModRevision || updated.CreateRevision != created.CreateRevision {
		t.Fatalf("updated v%d at %d/%d after %d", updated.Version, updated.CreateRevision, updated.ModRevision, created.ModRevision)
	}
	if ev := next(t, w); ev.Type != store.Modified || ev.Revision != updated.ModRevision {
		t.Fatalf("watch got %s@%d, want MODIFIED@%d", ev.Type, ev.Revision, updated.ModRevision)
	}
	_, err = b.Apply(ctx, job, store.Expect{Set: true, Revision: created.ModRevision})
	var ce *store.ConflictError
	if !errors.As(err, &ce) || ce.Current != updated.ModRevision {
		t.Fatalf("a stale precondition: %v; want a conflict naming %d", err, updated.ModRevision)
	}

	l, err := b.List(ctx, face.NomadJobKind, "", backend.ReadOptions{})
	if err != nil || len(l.Items) != 1 || l.Items[0].ModRevision != updated.ModRevision {
		t.Fatalf("list: %+v, %v", l, err)
	}
	gone, err := b.Delete(ctx, job.Ref, store.Expect{Set: true, Revision: updated.ModRevision})
	if err != nil || gone.ModRevision <= updated.ModRevision {
		t.Fatalf("delete: %+v, %v", gone.Ref, err)
	}
	if ev := next(t, w); ev.Type != store.Deleted || ev.Revision != gone.ModRevision {
		t.Fatalf("watch got %s@%d, want DELETED@%d", ev.Type, ev.Revision, gone.ModRevision)
	}
	if _, err := b.Get(ctx, job.Ref, backend.ReadOptions{}); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("get after purge: %v", err)
	}
}

// TestKindsApart: a carrier (an opaque resource) is no NomadJob, and a
// NomadJob may not take the carriers' prefix or leave its namespace out.
func TestKindsApart(t *testing.T) {
	b := newBackend(t)
	ctx := t.Context()
	blob := store.Resource{Ref: store.Ref{Kind: "Blob", Namespace: "ns", Name: "web"}, Face: "pureraft", Format: store.Native, Payload: []byte("x")}
	if _, err := b.Apply(ctx, blob, store.Expect{}); err != nil {
		t.Fatal(err)
	}
	if l, err := b.List(ctx, face.NomadJobKind, "", backend.ReadOptions{}); err != nil || len(l.Items) != 0 {
		t.Fatalf("NomadJob list: %+v, %v; want none", l.Items, err)
	}
	if _, err := b.Get(ctx, store.Ref{Kind: face.NomadJobKind, Namespace: "ns", Name: "web"}, backend.ReadOptions{}); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a NomadJob named like a blob: %v", err)
	}
	job := decodeJob(t, "web.nomad", jobHCL)
	for _, ref := range []store.Ref{
		{Kind: face.NomadJobKind, Namespace: "default", Name: "revoada.3.Blob.web"},
		{Kind: face.NomadJobKind, Name: "web"},
	} {
		r := job
		r.Ref = ref
		if _, err := b.Apply(ctx, r, store.Expect{}); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("apply %s: %v, want ErrInvalid", ref, err)
		}
	}
}

// TestWatchCompacted: with an event buffer of 8 events, a watch from
// before the buffer is refused with store.ErrCompacted, and one from
// within it is served.
func TestWatchCompacted(t *testing.T) {
	b := backendWithBuffer(t, 8)
	ctx := t.Context()
	var revs []store.Revision
	for i := range 20 {
		r, err := b.Apply(ctx, store.Resource{Ref: store.Ref{Kind: "Blob", Name: fmt.Sprint(i)}, Face: "pureraft", Format: store.Native, Payload: []byte("x")}, store.Expect{})
		if err != nil {
			t.Fatal(err)
		}
		revs = append(revs, r.ModRevision)
	}
	if w, err := b.Watch(ctx, "", revs[0]); !errors.Is(err, store.ErrCompacted) {
		if w != nil {
			w.Close()
		}
		t.Fatalf("watch from %d, before the buffer: %v, want ErrCompacted", revs[0], err)
	}
	w, err := b.Watch(ctx, "", revs[17])
	if err != nil {
		t.Fatalf("watch from %d, within the buffer: %v", revs[17], err)
	}
	defer w.Close()
	for _, want := range revs[17:] {
		if ev := next(t, w); ev.Revision != want {
			t.Fatalf("got %s@%d, want %d", ev.Type, ev.Revision, want)
		}
	}
}

// next receives one event within a guard.
func next(t *testing.T, w backend.Watch) store.Event {
	t.Helper()
	select {
	case ev, ok := <-w.Events():
		if !ok {
			t.Fatalf("watch ended: %v", w.Err())
		}
		return ev
	case <-time.After(30 * time.Second):
		t.Fatal("no event within 30s")
	}
	return store.Event{}
}

// TestAPIFormJob: a job file in Nomad's API form (.nomad.json) goes to
// Nomad as it is; without an ID the face names it by its Name, and so does
// Nomad's copy.
func TestAPIFormJob(t *testing.T) {
	b := newBackend(t)
	n, err := face.ByName(face.Nomad)
	if err != nil {
		t.Fatal(err)
	}
	rs, err := n.Decode("api.nomad.json", []byte(`{"Job": {"Name": "api", "Type": "batch", "TaskGroups": [{"Name": "g",
		"Tasks": [{"Name": "t", "Driver": "raw_exec", "Config": {"command": "/bin/true"}}]}]}}`), store.JSON)
	if err != nil {
		t.Fatal(err)
	}
	got, err := b.Apply(t.Context(), rs[0], store.Expect{})
	if err != nil {
		t.Fatal(err)
	}
	var stored struct {
		Job struct{ ID, Name, Type, Namespace string }
	}
	if err := json.Unmarshal(got.Payload, &stored); err != nil {
		t.Fatal(err)
	}
	if want := (struct{ ID, Name, Type, Namespace string }{"api", "api", "batch", "default"}); stored.Job != want {
		t.Fatalf("Nomad stored %+v, want %+v", stored.Job, want)
	}
}

package nomad

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/nomad/api"

	"revoada.dev/revoada/backend"
	"revoada.dev/revoada/core/face"
	"revoada.dev/revoada/core/store"
)

// Limits.
const (
	// applyAttemptsMax bounds the read-then-register rounds of an Apply
	// without an Expect that keeps losing races to other writers.
	applyAttemptsMax = 5
	// countsTimeout bounds the job listing behind Counts, which has no
	// context of its own.
	countsTimeout = 5 * time.Second
)

// Backend is a store backend over one Nomad agent (see the package doc).
// It is safe for concurrent use; Nomad orders the writes.
type Backend struct {
	addr   string
	client *api.Client

	namespaces sync.Map // Nomad namespaces known to exist

	mu        sync.Mutex
	watches   map[*watch]struct{}
	lastCount int // Counts' last successful resource count
}

var _ backend.Backend = (*Backend)(nil)

// New connects to the Nomad agent at addr (http://127.0.0.1:4646) and
// checks that it answers and has a leader. Errors name the address.
func New(ctx context.Context, addr string) (*Backend, error) {
	cfg := api.DefaultConfig()
	cfg.Address = addr
	c, err := api.NewClient(cfg)
	if err != nil {
		return nil, fmt.Errorf("nomad: client for %s: %w", addr, err)
	}
	b := &Backend{addr: addr, client: c, watches: map[*watch]struct{}{}}
	var leader string
	if _, err := c.Raw().Query("/v1/status/leader", &leader, (&api.QueryOptions{}).WithContext(ctx)); err != nil {
		return nil, b.fail("reach the agent", err)
	}
	if leader == "" {
		return nil, fmt.Errorf("nomad: agent at %s has no leader", addr)
	}
	return b, nil
}

// Name implements backend.Backend.
func (b *Backend) Name() string { return "nomad" }

// Addr is the agent's address.
func (b *Backend) Addr() string { return b.addr }

// fail wraps an error of a call to the agent: what was done, the address,
// and the store sentinel that fits Nomad's answer (a 400 is bad input, a
// 404 absent), or the transport's error.
func (b *Backend) fail(what string, err error) error {
	var ue api.UnexpectedResponseError
	if errors.As(err, &ue) && ue.HasStatusCode() {
		body := strings.TrimSpace(ue.Body())
		switch ue.StatusCode() {
		case http.StatusBadRequest:
			return fmt.Errorf("nomad: %s at %s: %w: %s", what, b.addr, store.ErrInvalid, body)
		case http.StatusNotFound:
			return fmt.Errorf("nomad: %s at %s: %w: %s", what, b.addr, store.ErrNotFound, body)
		}
		return fmt.Errorf("nomad: %s at %s: HTTP %d: %s", what, b.addr, ue.StatusCode(), body)
	}
	return fmt.Errorf("nomad: %s at %s: %w", what, b.addr, err)
}

func isNotFound(err error) bool {
	var ue api.UnexpectedResponseError
	return errors.As(err, &ue) && ue.StatusCode() == http.StatusNotFound
}

// Apply implements backend.Backend; see the package doc for how Expect
// maps to Nomad's EnforceIndex.
func (b *Backend) Apply(ctx context.Context, r store.Resource, exp store.Expect) (store.Resource, error) {
	loc, err := locate(r.Ref)
	if err == nil {
		err = validResource(r)
	}
	if err != nil {
		return store.Resource{}, err
	}
	if err := b.ensureNamespace(ctx, loc.namespace); err != nil {
		return store.Resource{}, err
	}
	for attempt := 1; ; attempt++ {
		cur, curJob, err := b.read(ctx, loc)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return store.Resource{}, err
		}
		if curJob != nil && stopped(curJob) { // deleted, not yet purged: purge, start afresh
			if err := b.purge(ctx, loc); err != nil {
				return store.Resource{}, err
			}
			cur, curJob = store.Resource{}, nil
		}
		if err := exp.Check(r.Ref, cur, curJob != nil); err != nil {
			return store.Resource{}, err
		}
		job, err := loc.job(r, curJob)
		if err != nil {
			return store.Resource{}, err
		}
		var curIndex uint64
		if curJob != nil {
			curIndex = *curJob.JobModifyIndex
		}
		resp, _, err := b.client.Jobs().RegisterOpts(job, &api.RegisterOptions{EnforceIndex: true, ModifyIndex: curIndex}, b.write(ctx, loc.namespace))
		if err != nil && strings.Contains(err.Error(), "Enforcing job modify index") {
			if exp.Set || attempt >= applyAttemptsMax {
				now, _, rerr := b.read(ctx, loc)
				if rerr != nil && !errors.Is(rerr, store.ErrNotFound) {
					return store.Resource{}, rerr
				}
				return store.Resource{}, &store.ConflictError{Ref: r.Ref, Want: exp.Revision, Current: now.ModRevision}
			}
			continue
		}
		if err != nil {
			return store.Resource{}, b.fail("register "+r.Ref.String(), err)
		}
		if curJob != nil && resp.JobModifyIndex == curIndex {
			return cur, nil // Nomad found the spec unchanged and wrote nothing
		}
		return b.written(ctx, loc, r, curJob, resp.JobModifyIndex)
	}
}

// written is the resource an Apply wrote at index: a carrier's from what
// was written, a job's from the version Nomad stored at that index.
func (b *Backend) written(ctx context.Context, loc location, r store.Resource, prev *api.Job, index uint64) (store.Resource, error) {
	if loc.carrier {
		out := r
		out.Payload = bytes.Clone(r.Payload)
		out.ModRevision, out.CreateRevision, out.Version = store.Revision(index), store.Revision(index), 1
		if prev != nil {
			out.CreateRevision, out.Version = store.Revision(*prev.CreateIndex), int64(*prev.Version)+2
		}
		return out, nil
	}
	versions, _, _, err := b.client.Jobs().Versions(loc.id, false, b.query(ctx, loc.namespace))
	if err != nil {
		return store.Resource{}, b.fail("read the versions of "+r.Ref.String(), err)
	}
	for _, v := range versions {
		if v.JobModifyIndex != nil && *v.JobModifyIndex == index {
			return resourceOf(v)
		}
	}
	return store.Resource{}, fmt.Errorf("nomad: %s at %s: the version written at index %d is gone already", r.Ref, b.addr, index)
}

// validResource checks what the store's own Apply checks.
func validResource(r store.Resource) error {
	if len(r.Payload) > store.PayloadBytesMax {
		return &store.InvalidError{Field: "payload", Reason: fmt.Sprintf("%d bytes, limit %d", len(r.Payload), store.PayloadBytesMax)}
	}
	if r.Face == "" {
		return &store.InvalidError{Field: "face", Reason: "required"}
	}
	if _, ok := store.ParseFormat(r.Format.String()); r.Format == 0 || ok != nil {
		return &store.InvalidError{Field: "format", Reason: fmt.Sprintf("unknown format %d", r.Format)}
	}
	return nil
}

// read returns the resource at loc and the job behind it; ErrNotFound when
// absent (a job of another kind at a carrier's ID is absent too).
func (b *Backend) read(ctx context.Context, loc location) (store.Resource, *api.Job, error) {
	job, err := b.info(ctx, loc)
	if err != nil {
		return store.Resource{}, nil, err
	}
	if stopped(job) {
		return store.Resource{}, job, fmt.Errorf("nomad: %w: %s (stopped)", store.ErrNotFound, loc.ref)
	}
	got, err := resourceOf(job)
	if err != nil {
		return store.Resource{}, nil, fmt.Errorf("nomad: read %s at %s: %w", loc.ref, b.addr, err)
	}
	if got.Ref != loc.ref { // a job of another kind (a carrier, or not one) has the ID
		return store.Resource{}, nil, fmt.Errorf("nomad: %w: %s", store.ErrNotFound, loc.ref)
	}
	return got, job, nil
}

// info reads the job at loc, stopped or not. Errors: store.ErrNotFound.
func (b *Backend) info(ctx context.Context, loc location) (*api.Job, error) {
	job, _, err := b.client.Jobs().Info(loc.id, b.query(ctx, loc.namespace))
	if isNotFound(err) {
		return nil, fmt.Errorf("nomad: %w: %s", store.ErrNotFound, loc.ref)
	}
	if err != nil {
		return nil, b.fail("read "+loc.ref.String(), err)
	}
	return job, nil
}

// stopped reports a job Nomad keeps although it was deregistered: to
// revoada it is deleted.
func stopped(job *api.Job) bool { return job.Stop != nil && *job.Stop }

// Get implements backend.Backend. Nomad's reads are served by its leader.
func (b *Backend) Get(ctx context.Context, ref store.Ref, _ backend.ReadOptions) (store.Resource, error) {
	loc, err := locate(ref)
	if err != nil {
		return store.Resource{}, err
	}
	r, _, err := b.read(ctx, loc)
	return r, err
}

// List implements backend.Backend. Revision is the job table's index the
// listing was served at; a NomadJob's spec is read after it (one request
// per job), so an item may be newer than Revision.
func (b *Backend) List(ctx context.Context, kind, namespace string, _ backend.ReadOptions) (backend.List, error) {
	nomadNS := "*"
	if namespace != "" {
		nomadNS = namespace
	}
	stubs, meta, err := b.client.Jobs().ListOptions(&api.JobListOptions{Fields: &api.JobListFields{Meta: true}}, b.query(ctx, nomadNS))
	if err != nil {
		return backend.List{}, b.fail("list jobs", err)
	}
	out := backend.List{Revision: store.Revision(meta.LastIndex)}
	for _, s := range stubs {
		r, ok, err := b.listed(ctx, s, kind, namespace)
		if err != nil {
			return backend.List{}, err
		}
		if ok {
			out.Items = append(out.Items, r)
		}
	}
	slices.SortFunc(out.Items, func(x, y store.Resource) int { return store.Compare(x.Ref, y.Ref) })
	return out, nil
}

// listed is the resource a job list entry stands for, if it is of kind in
// namespace ("" for any).
func (b *Backend) listed(ctx context.Context, s *api.JobListStub, kind, namespace string) (store.Resource, bool, error) {
	if s.Stop {
		return store.Resource{}, false, nil // deleted, not yet purged
	}
	if c, ok := carrierOf(s.Meta); ok {
		if kind != "" && c.ref.Kind != kind || namespace != "" && c.ref.Namespace != namespace {
			return store.Resource{}, false, nil
		}
		r, err := c.resource(s.CreateIndex, s.JobModifyIndex, s.ID)
		return r, err == nil, err
	}
	if kind != "" && kind != face.NomadJobKind || namespace != "" && s.Namespace != namespace {
		return store.Resource{}, false, nil
	}
	job, _, err := b.client.Jobs().Info(s.ID, b.query(ctx, s.Namespace))
	if isNotFound(err) {
		return store.Resource{}, false, nil // purged since the listing
	}
	if err != nil {
		return store.Resource{}, false, b.fail("read job "+s.ID, err)
	}
	r, err := resourceOf(job)
	return r, err == nil && !stopped(job), err
}

// Delete implements backend.Backend: read, check exp, stop the job (a
// deregister without purge: Nomad's event stream shows it, a purge it does
// not), then purge it (not one compare-and-swap: see the package doc). The
// deleting revision is the stop's index.
func (b *Backend) Delete(ctx context.Context, ref store.Ref, exp store.Expect) (store.Resource, error) {
	loc, err := locate(ref)
	if err != nil {
		return store.Resource{}, err
	}
	cur, _, err := b.read(ctx, loc)
	if err != nil {
		return store.Resource{}, err
	}
	if err := exp.Check(ref, cur, true); err != nil {
		return store.Resource{}, err
	}
	_, wm, err := b.client.Jobs().DeregisterOpts(loc.id, &api.DeregisterOptions{}, b.write(ctx, loc.namespace))
	if err != nil {
		return store.Resource{}, b.fail("stop "+ref.String(), err)
	}
	cur.ModRevision = store.Revision(wm.LastIndex)
	_ = b.purge(ctx, loc) // housekeeping: a stopped job is deleted to revoada; Apply or Nomad's GC purges it
	return cur, nil
}

// purge removes a job and its versions from Nomad.
func (b *Backend) purge(ctx context.Context, loc location) error {
	_, _, err := b.client.Jobs().DeregisterOpts(loc.id, &api.DeregisterOptions{Purge: true}, b.write(ctx, loc.namespace))
	if err != nil && !isNotFound(err) {
		return b.fail("purge "+loc.ref.String(), err)
	}
	return nil
}

// Snapshot implements backend.Backend: a header line, every resource in
// store.Compare order as one JSON object a line (ref, face, format,
// version, payload), without Nomad's indexes, and "end <count>".
func (b *Backend) Snapshot(ctx context.Context) ([]byte, error) {
	l, err := b.List(ctx, "", "", backend.ReadOptions{})
	if err != nil {
		return nil, err
	}
	var out bytes.Buffer
	out.WriteString(snapshotMagic + "\n")
	for _, r := range l.Items {
		line, err := json.Marshal(snapshotLine{Kind: r.Ref.Kind, Namespace: r.Ref.Namespace, Name: r.Ref.Name,
			Face: r.Face, Format: r.Format.String(), Version: r.Version, Payload: r.Payload})
		if err != nil {
			return nil, fmt.Errorf("nomad: snapshot %s: %w", r.Ref, err)
		}
		out.Write(line)
		out.WriteByte('\n')
	}
	fmt.Fprintf(&out, "end %d\n", len(l.Items))
	return out.Bytes(), nil
}

const snapshotMagic = "revoada-nomad-snapshot v1"

type snapshotLine struct {
	Kind, Namespace, Name, Face, Format string
	Version                             int64
	Payload                             []byte
}

// Restore implements backend.Backend: store.ErrInvalid for bytes that are
// not a Snapshot's, store.ErrUnsupported for a valid one (see the package
// doc). The state is unchanged either way.
func (b *Backend) Restore(ctx context.Context, snap []byte) error {
	if err := checkSnapshot(snap); err != nil {
		return err
	}
	return fmt.Errorf("nomad: restore at %s: %w: a Nomad cluster's state is restored with Nomad's own snapshot restore", b.addr, store.ErrUnsupported)
}

func checkSnapshot(snap []byte) error {
	lines := strings.Split(string(snap), "\n")
	if len(lines) < 3 || lines[0] != snapshotMagic || lines[len(lines)-1] != "" ||
		lines[len(lines)-2] != fmt.Sprintf("end %d", len(lines)-3) {
		return &store.InvalidError{Field: "snapshot", Reason: "not a Nomad backend snapshot (or truncated)"}
	}
	for i, line := range lines[1 : len(lines)-2] {
		var l snapshotLine
		dec := json.NewDecoder(strings.NewReader(line))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&l); err != nil {
			return &store.InvalidError{Field: fmt.Sprintf("snapshot line %d", i+2), Reason: err.Error()}
		}
		if err := (store.Ref{Kind: l.Kind, Namespace: l.Namespace, Name: l.Name}).Validate(); err != nil {
			return err
		}
	}
	return nil
}

// Counts implements backend.Backend. The resource count takes a listing
// (bounded by countsTimeout); if that fails it reports the last count.
func (b *Backend) Counts() backend.Counts {
	ctx, cancel := context.WithTimeout(context.Background(), countsTimeout)
	defer cancel()
	l, err := b.List(ctx, "", "", backend.ReadOptions{})
	b.mu.Lock()
	defer b.mu.Unlock()
	if err == nil {
		b.lastCount = len(l.Items)
	}
	subs := 0
	for w := range b.watches {
		subs += w.fan.Count()
	}
	return backend.Counts{Resources: b.lastCount, Subscribers: subs}
}

// ensureNamespace creates a Nomad namespace on its first use.
func (b *Backend) ensureNamespace(ctx context.Context, ns string) error {
	if _, ok := b.namespaces.Load(ns); ok || ns == "default" {
		return nil
	}
	have, _, err := b.client.Namespaces().Info(ns, b.query(ctx, ""))
	if err == nil && have != nil {
		b.namespaces.Store(ns, true)
		return nil
	}
	if err != nil && !isNotFound(err) {
		return b.fail("read namespace "+ns, err)
	}
	if _, err := b.client.Namespaces().Register(&api.Namespace{Name: ns, Description: "created by revoada"}, b.write(ctx, "")); err != nil {
		return b.fail("create namespace "+ns, err)
	}
	b.namespaces.Store(ns, true)
	return nil
}

func (b *Backend) query(ctx context.Context, ns string) *api.QueryOptions {
	return (&api.QueryOptions{Namespace: ns, AllowStale: false}).WithContext(ctx)
}

func (b *Backend) write(ctx context.Context, ns string) *api.WriteOptions {
	return (&api.WriteOptions{Namespace: ns}).WithContext(ctx)
}

package systemd

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	sddbus "github.com/coreos/go-systemd/v22/dbus"
	"github.com/godbus/dbus/v5"

	"revoada.dev/revoada/backend"
	"revoada.dev/revoada/core/face"
	"revoada.dev/revoada/core/store"
	"revoada.dev/revoada/real/disk"
)

// ErrManager wraps a failure of the systemd manager or of the connection
// to it (dial, reload, a job it could not run).
var ErrManager = errors.New("systemd: manager")

// Unit is what a resource becomes in the unit directory.
type Unit struct {
	Name  string // the unit file's name, e.g. "web.service"
	Text  []byte // the unit file
	Start bool   // the backend starts it on Apply and stops it on Delete
}

// Renderer maps a resource to its unit. It must map distinct refs to
// distinct unit names. Errors wrap store.ErrInvalid or store.ErrUnsupported.
type Renderer func(store.Resource) (Unit, error)

// startKinds are the unit types Units starts: those that run or watch
// something on their own. Targets, slices, mounts and the rest are loaded
// and left to their dependencies.
var startKinds = []string{"service", "socket", "timer", "path"}

// Units renders the systemd face's units verbatim: a resource must be a
// valid systemd face unit (face.Validate: Face "systemd", Format Unit, no
// namespace, the name's suffix its kind). It starts services, sockets,
// timers and paths that are not templates ("getty@.service").
func Units(r store.Resource) (Unit, error) {
	if r.Face != face.Systemd {
		return Unit{}, fmt.Errorf("systemd: %s: %w: the %q face's resources are not units", r.Ref, store.ErrUnsupported, r.Face)
	}
	if err := face.Validate(r); err != nil {
		return Unit{}, fmt.Errorf("systemd: %s: %w", r.Ref, err)
	}
	template := strings.Contains(r.Ref.Name, "@.")
	return Unit{Name: r.Ref.Name, Text: r.Payload, Start: slices.Contains(startKinds, r.Ref.Kind) && !template}, nil
}

// Config says where a Backend keeps its units and revisions.
type Config struct {
	// UnitDir is the directory the units are written to; it must exist
	// and be in the manager's unit search path.
	UnitDir string
	// State is the bbolt file of revisions; "" means UnitDir's sibling,
	// UnitDir + ".revoada.db" (not inside UnitDir, where the manager reads).
	State string
	// Conn reaches the manager (see Dial). The Backend does not close it.
	Conn *sddbus.Conn
	// Render maps resources to units; nil means Units.
	Render Renderer
	// Name is the backend's name; "" means "systemd".
	Name string
}

// Backend is a backend.Backend over a systemd manager; see the package doc.
type Backend struct {
	cfg Config
	rev *disk.Backend
	mu  sync.Mutex // serialises writes: precondition, unit file, manager, commit
}

var (
	_ backend.Backend   = (*Backend)(nil)
	_ backend.Compactor = (*Backend)(nil)
)

// noSuchUnit is the manager's D-Bus error for a unit it has not loaded.
const noSuchUnit = "org.freedesktop.systemd1.NoSuchUnit"

// templateCheck is the instance name a template is checked through.
const templateCheck = "revoada-check"

// Limits.
const (
	// stopGuard bounds the wait for a stop job when the caller's context
	// has no deadline (podman's stop timeout is 10 s; systemd's default
	// TimeoutStopSec is 90 s).
	stopGuard = 2 * time.Minute
	// rollbackGuard bounds putting a unit back after a failed write, which
	// runs even when the write's context has ended.
	rollbackGuard = 30 * time.Second
	// pollEvery is how often a stop's progress is read from the manager.
	pollEvery = 20 * time.Millisecond
)

// Open opens the revision file (creating it if absent) and reconciles the
// unit directory with it (see the package doc). Errors: those of
// disk.OpenBackend, the file system's, or ErrManager.
func Open(ctx context.Context, cfg Config) (*Backend, error) {
	if cfg.Conn == nil || cfg.UnitDir == "" {
		return nil, fmt.Errorf("systemd: open: %w: a Config needs UnitDir and Conn", store.ErrInvalid)
	}
	if fi, err := os.Stat(cfg.UnitDir); err != nil {
		return nil, fmt.Errorf("systemd: open: %w", err)
	} else if !fi.IsDir() {
		return nil, fmt.Errorf("systemd: open: %w: %s is not a directory", store.ErrInvalid, cfg.UnitDir)
	}
	if cfg.State == "" {
		cfg.State = filepath.Clean(cfg.UnitDir) + ".revoada.db"
	}
	if cfg.Render == nil {
		cfg.Render = Units
	}
	if cfg.Name == "" {
		cfg.Name = "systemd"
	}
	rev, err := disk.OpenBackend(cfg.State)
	if err != nil {
		return nil, fmt.Errorf("systemd: open: %w", err)
	}
	b := &Backend{cfg: cfg, rev: rev}
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.reconcile(ctx, nil); err != nil {
		rev.Close()
		return nil, err
	}
	return b, nil
}

// Close closes the revision file; the units stay with the manager.
func (b *Backend) Close() error { return b.rev.Close() }

// Name is Config.Name.
func (b *Backend) Name() string { return b.cfg.Name }

// UnitDir is where the units are written.
func (b *Backend) UnitDir() string { return b.cfg.UnitDir }

func (b *Backend) render(r store.Resource) (Unit, error) {
	if err := r.Ref.Validate(); err != nil {
		return Unit{}, fmt.Errorf("systemd: %w", err)
	}
	u, err := b.cfg.Render(r)
	if err != nil {
		return Unit{}, err
	}
	if _, err := face.UnitKind(u.Name); err != nil || strings.ContainsRune(u.Name, '/') {
		return Unit{}, fmt.Errorf("systemd: %s: unit name %q: %w", r.Ref, u.Name, store.ErrInvalid)
	}
	return u, nil
}

// current is the stored resource at ref and whether it exists.
func (b *Backend) current(ctx context.Context, ref store.Ref) (store.Resource, bool, error) {
	cur, err := b.rev.Get(ctx, ref, backend.ReadOptions{})
	switch {
	case errors.Is(err, store.ErrNotFound):
		return store.Resource{}, false, nil
	case err != nil:
		return store.Resource{}, false, err
	}
	return cur, true, nil
}

// Apply writes r's unit, has the manager load it, starts or restarts it
// if it starts, and commits the revision; see the package doc. Errors:
// store.ErrInvalid (including a unit the manager would not load or start),
// store.ErrUnsupported (a resource with no unit), *store.ConflictError,
// ErrManager, the file system's.
func (b *Backend) Apply(ctx context.Context, r store.Resource, exp store.Expect) (store.Resource, error) {
	u, err := b.render(r)
	if err != nil {
		return store.Resource{}, err
	}
	if len(r.Payload) > store.PayloadBytesMax {
		return store.Resource{}, fmt.Errorf("systemd: %s: %w", r.Ref, &store.InvalidError{Field: "payload", Reason: fmt.Sprintf("%d bytes, limit %d", len(r.Payload), store.PayloadBytesMax)})
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return store.Resource{}, err
	}
	cur, exists, err := b.current(ctx, r.Ref)
	if err != nil {
		return store.Resource{}, err
	}
	if err := exp.Check(r.Ref, cur, exists); err != nil {
		return store.Resource{}, err
	}
	path := filepath.Join(b.cfg.UnitDir, u.Name)
	prev, err := os.ReadFile(path)
	had := err == nil
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return store.Resource{}, fmt.Errorf("systemd: %w", err)
	}
	if _, err := os.Lstat(path); err == nil && !exists { // a dangling link too
		return store.Resource{}, fmt.Errorf("systemd: %s: %w: %s is a unit file the backend did not write", r.Ref, store.ErrConflict, path)
	}
	if exists {
		return b.write(ctx, r, exp, u, prev, had)
	}
	// A create: a crash before the commit leaves a unit file the
	// revision file does not know, which the next Open removes (see
	// dropUncommitted) once it is named here.
	if err := b.intend(u.Name); err != nil {
		return store.Resource{}, err
	}
	out, err := b.write(ctx, r, exp, u, prev, had)
	b.settle()
	return out, err
}

// crashBeforeCommit, when set (by a test), runs between the manager's
// change and the commit: where a crash leaves the two apart.
var crashBeforeCommit func()

// write installs u, starts it if it starts, and commits r; on failure it
// puts back the previous file.
func (b *Backend) write(ctx context.Context, r store.Resource, exp store.Expect, u Unit, prev []byte, had bool) (store.Resource, error) {
	changed := !had || !bytes.Equal(prev, u.Text)
	if err := b.install(ctx, u, prev, had); err != nil {
		return store.Resource{}, err
	}
	if u.Start {
		if err := b.start(ctx, u.Name, changed); err != nil {
			b.putBack(u, prev, had)
			return store.Resource{}, err
		}
	}
	if crashBeforeCommit != nil {
		crashBeforeCommit()
	}
	// The manager has the new unit: commit even if ctx ended meanwhile.
	out, err := b.rev.Apply(context.WithoutCancel(ctx), r, exp)
	if err != nil {
		b.putBack(u, prev, had)
		return store.Resource{}, fmt.Errorf("systemd: %s: %w", r.Ref, err)
	}
	return out, nil
}

// pending is the file naming the unit a create is writing, beside the
// revision file: present only while a create runs, or after a crash in
// one.
func (b *Backend) pending() string { return b.cfg.State + ".pending" }

// intend records that a create writes unit name.
func (b *Backend) intend(name string) error {
	p := b.pending()
	if err := writeAtomic(filepath.Dir(p), filepath.Base(p), []byte(name)); err != nil {
		return fmt.Errorf("systemd: %s: recording the create: %w", name, err)
	}
	return nil
}

// settle forgets a create that committed or was put back. A file left
// behind is harmless: dropUncommitted keeps a unit that is stored.
func (b *Backend) settle() {
	p := b.pending()
	removeFile(filepath.Dir(p), filepath.Base(p))
}

// dropUncommitted stops and removes the unit of a create that a crash
// interrupted before its commit (the pending file names it and no stored
// resource has it), then forgets the create. b.mu is held.
func (b *Backend) dropUncommitted(ctx context.Context, want map[string]bool) error {
	data, err := os.ReadFile(b.pending())
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("systemd: %w", err)
	}
	name := string(data)
	if _, kerr := face.UnitKind(name); kerr == nil && !strings.ContainsRune(name, '/') && !want[name] {
		if err := b.remove(ctx, Unit{Name: name, Start: !strings.Contains(name, "@.")}); err != nil {
			return err
		}
	}
	b.settle()
	return nil
}

// install writes u, reloads, and checks the manager loaded it; on failure
// it puts back the previous file.
func (b *Backend) install(ctx context.Context, u Unit, prev []byte, had bool) error {
	if err := writeAtomic(b.cfg.UnitDir, u.Name, u.Text); err != nil {
		return fmt.Errorf("systemd: %s: %w", u.Name, err)
	}
	err := b.reload(ctx)
	if err == nil {
		err = b.loaded(ctx, u.Name)
	}
	if err != nil {
		b.putBack(u, prev, had)
	}
	return err
}

// putBack restores u's file's previous state (or removes it) and
// reloads, with a context of its own: it runs after the write's failed.
// A previous unit that starts is started again (a no-op when it runs): a
// reload of a file the manager would not load cancels the unit's waiting
// start job, and a Delete had stopped it.
func (b *Backend) putBack(u Unit, prev []byte, had bool) {
	ctx, cancel := context.WithTimeout(context.Background(), rollbackGuard)
	defer cancel()
	if had {
		writeAtomic(b.cfg.UnitDir, u.Name, prev)
	} else {
		removeFile(b.cfg.UnitDir, u.Name)
	}
	if b.reload(ctx) == nil && had && u.Start {
		b.start(ctx, u.Name, false)
	}
}

func (b *Backend) reload(ctx context.Context) error {
	if err := b.cfg.Conn.ReloadContext(ctx); err != nil {
		return managerError(ctx, "daemon-reload", err)
	}
	return nil
}

func managerError(ctx context.Context, what string, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return fmt.Errorf("systemd: %s: %w: %w", what, ErrManager, err)
}

// loaded checks the manager loaded name from its file. A template
// ("getty@.service") is no unit of its own: it is checked through an
// instance of it, "getty@revoada-check.service", which the manager loads
// from the template's file.
func (b *Backend) loaded(ctx context.Context, name string) error {
	if prefix, suffix, ok := strings.Cut(name, "@."); ok {
		name = prefix + "@" + templateCheck + "." + suffix
	}
	props, err := b.cfg.Conn.GetUnitPropertiesContext(ctx, name)
	if err != nil {
		return managerError(ctx, "properties of "+name, err)
	}
	if state, _ := props["LoadState"].(string); state != "loaded" {
		why := ""
		if le, ok := props["LoadError"].([]any); ok && len(le) == 2 {
			why = fmt.Sprintf(": %v", le[1])
		}
		return fmt.Errorf("systemd: %s: %w: the manager did not load it (LoadState %q%s)", name, store.ErrInvalid, state, why)
	}
	return nil
}

// start restarts (changed) or starts a unit; the manager runs the job.
func (b *Backend) start(ctx context.Context, name string, changed bool) error {
	var err error
	if changed {
		_, err = b.cfg.Conn.RestartUnitContext(ctx, name, "replace", nil)
	} else {
		_, err = b.cfg.Conn.StartUnitContext(ctx, name, "replace", nil)
	}
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("systemd: %s: %w: the manager refused to start it: %v", name, store.ErrInvalid, err)
	}
	return nil
}

// stop stops a unit and waits until the manager has it inactive or
// failed (its ExecStop and ExecStopPost have run).
func (b *Backend) stop(ctx context.Context, name string) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, stopGuard)
		defer cancel()
	}
	if _, err := b.cfg.Conn.StopUnitContext(ctx, name, "replace", nil); err != nil {
		var de dbus.Error
		if errors.As(err, &de) && de.Name == noSuchUnit {
			return nil // not loaded (its file was lost and the manager reloaded): not running
		}
		return managerError(ctx, "stop "+name, err)
	}
	tick := time.NewTicker(pollEvery)
	defer tick.Stop()
	for {
		s, err := b.unitState(ctx, name)
		if err != nil {
			return err
		}
		if !s.JobPending && (s.ActiveState == "inactive" || s.ActiveState == "failed") {
			return nil
		}
		select {
		case <-ctx.Done():
			return managerError(ctx, "stop "+name, ctx.Err())
		case <-tick.C:
		}
	}
}

// Delete stops ref's unit (waiting for the stop), removes its file,
// reloads and commits; see the package doc. Errors: store.ErrNotFound,
// *store.ConflictError, store.ErrInvalid, ErrManager, the file system's.
func (b *Backend) Delete(ctx context.Context, ref store.Ref, exp store.Expect) (store.Resource, error) {
	if err := ref.Validate(); err != nil {
		return store.Resource{}, fmt.Errorf("systemd: %w", err)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return store.Resource{}, err
	}
	cur, exists, err := b.current(ctx, ref)
	if err != nil {
		return store.Resource{}, err
	}
	if !exists {
		return store.Resource{}, fmt.Errorf("systemd: %s: %w", ref, store.ErrNotFound)
	}
	if err := exp.Check(ref, cur, exists); err != nil {
		return store.Resource{}, err
	}
	u, err := b.render(cur)
	if err != nil {
		return store.Resource{}, err
	}
	if err := b.remove(ctx, u); err != nil {
		return store.Resource{}, err
	}
	// The unit is gone from the manager: commit even if ctx ended meanwhile.
	out, err := b.rev.Delete(context.WithoutCancel(ctx), ref, exp)
	if err != nil {
		b.putBack(u, u.Text, true)
		return store.Resource{}, fmt.Errorf("systemd: %s: %w", ref, err)
	}
	return out, nil
}

// remove stops a unit that starts, removes its file, reloads and clears a
// failed state.
func (b *Backend) remove(ctx context.Context, u Unit) error {
	if u.Start {
		if err := b.stop(ctx, u.Name); err != nil {
			return err
		}
	}
	if err := removeFile(b.cfg.UnitDir, u.Name); err != nil {
		return fmt.Errorf("systemd: %s: %w", u.Name, err)
	}
	if err := b.reload(ctx); err != nil {
		return err
	}
	b.cfg.Conn.ResetFailedUnitContext(ctx, u.Name) // fails when not failed: nothing to clear
	return nil
}

// reconcile makes the directory hold exactly the units of the stored
// resources that it should (rewriting those missing or different), after
// stopping and removing the units of old that are no longer stored, then
// reloads and starts the units that start. b.mu is held.
func (b *Backend) reconcile(ctx context.Context, old []store.Resource) error {
	l, err := b.rev.List(ctx, "", "", backend.ReadOptions{})
	if err != nil {
		return fmt.Errorf("systemd: %w", err)
	}
	want := map[string]bool{}
	var units []Unit
	for _, r := range l.Items {
		u, err := b.render(r)
		if err != nil {
			return fmt.Errorf("systemd: stored %w", err)
		}
		units = append(units, u)
		want[u.Name] = true
	}
	if err := b.dropUncommitted(ctx, want); err != nil {
		return err
	}
	for _, r := range old {
		u, err := b.render(r)
		if err != nil || want[u.Name] {
			continue
		}
		if err := b.remove(ctx, u); err != nil {
			return err
		}
	}
	changed := map[string]bool{}
	for _, u := range units {
		prev, err := os.ReadFile(filepath.Join(b.cfg.UnitDir, u.Name))
		if err == nil && bytes.Equal(prev, u.Text) {
			continue
		}
		if err := writeAtomic(b.cfg.UnitDir, u.Name, u.Text); err != nil {
			return fmt.Errorf("systemd: %s: %w", u.Name, err)
		}
		changed[u.Name] = true
	}
	if err := b.reload(ctx); err != nil {
		return err
	}
	for _, u := range units {
		if u.Start {
			// A unit the manager will not start is left for State to report.
			b.start(ctx, u.Name, changed[u.Name])
		}
	}
	return ctx.Err()
}

// Get returns a stored resource (from the revision file).
func (b *Backend) Get(ctx context.Context, ref store.Ref, opt backend.ReadOptions) (store.Resource, error) {
	return b.rev.Get(ctx, ref, opt)
}

// List lists stored resources (from the revision file).
func (b *Backend) List(ctx context.Context, kind, namespace string, opt backend.ReadOptions) (backend.List, error) {
	return b.rev.List(ctx, kind, namespace, opt)
}

// Watch streams the store's events; see the package doc.
func (b *Backend) Watch(ctx context.Context, kind string, from store.Revision) (backend.Watch, error) {
	return b.rev.Watch(ctx, kind, from)
}

// Snapshot is the revision file's snapshot.
func (b *Backend) Snapshot(ctx context.Context) ([]byte, error) { return b.rev.Snapshot(ctx) }

// Restore replaces the stored state with snap's and reconciles the unit
// directory and the manager with it. A snapshot holding a resource this
// backend cannot render is refused (store.ErrInvalid or
// store.ErrUnsupported) before anything changes.
func (b *Backend) Restore(ctx context.Context, snap []byte) error {
	st, err := store.Restore(snap)
	if err != nil {
		return fmt.Errorf("systemd: restore: %w", err)
	}
	items, _ := st.List("", "")
	for _, r := range items {
		if _, err := b.render(r); err != nil {
			return fmt.Errorf("systemd: restore: %w", err)
		}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	old, err := b.rev.List(ctx, "", "", backend.ReadOptions{})
	if err != nil {
		return fmt.Errorf("systemd: restore: %w", err)
	}
	if err := b.rev.Restore(ctx, snap); err != nil {
		return fmt.Errorf("systemd: restore: %w", err)
	}
	return b.reconcile(ctx, old.Items)
}

// Compact forgets revision history below rev.
func (b *Backend) Compact(ctx context.Context, rev store.Revision) error {
	return b.rev.Compact(ctx, rev)
}

// Counts reports the stored resources and live watches.
func (b *Backend) Counts() backend.Counts { return b.rev.Counts() }

// UnitState is a unit's state in the manager.
type UnitState struct {
	Name        string
	LoadState   string // loaded, not-found, bad-setting, error, masked
	ActiveState string // active, reloading, inactive, failed, activating, deactivating
	SubState    string // the unit type's own: running, exited, dead, ...
	JobPending  bool   // a job (start, stop, restart) is queued or running
}

// State reads the manager's state of ref's unit. Errors: store.ErrNotFound,
// store.ErrInvalid, ErrManager.
func (b *Backend) State(ctx context.Context, ref store.Ref) (UnitState, error) {
	r, err := b.rev.Get(ctx, ref, backend.ReadOptions{})
	if err != nil {
		return UnitState{}, err
	}
	u, err := b.render(r)
	if err != nil {
		return UnitState{}, err
	}
	return b.unitState(ctx, u.Name)
}

func (b *Backend) unitState(ctx context.Context, name string) (UnitState, error) {
	props, err := b.cfg.Conn.GetUnitPropertiesContext(ctx, name)
	if err != nil {
		return UnitState{}, managerError(ctx, "properties of "+name, err)
	}
	s := UnitState{Name: name}
	for _, k := range []string{"LoadState", "ActiveState", "SubState", "Job"} {
		s.set(k, props[k])
	}
	return s, nil
}

// set sets the field of s that the unit property k is, from its D-Bus
// value v; other properties are ignored.
func (s *UnitState) set(k string, v any) {
	switch k {
	case "LoadState":
		s.LoadState, _ = v.(string)
	case "ActiveState":
		s.ActiveState, _ = v.(string)
	case "SubState":
		s.SubState, _ = v.(string)
	case "Job": // (uo): the job's id, 0 for none, and its path
		if job, ok := v.([]any); ok && len(job) == 2 {
			id, _ := job[0].(uint32)
			s.JobPending = id != 0
		}
	}
}

package systemd_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"revoada.dev/revoada/backend"
	"revoada.dev/revoada/core/face"
	"revoada.dev/revoada/core/store"
	"revoada.dev/revoada/real/systemd"
	"revoada.dev/revoada/real/systemd/systemdtest"
)

var backendRead = backend.ReadOptions{}

func unitResource(t *testing.T, name, text string) store.Resource {
	t.Helper()
	sd, err := face.ByName(face.Systemd)
	if err != nil {
		t.Fatal(err)
	}
	rs, err := sd.Decode(name, []byte(text), store.Unit)
	if err != nil {
		t.Fatal(err)
	}
	return rs[0]
}

// sleeper is a service that runs until stopped.
const sleeper = "[Unit]\nDescription=revoada test sleeper %s\n\n[Service]\nExecStart=/bin/sleep 1000\n"

func awaitState(t *testing.T, b *systemd.Backend, ref store.Ref, active, sub string) systemd.UnitState {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		s, err := b.State(t.Context(), ref)
		if err != nil {
			t.Fatal(err)
		}
		if s.ActiveState == active && s.SubState == sub && !s.JobPending {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s is %+v, want %s (%s)", ref.Name, s, active, sub)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func mainPID(t *testing.T, m *systemdtest.Manager, unit string) string {
	t.Helper()
	out, err := m.Command(nil, "systemctl", "show", "--value", "-p", "MainPID", unit).Output()
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(out))
}

// TestServiceLifecycle: Apply starts a service, an identical Apply leaves
// it running (same process), a changed one restarts it (a new process),
// Delete stops it, removes the file and the manager forgets it.
func TestServiceLifecycle(t *testing.T) {
	m := systemdtest.Start(t)
	b := open(t, m)
	r := unitResource(t, "sleeper.service", strings.Replace(sleeper, "%s", "1", 1))
	if _, err := b.Apply(t.Context(), r, store.Expect{}); err != nil {
		t.Fatal(err)
	}
	awaitState(t, b, r.Ref, "active", "running")
	first := mainPID(t, m, r.Ref.Name)
	if _, err := b.Apply(t.Context(), r, store.Expect{}); err != nil {
		t.Fatal(err)
	}
	awaitState(t, b, r.Ref, "active", "running")
	if again := mainPID(t, m, r.Ref.Name); again != first {
		t.Errorf("an unchanged unit was restarted: pid %s, then %s", first, again)
	}
	r = unitResource(t, "sleeper.service", strings.Replace(sleeper, "%s", "2", 1))
	if _, err := b.Apply(t.Context(), r, store.Expect{}); err != nil {
		t.Fatal(err)
	}
	awaitState(t, b, r.Ref, "active", "running")
	if changed := mainPID(t, m, r.Ref.Name); changed == first {
		t.Errorf("a changed unit kept running its old text: pid %s", changed)
	}
	if _, err := b.Delete(t.Context(), r.Ref, store.Expect{}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(m.UnitDir, r.Ref.Name)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("unit file after delete: %v", err)
	}
	out, _ := m.Command(nil, "systemctl", "show", "--value", "-p", "LoadState", "-p", "ActiveState", r.Ref.Name).Output()
	if got := strings.Fields(string(out)); len(got) != 2 || got[0] != "not-found" || got[1] != "inactive" {
		t.Errorf("after delete the manager says %q, want not-found inactive", got)
	}
}

// TestRefusesWhatTheManagerWillNotLoad: a service without ExecStart (the
// face accepts it, the manager does not load it) is refused with
// store.ErrInvalid carrying the manager's reason; nothing is stored and the
// previous unit file is back.
func TestRefusesWhatTheManagerWillNotLoad(t *testing.T) {
	m := systemdtest.Start(t)
	b := open(t, m)
	good := unitResource(t, "web.service", strings.Replace(sleeper, "%s", "good", 1))
	stored, err := b.Apply(t.Context(), good, store.Expect{})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"web.service", "new.service"} {
		bad := unitResource(t, name, "[Unit]\nDescription=no ExecStart\n\n[Service]\nType=simple\n")
		_, err := b.Apply(t.Context(), bad, store.Expect{})
		if !errors.Is(err, store.ErrInvalid) || !strings.Contains(err.Error(), "bad-setting") {
			t.Fatalf("%s: got %v, want ErrInvalid naming bad-setting", name, err)
		}
		t.Logf("%s: %v", name, err)
	}
	if got, err := b.Get(t.Context(), good.Ref, backendRead); err != nil || got.ModRevision != stored.ModRevision {
		t.Errorf("the refused update changed the store: %+v, %v", got, err)
	}
	if file, _ := os.ReadFile(filepath.Join(m.UnitDir, "web.service")); string(file) != string(good.Payload) {
		t.Errorf("the unit file is not the stored unit:\n%s", file)
	}
	if _, err := os.Stat(filepath.Join(m.UnitDir, "new.service")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a refused new unit left its file: %v", err)
	}
	if _, err := b.Get(t.Context(), store.Ref{Kind: "service", Name: "new.service"}, backendRead); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a refused new unit is stored: %v", err)
	}
	awaitState(t, b, good.Ref, "active", "running")
}

// TestRefusesNonUnits: resources of other faces have no place in systemd.
func TestRefusesNonUnits(t *testing.T) {
	m := systemdtest.Start(t)
	b := open(t, m)
	blob := store.Resource{Ref: store.Ref{Kind: "Blob", Namespace: "ns", Name: "a"}, Face: face.PureRaft, Format: store.Native, Payload: []byte("{}")}
	if _, err := b.Apply(t.Context(), blob, store.Expect{}); !errors.Is(err, store.ErrUnsupported) {
		t.Errorf("a blob: got %v, want ErrUnsupported", err)
	}
	namespaced := unitResource(t, "a.service", "[Service]\nExecStart=/bin/true\n")
	namespaced.Ref.Namespace = "ns"
	if _, err := b.Apply(t.Context(), namespaced, store.Expect{}); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("a unit in a namespace: got %v, want ErrInvalid", err)
	}
	if c := b.Counts(); c.Resources != 0 {
		t.Errorf("refused input was stored: %+v", c)
	}
}

// TestReopenReconciles: the revision file is the truth. A unit file lost
// while the backend was closed is written back at Open and its service
// started again, with the revisions kept.
func TestReopenReconciles(t *testing.T) {
	m := systemdtest.Start(t)
	b, err := systemd.Open(t.Context(), systemd.Config{UnitDir: m.UnitDir, Conn: m.Conn})
	if err != nil {
		t.Fatal(err)
	}
	r := unitResource(t, "kept.service", strings.Replace(sleeper, "%s", "kept", 1))
	stored, err := b.Apply(t.Context(), r, store.Expect{})
	if err != nil {
		t.Fatal(err)
	}
	awaitState(t, b, r.Ref, "active", "running")
	b.Close()
	if _, err := os.Stat(m.UnitDir + ".revoada.db"); err != nil {
		t.Fatalf("no revision file beside the unit directory: %v", err)
	}
	// Lost: the file is gone and the manager stopped the service.
	if err := os.Remove(filepath.Join(m.UnitDir, r.Ref.Name)); err != nil {
		t.Fatal(err)
	}
	if out, err := m.Command(nil, "systemctl", "stop", r.Ref.Name).CombinedOutput(); err != nil {
		t.Fatalf("systemctl stop: %v: %s", err, out)
	}
	b = open(t, m)
	got, err := b.Get(t.Context(), r.Ref, backendRead)
	if err != nil || got.ModRevision != stored.ModRevision || got.Version != stored.Version {
		t.Fatalf("after reopen %+v, %v; stored %+v", got, err, stored)
	}
	if file, err := os.ReadFile(filepath.Join(m.UnitDir, r.Ref.Name)); err != nil || string(file) != string(r.Payload) {
		t.Fatalf("the unit file was not written back: %v", err)
	}
	awaitState(t, b, r.Ref, "active", "running")
}

// TestDeleteAfterTheUnitWasLost: a unit whose file was removed behind the
// backend's back (and the manager reloaded, so it no longer has the unit)
// is still deleted.
func TestDeleteAfterTheUnitWasLost(t *testing.T) {
	m := systemdtest.Start(t)
	b := open(t, m)
	r := unitResource(t, "lost.service", strings.Replace(sleeper, "%s", "lost", 1))
	if _, err := b.Apply(t.Context(), r, store.Expect{}); err != nil {
		t.Fatal(err)
	}
	awaitState(t, b, r.Ref, "active", "running")
	if out, err := m.Command(nil, "systemctl", "stop", r.Ref.Name).CombinedOutput(); err != nil {
		t.Fatalf("systemctl stop: %v: %s", err, out)
	}
	if err := os.Remove(filepath.Join(m.UnitDir, r.Ref.Name)); err != nil {
		t.Fatal(err)
	}
	if out, err := m.Command(nil, "systemctl", "daemon-reload").CombinedOutput(); err != nil {
		t.Fatalf("daemon-reload: %v: %s", err, out)
	}
	if _, err := b.Delete(t.Context(), r.Ref, store.Expect{}); err != nil {
		t.Fatalf("delete: %v", err)
	}
	if _, err := b.Get(t.Context(), r.Ref, backendRead); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("get after delete: %v", err)
	}
}

// TestWatchStates: the manager's reports of a unit's changes arrive as
// states: a started service is seen active (running), a deleted one
// inactive; units the backend does not hold are not reported.
func TestWatchStates(t *testing.T) {
	m := systemdtest.Start(t)
	b := open(t, m)
	w, err := b.WatchStates(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	r := unitResource(t, "watched.service", strings.Replace(sleeper, "%s", "watched", 1))
	await := func(active string) {
		t.Helper()
		timeout := time.After(time.Minute)
		for {
			select {
			case c, ok := <-w.Changes():
				if !ok {
					t.Fatalf("the watch ended: %v", w.Err())
				}
				if c.Ref != r.Ref {
					t.Fatalf("a change of %s, which the backend does not hold as it is", c.Ref)
				}
				t.Logf("%s: %s (%s)", c.Ref.Name, c.State.ActiveState, c.State.SubState)
				if c.State.ActiveState == active {
					return
				}
			case <-timeout:
				t.Fatalf("%s was not reported %s", r.Ref.Name, active)
			}
		}
	}
	// A unit the backend does not hold starts first: it must not be reported.
	foreign := strings.Replace(sleeper, "%s", "foreign", 1)
	if err := os.WriteFile(filepath.Join(m.UnitDir, "foreign.service"), []byte(foreign), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"daemon-reload"}, {"start", "foreign.service"}} {
		if out, err := m.Command(nil, "systemctl", args...).CombinedOutput(); err != nil {
			t.Fatalf("systemctl %v: %v: %s", args, err, out)
		}
	}
	if _, err := b.Apply(t.Context(), r, store.Expect{}); err != nil {
		t.Fatal(err)
	}
	await("active")
	if _, err := b.Delete(t.Context(), r.Ref, store.Expect{}); err != nil {
		t.Fatal(err)
	}
	await("inactive")
}

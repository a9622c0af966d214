package systemd_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"revoada.dev/revoada/core/store"
	"revoada.dev/revoada/real/systemd"
	"revoada.dev/revoada/real/systemd/systemdtest"
)

// TestApplyLeavesForeignUnitsAlone: a unit file in the directory that the
// backend did not write (the host's own, in a shared /etc/systemd/system)
// is not overwritten by an Apply of its name, nor removed by anything the
// backend does: the Apply is refused as a conflict naming the file.
func TestApplyLeavesForeignUnitsAlone(t *testing.T) {
	m := systemdtest.Start(t)
	foreign := strings.Replace(sleeper, "%s", "the host's own", 1)
	path := filepath.Join(m.UnitDir, "host.service")
	if err := os.WriteFile(path, []byte(foreign), 0o644); err != nil {
		t.Fatal(err)
	}
	b := open(t, m)
	r := unitResource(t, "host.service", strings.Replace(sleeper, "%s", "revoada's", 1))
	_, err := b.Apply(t.Context(), r, store.Expect{})
	if !errors.Is(err, store.ErrConflict) || !strings.Contains(err.Error(), path) {
		t.Fatalf("apply over a unit file the backend did not write: %v, want a conflict naming %s", err, path)
	}
	if got, err := os.ReadFile(path); err != nil || string(got) != foreign {
		t.Fatalf("the host's unit file was changed: %v\n%s", err, got)
	}
	if _, err := b.Get(t.Context(), r.Ref, backendRead); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("get after the refused apply: %v", err)
	}
	// A link to a file elsewhere (systemctl link), even a dangling one,
	// is the host's too.
	link := filepath.Join(m.UnitDir, "linked.service")
	if err := os.Symlink("/nonexistent/linked.service", link); err != nil {
		t.Fatal(err)
	}
	r = unitResource(t, "linked.service", strings.Replace(sleeper, "%s", "revoada's", 1))
	if _, err := b.Apply(t.Context(), r, store.Expect{}); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("apply over a dangling link: %v, want a conflict", err)
	}
	if target, err := os.Readlink(link); err != nil || target != "/nonexistent/linked.service" {
		t.Fatalf("the host's link was changed: %q, %v", target, err)
	}
}

// TestReopenDropsAnUncommittedCreate: a create interrupted between the
// manager's change and the commit (the unit file written, its service
// started, no revision) leaves a unit the revision file does not know;
// the next Open stops and removes it, and the name can be applied again.
func TestReopenDropsAnUncommittedCreate(t *testing.T) {
	m := systemdtest.Start(t)
	b, err := systemd.Open(t.Context(), systemd.Config{UnitDir: m.UnitDir, Conn: m.Conn})
	if err != nil {
		t.Fatal(err)
	}
	r := unitResource(t, "torn.service", strings.Replace(sleeper, "%s", "torn", 1))
	type crash struct{}
	systemd.SetCrashBeforeCommit(func() { panic(crash{}) })
	func() {
		defer func() {
			if p := recover(); p != (crash{}) {
				panic(p)
			}
		}()
		b.Apply(t.Context(), r, store.Expect{})
	}()
	systemd.SetCrashBeforeCommit(nil)
	b.Close()
	path := filepath.Join(m.UnitDir, r.Ref.Name)
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("the interrupted create left no unit file: %v", err)
	}
	b = open(t, m)
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("after reopen the uncommitted unit file is still there: %v", err)
	}
	props, err := m.Conn.GetUnitPropertiesContext(t.Context(), r.Ref.Name)
	if err != nil {
		t.Fatal(err)
	}
	if props["ActiveState"] != "inactive" || props["LoadState"] != "not-found" {
		t.Fatalf("after reopen the manager has the uncommitted unit %v (%v), want it inactive and forgotten", props["ActiveState"], props["LoadState"])
	}
	if _, err := b.Apply(t.Context(), r, store.Expect{}); err != nil {
		t.Fatalf("applying the name again: %v", err)
	}
}

// TestRefusedUpdateLeavesTheUnitRunning: an update the manager will not
// load, applied while the unit's start job still waits (for a unit it is
// ordered after), is refused and put back, and the unit comes up running
// its stored text.
func TestRefusedUpdateLeavesTheUnitRunning(t *testing.T) {
	m := systemdtest.Start(t)
	b := open(t, m)
	gate := unitResource(t, "gate.service", "[Unit]\nDescription=revoada gate\n\n[Service]\nType=oneshot\nExecStart=/bin/sleep 2\n")
	if _, err := b.Apply(t.Context(), gate, store.Expect{}); err != nil {
		t.Fatal(err)
	}
	slow := unitResource(t, "slow.service", "[Unit]\nDescription=revoada slow start\nWants=gate.service\nAfter=gate.service\n\n[Service]\nExecStart=/bin/sleep 1000\n")
	if _, err := b.Apply(t.Context(), slow, store.Expect{}); err != nil {
		t.Fatal(err)
	}
	bad := unitResource(t, "slow.service", "[Unit]\nDescription=no ExecStart\n\n[Service]\nType=simple\n")
	if _, err := b.Apply(t.Context(), bad, store.Expect{}); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("bad update: %v, want ErrInvalid", err)
	}
	awaitState(t, b, slow.Ref, "active", "running")
}

package systemd_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"revoada.dev/revoada/core/face"
	"revoada.dev/revoada/core/store"
	"revoada.dev/revoada/real/systemd"
	"revoada.dev/revoada/real/systemd/systemdtest"
)

// realWorld holds unit files shipped by Debian's systemd and other packages.
const realWorld = "../../testdata/real-world/systemd"

// notClean are the real-world units systemd-analyze verify complains about
// on this machine, each for a reason of the machine, not of the unit: the
// complaint must contain the text given.
var notClean = map[string]struct{ reason, says string }{
	"container-getty@.service":  {"Documentation=man:machinectl(1): systemd-container's man page is not installed", "man machinectl(1)"},
	"modprobe@.service":         {"Documentation=man:modprobe(8): kmod's man page is not installed", "man modprobe(8)"},
	"kmod-static-nodes.service": {"ExecStart=/bin/kmod: kmod is not installed", "/bin/kmod is not executable"},
	"rc-local.service":          {"ExecStart=/etc/rc.local: absent here (ConditionFileIsExecutable= skips the unit then)", "/etc/rc.local is not executable"},
}

// realWorldUnits decodes every real-world unit with the systemd face: the
// units it accepts, and the names of those it refuses.
func realWorldUnits(t *testing.T) (accepted []store.Resource, refused []string) {
	t.Helper()
	sd, err := face.ByName(face.Systemd)
	if err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(realWorld)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		data, err := os.ReadFile(filepath.Join(realWorld, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		rs, err := sd.Decode(e.Name(), data, store.Unit)
		if err != nil {
			t.Logf("refused %s: %v", e.Name(), err)
			refused = append(refused, e.Name())
			continue
		}
		accepted = append(accepted, rs...)
	}
	return accepted, refused
}

// TestRealWorldUnitsVerify: every real-world unit the systemd face accepts
// passes systemd-analyze verify with no output, except those of notClean,
// whose complaint is the one classified.
func TestRealWorldUnitsVerify(t *testing.T) {
	accepted, refused := realWorldUnits(t)
	clean := 0
	for _, r := range accepted {
		out := systemdtest.Verify(t, filepath.Join(realWorld, r.Ref.Name))
		nc, known := notClean[r.Ref.Name]
		switch {
		case known && out == "":
			t.Errorf("%s now verifies clean: drop it from notClean", r.Ref.Name)
		case known && !strings.Contains(out, nc.says):
			t.Errorf("%s: systemd-analyze verify says %q, not the classified %q", r.Ref.Name, out, nc.says)
		case known:
			t.Logf("%s: %s", r.Ref.Name, nc.reason)
		case out != "":
			t.Errorf("%s: systemd-analyze verify: %s", r.Ref.Name, out)
		default:
			clean++
		}
	}
	t.Logf("%d real-world units: %d accepted (%d verify clean, %d complained of for this machine), %d refused",
		len(accepted)+len(refused), len(accepted), clean, len(accepted)-clean, len(refused))
}

// TestRealWorldUnitsLoad applies every accepted real-world unit to a real
// manager through the backend, started by nothing (a renderer that starts
// no unit: these are the host's services), so each Apply checks the
// manager loaded it (LoadState loaded; a template through an instance), and
// reads them back.
func TestRealWorldUnitsLoad(t *testing.T) {
	accepted, _ := realWorldUnits(t)
	m := systemdtest.Start(t)
	loadOnly := func(r store.Resource) (systemd.Unit, error) {
		u, err := systemd.Units(r)
		u.Start = false
		return u, err
	}
	b, err := systemd.Open(t.Context(), systemd.Config{UnitDir: m.UnitDir, Conn: m.Conn, Render: loadOnly})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	for _, r := range accepted {
		got, err := b.Apply(t.Context(), r, store.Expect{Set: true})
		if err != nil {
			t.Errorf("apply %s: %v", r.Ref.Name, err)
			continue
		}
		if string(got.Payload) != string(r.Payload) {
			t.Errorf("%s came back changed", r.Ref.Name)
		}
		if file, err := os.ReadFile(filepath.Join(m.UnitDir, r.Ref.Name)); err != nil || string(file) != string(r.Payload) {
			t.Errorf("%s: the unit file is not the unit (%v)", r.Ref.Name, err)
		}
	}
	l, err := b.List(t.Context(), "", "", backendRead)
	if err != nil || len(l.Items) != len(accepted) {
		t.Fatalf("list: %d items, %v; applied %d", len(l.Items), err, len(accepted))
	}
	t.Logf("%d real-world units loaded by the manager", len(accepted))
}

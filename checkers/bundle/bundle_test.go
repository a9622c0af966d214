package bundle

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"revoada.dev/revoada/sim"
)

func failingPlan() *sim.Plan {
	return &sim.Plan{Name: "never-two", Nodes: 3, ControlPlane: 3, Duration: 10 * time.Second,
		Network: sim.Network{LatencyMin: time.Millisecond, LatencyMax: 10 * time.Millisecond},
		Expect:  sim.Expect{Converge: &sim.Converge{Within: 5 * time.Second, ControlPlane: 2}}}
}

// A bundle is named by its content: written twice it is one bundle; read
// back it replays to its fingerprint; changed, it is refused.
func TestWriteReadReplay(t *testing.T) {
	root := t.TempDir()
	p := failingPlan()
	first := sim.Run(p, 4, sim.Options{})
	dir, res, err := Write(root, p, 4, sim.Hooks{}, first.Fingerprint)
	if err != nil || res.Fingerprint != first.Fingerprint {
		t.Fatalf("write: %v", err)
	}
	again, _, err := Write(root, p, 4, sim.Hooks{}, "")
	if err != nil || again != dir {
		t.Fatalf("the same failure made a second bundle %s (first %s): %v", again, dir, err)
	}
	entries, _ := os.ReadDir(root)
	if len(entries) != 1 {
		t.Errorf("%d entries under the root, want 1 (no partial directories left)", len(entries))
	}
	b, err := Read(dir)
	if err != nil {
		t.Fatal(err)
	}
	if b.Run.Seed != 4 || b.Plan.Name != "never-two" || len(b.Run.Violations) == 0 {
		t.Errorf("read back %+v", b.Run)
	}
	if r, same, err := b.Replay(nil); err != nil || !same || r.OK() {
		t.Errorf("replay: same %v, ok %v, %v", same, r.OK(), err)
	}
	if err := os.WriteFile(filepath.Join(dir, "trace.jsonl"), []byte("{}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Read(dir); !errors.Is(err, ErrBadBundle) {
		t.Errorf("a changed bundle read as %v, want ErrBadBundle", err)
	}
}

func TestReadBadBundles(t *testing.T) {
	empty := t.TempDir()
	if _, err := Read(empty); !errors.Is(err, ErrBadBundle) {
		t.Errorf("empty dir: %v", err)
	}
	bad := t.TempDir()
	os.WriteFile(filepath.Join(bad, "run.json"), []byte("{"), 0o644)
	os.WriteFile(filepath.Join(bad, "scenario.yaml"), []byte("name: x\n"), 0o644)
	if _, err := Read(bad); !errors.Is(err, ErrBadBundle) {
		t.Errorf("bad run.json: %v", err)
	}
	if _, err := Read(filepath.Join(empty, "missing")); err == nil {
		t.Error("a missing directory read")
	}
}

// A fingerprint that does not repeat is reported as a determinism bug, and
// nothing is written.
func TestWriteChecksTheFingerprint(t *testing.T) {
	root := t.TempDir()
	if _, _, err := Write(root, failingPlan(), 4, sim.Hooks{}, "not-the-fingerprint"); err == nil {
		t.Fatal("no error for a fingerprint that did not repeat")
	}
	if entries, _ := os.ReadDir(root); len(entries) != 0 {
		t.Errorf("%d entries written", len(entries))
	}
}

// Two builds are the same only by their executables' hashes: a bundle of a
// build that recorded none (an older revoada), or two builds with equal VCS
// stamps (none, under -buildvcs=false), are not taken for one build, so a
// fingerprint that differs is not called a determinism bug.
func TestBuildSame(t *testing.T) {
	cur := CurrentBuild()
	if len(cur.Executable) != 64 {
		t.Fatalf("this executable's hash: %q", cur.Executable)
	}
	if !cur.Same(cur) {
		t.Error("a build is not the same as itself")
	}
	old := cur
	old.Executable = ""
	other := cur
	other.Executable = strings.Repeat("0", 64)
	if cur.Same(old) || old.Same(cur) || old.Same(old) || cur.Same(other) {
		t.Error("builds told apart only by their executables taken for one")
	}
}

package main

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

var bundleLine = regexp.MustCompile(`(?m)^  bundle: (\S+)$`)

// failBundle runs a scenario with a planted bug until a seed fails, and
// returns the bundle that run wrote.
func failBundle(t *testing.T, dir string) string {
	t.Helper()
	args := []string{"sim", "--scenario", "store-under-partition", "--seeds", "1..3", "--plant", "stale-reads", "--bundles", dir}
	o := revoada(t, nil, args...)
	wantCode(t, o, exitFailed, args...)
	m := bundleLine.FindStringSubmatch(o.stdout)
	if m == nil {
		t.Fatalf("no bundle line in:\n%s", o.stdout)
	}
	return m[1]
}

// A failed run writes a bundle named by the hash of its content with every
// file; replaying it reproduces the fingerprint and fails again.
func TestBundleReplaysExactly(t *testing.T) {
	dir := t.TempDir()
	b := failBundle(t, dir)
	if !regexp.MustCompile(`/b3-[0-9a-f]{32}$`).MatchString(b) {
		t.Errorf("bundle %s is not named by a BLAKE3 hash", b)
	}
	for _, f := range []string{"run.json", "scenario.yaml", "choices.txt", "trace.jsonl", "history.json", "report.html"} {
		if st, err := os.Stat(filepath.Join(b, f)); err != nil || st.Size() == 0 {
			t.Errorf("bundle file %s: %v", f, err)
		}
	}
	var run struct{ Fingerprint, Plants string }
	data, err := os.ReadFile(filepath.Join(b, "run.json"))
	if err != nil || json.Unmarshal(data, &run) != nil || run.Plants != "stale-reads" {
		t.Fatalf("run.json: %v %+v", err, run)
	}
	trace := filepath.Join(dir, "t.jsonl")
	o := revoada(t, nil, "replay", "--trace", trace, b)
	wantCode(t, o, exitFailed, "replay", b)
	if !strings.Contains(o.stdout, "\nfingerprint: "+run.Fingerprint+"\n") || !strings.Contains(o.stderr, "reproduced") {
		t.Errorf("replay did not reproduce %s:\n%s\n%s", run.Fingerprint, o.stdout, o.stderr)
	}
	// --trace writes the replayed run's trace, the same as the bundle's.
	got, err := os.ReadFile(trace)
	if want, _ := os.ReadFile(filepath.Join(b, "trace.jsonl")); err != nil || len(got) == 0 || string(got) != string(want) {
		t.Errorf("replay --trace wrote %d bytes (%v), the bundle's trace has %d", len(got), err, len(want))
	}
	// A bundle whose content changed no longer matches its name.
	if err := os.WriteFile(filepath.Join(b, "choices.txt"), []byte("tampered\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	o = revoada(t, nil, "replay", b)
	wantCode(t, o, exitUsage, "replay", b)
	if !strings.Contains(o.stderr, "hashes to") {
		t.Errorf("stderr = %q, want the hash mismatch named", o.stderr)
	}
}

// Shrinking a bundle writes a scenario file with a scripted workload that
// fails the same way when run with the planted bug, and no seed given.
func TestShrinkWritesAFailingScenario(t *testing.T) {
	dir := t.TempDir()
	b := failBundle(t, dir)
	out := filepath.Join(dir, "small.yaml")
	o := revoada(t, nil, "shrink", b, "-o", out)
	wantCode(t, o, exitOK, "shrink", b, "-o", out)
	if !strings.Contains(o.stdout, "history shrunk from") {
		t.Fatalf("stdout:\n%s", o.stdout)
	}
	data, err := os.ReadFile(out)
	if err != nil || !strings.Contains(string(data), "script:") {
		t.Fatalf("%s: %v\n%s", out, err, data)
	}
	args := []string{"sim", "--scenario", out, "--plant", "stale-reads", "--bundles", ""}
	if !strings.Contains(string(data), "--seed") {
		o = revoada(t, nil, args...)
		wantCode(t, o, exitFailed, args...)
	}
	o = revoada(t, nil, "sim", "--scenario", out, "--bundles", "")
	if strings.Contains(o.stdout, "FAIL history") {
		t.Errorf("the shrunk scenario fails history without the planted bug:\n%s", o.stdout)
	}
}

// --report writes a timeline page per run.
func TestReportFlag(t *testing.T) {
	dir := t.TempDir()
	args := []string{"sim", "--scenario", "leader-kill", "--seed", "2", "--report", dir}
	o := revoada(t, nil, args...)
	wantCode(t, o, exitOK, args...)
	page, err := os.ReadFile(filepath.Join(dir, "leader-kill-seed-2.html"))
	if err != nil || !strings.Contains(string(page), `id="data"`) {
		t.Fatalf("report: %v", err)
	}
}

// A sweep ends with the declared rare paths its runs never reached.
func TestSweepReportsCoverage(t *testing.T) {
	args := []string{"sim", "--scenario", "leader-kill", "--seeds", "1..3"}
	o := revoada(t, nil, args...)
	wantCode(t, o, exitOK, args...)
	if !regexp.MustCompile(`(?m)^coverage: \d+ of \d+ declared rare paths reached; never: .*leader elected during a joint configuration`).MatchString(o.stdout) {
		t.Errorf("no coverage line:\n%s", o.stdout)
	}
}

// A sweep with a workload says what rate its clients issued, and says when
// they could not keep up with the rate asked.
func TestSweepReportsWorkloadRate(t *testing.T) {
	dir := t.TempDir()
	const head = "nodes: 3\ncontrol_plane: 3\nduration: 30s\nnetwork: {latency: {min: 1ms, max: 5ms}, loss: 0, duplicate: 0}\n"
	plans := map[string]string{
		// two clients, half their operations 3s watches: about 1.3 a second
		"watchers": "workload: {clients: 2, rate: 20/s, keys: 5, face: kubernetes, mix: {apply: 1, get: 0, list: 0, delete: 0, watch: 1}}\n",
		// quick gets a few times a run: fewer than asked by chance, none late
		"rare": "workload: {clients: 2, rate: 0.2/s, keys: 5, face: kubernetes, mix: {apply: 0, get: 1, list: 0, delete: 0, watch: 0}}\n",
	}
	for name, w := range plans {
		if err := os.WriteFile(filepath.Join(dir, name+".yaml"), []byte("name: "+name+"\n"+head+w), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		scenario, seeds string
		line            *regexp.Regexp
		saturated       bool
	}{
		{filepath.Join(dir, "watchers.yaml"), "1..2", regexp.MustCompile(`(?m)^workload: 1\.\d operations/s issued of the 20/s asked; \d+% of them late: the clients could not keep up`), true},
		{filepath.Join(dir, "rare.yaml"), "22..25", regexp.MustCompile(`(?m)^workload: 0\.1 operations/s issued of the 0.2/s asked$`), false},
		{"heal-chaos-target", "1..2", regexp.MustCompile(`(?m)^workload: (9|10)\.\d operations/s issued of the 10/s asked$`), false},
	} {
		// --json says the same in its workload object.
		jargs := []string{"sim", "--scenario", tc.scenario, "--seeds", tc.seeds, "--json"}
		jo := revoada(t, nil, jargs...)
		wantCode(t, jo, exitOK, jargs...)
		rep := decodeReport(t, jo.stdout)
		if w := rep.Workload; w == nil || w.Saturated == nil || *w.Saturated != tc.saturated || w.Issued == nil || *w.Issued <= 0 {
			t.Errorf("%s --json: workload %+v, want saturated %v", tc.scenario, w, tc.saturated)
		}
		for _, r := range rep.Results {
			if r.Ops <= 0 || math.Abs(float64(r.Ops)-r.OpsPerSec*(*r.SimSeconds)) > 0.5 {
				t.Errorf("%s --json seed %d: %d operations, %g a second over %g s", tc.scenario, *r.Seed, r.Ops, r.OpsPerSec, *r.SimSeconds)
			}
		}
		args := []string{"sim", "--scenario", tc.scenario, "--seeds", tc.seeds}
		o := revoada(t, nil, args...)
		wantCode(t, o, exitOK, args...)
		if !tc.line.MatchString(o.stdout) {
			t.Errorf("%s: no workload line %q:\n%s", tc.scenario, tc.line, o.stdout)
		}
	}
}

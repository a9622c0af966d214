package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"

	"revoada.dev/revoada/scenarios"
)

// bin is the revoada binary TestMain builds; every test execs it, so the
// tests see exactly what a user sees: stdout, stderr and the exit status.
var bin string

func TestMain(m *testing.M) { os.Exit(testMain(m)) }

func testMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "revoada-cli-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	defer os.RemoveAll(dir)
	bin = filepath.Join(dir, "revoada")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building revoada: %v\n%s", err, out)
		return 2
	}
	return m.Run()
}

// outcome is what one revoada process did.
type outcome struct {
	stdout, stderr string
	code           int
}

// revoada runs the binary with args and extra environment variables
// ("KEY=value", overriding the test's own).
func revoada(t *testing.T, env []string, args ...string) outcome {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exitErr *exec.ExitError
	if err != nil && !errors.As(err, &exitErr) {
		t.Fatalf("revoada %s: %v", strings.Join(args, " "), err)
	}
	return outcome{stdout.String(), stderr.String(), cmd.ProcessState.ExitCode()}
}

// wantCode fails the test unless o exited with code.
func wantCode(t *testing.T, o outcome, code int, args ...string) {
	t.Helper()
	if o.code != code {
		t.Fatalf("revoada %s: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), o.code, code, o.stdout, o.stderr)
	}
}

// report mirrors the JSON object of sim --json, every field a pointer or
// slice so that a missing one is seen.
type report struct {
	Scenario    *string  `json:"scenario"`
	Runs        *int     `json:"runs"`
	Failed      *int     `json:"failed"`
	SimSeconds  *float64 `json:"sim_seconds"`
	WallSeconds *float64 `json:"wall_seconds"`
	Speedup     *float64 `json:"speedup"`
	Restored    *struct {
		P50, P99, Max float64
		Never         int
	} `json:"restored"` // only when a run crashed a node
	Workload *struct {
		Asked     *float64 `json:"asked_per_second"`
		Issued    *float64 `json:"issued_per_second"`
		Late      *int     `json:"late"`
		Saturated *bool    `json:"saturated"`
	} `json:"workload"` // only with random clients
	Results  []*result      `json:"results"`
	Coverage map[string]int `json:"coverage"`
	Never    *[]string      `json:"never"`
}

type result struct {
	Seed        *uint64      `json:"seed"`
	OK          *bool        `json:"ok"`
	Fingerprint *string      `json:"fingerprint"`
	SimSeconds  *float64     `json:"sim_seconds"`
	Violations  *[]violation `json:"violations"`
	Replay      string       `json:"replay"`
	Restored    float64      `json:"restored_seconds"`
	Ops         int          `json:"ops"`
	OpsPerSec   float64      `json:"ops_per_second"` // only with random clients
	OpsLate     int          `json:"ops_late"`
	Bundle      string       `json:"bundle"`
	Report      string       `json:"report"`
}

type violation struct {
	Property  *string  `json:"property"`
	AtSeconds *float64 `json:"at_seconds"`
	Node      *string  `json:"node"`
	Detail    *string  `json:"detail"`
}

var fingerprintRE = regexp.MustCompile(`^[0-9a-f]{64}$`)

// decodeReport parses stdout as exactly one JSON report with every field
// present.
func decodeReport(t *testing.T, stdout string) report {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(stdout))
	dec.DisallowUnknownFields()
	var r report
	if err := dec.Decode(&r); err != nil {
		t.Fatalf("stdout is not a JSON report: %v\n%s", err, stdout)
	}
	if rest, _ := bufio.NewReader(dec.Buffered()).ReadString(0); strings.TrimSpace(rest) != "" || dec.More() {
		t.Fatalf("stdout holds more than one JSON object:\n%s", stdout)
	}
	if r.Scenario == nil || r.Runs == nil || r.Failed == nil || r.SimSeconds == nil || r.WallSeconds == nil || r.Speedup == nil || r.Results == nil {
		t.Fatalf("report lacks a field:\n%s", stdout)
	}
	for _, res := range r.Results {
		checkResult(t, res, stdout)
	}
	return r
}

func checkResult(t *testing.T, res *result, stdout string) {
	t.Helper()
	if res.Seed == nil || res.OK == nil || res.Fingerprint == nil || res.SimSeconds == nil || res.Violations == nil {
		t.Fatalf("result lacks a field:\n%s", stdout)
	}
	if !fingerprintRE.MatchString(*res.Fingerprint) {
		t.Errorf("seed %d: fingerprint %q is not 64 hex digits", *res.Seed, *res.Fingerprint)
	}
	if *res.OK != (len(*res.Violations) == 0) {
		t.Errorf("seed %d: ok is %v with %d violations", *res.Seed, *res.OK, len(*res.Violations))
	}
	for _, v := range *res.Violations {
		if v.Property == nil || v.AtSeconds == nil || v.Node == nil || v.Detail == nil {
			t.Fatalf("violation lacks a field:\n%s", stdout)
		}
	}
}

// simFingerprint runs one seed of scenario with --json and returns its full
// fingerprint.
func simFingerprint(t *testing.T, env []string, scenario, seed string) string {
	t.Helper()
	args := []string{"sim", "--scenario", scenario, "--seed", seed, "--json"}
	o := revoada(t, env, args...)
	if o.code != exitOK && o.code != exitFailed {
		wantCode(t, o, exitOK, args...)
	}
	return *decodeReport(t, o.stdout).Results[0].Fingerprint
}

func TestSimDefaultPassesAndPrintsFingerprint(t *testing.T) {
	o := revoada(t, nil, "sim")
	wantCode(t, o, exitOK, "sim")
	full := simFingerprint(t, nil, scenarios.Default, "1")
	want := fmt.Sprintf("%s seed 1: ok ", scenarios.Default)
	if !strings.HasPrefix(o.stdout, want) || !strings.Contains(o.stdout, "fingerprint "+full[:fingerprintShort]) {
		t.Errorf("stdout = %q, want a line starting %q with fingerprint %s", o.stdout, want, full[:fingerprintShort])
	}
}

func TestSimJSON(t *testing.T) {
	o := revoada(t, nil, "sim", "--json")
	r := decodeReport(t, o.stdout)
	if *r.Scenario != scenarios.Default || *r.Runs != 1 || len(r.Results) != 1 || *r.Results[0].Seed != 1 {
		t.Errorf("report = %s, want one run of %s seed 1", o.stdout, scenarios.Default)
	}
	if o.stderr != "" {
		t.Errorf("stderr = %q, want nothing", o.stderr)
	}
}

func TestSimSeedRangeJSON(t *testing.T) {
	o := revoada(t, nil, "sim", "--seeds", "1..3", "--json")
	r := decodeReport(t, o.stdout)
	if *r.Runs != 3 || len(r.Results) != 3 {
		t.Fatalf("runs %d, %d results, want 3:\n%s", *r.Runs, len(r.Results), o.stdout)
	}
	failed := 0
	for i, res := range r.Results {
		if *res.Seed != uint64(i+1) {
			t.Errorf("result %d has seed %d, want %d", i, *res.Seed, i+1)
		}
		if !*res.OK {
			failed++
		}
	}
	if *r.Failed != failed || (o.code == exitFailed) != (failed > 0) {
		t.Errorf("failed %d, exit %d; the results hold %d failures", *r.Failed, o.code, failed)
	}
}

// badScenario is a scenario file with an unknown field on line 5.
const badScenario = `name: bad
nodes: 3
control_plane: 3
duration: 10s
bogus: 1
`

func TestBadScenarioFileNamesFileAndLine(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(path, []byte(badScenario), 0o644); err != nil {
		t.Fatal(err)
	}
	o := revoada(t, nil, "sim", "--scenario", path)
	wantCode(t, o, exitUsage, "sim", "--scenario", path)
	if !strings.Contains(o.stderr, path+":5:") || !strings.Contains(o.stderr, "bogus") {
		t.Errorf("stderr = %q, want it to name %s:5 and the field bogus", o.stderr, path)
	}
}

// shortScenario ends 5 s after its last fault heals: too soon for the
// leader-after-heal monitor (10 election timeouts) to judge anything.
const shortScenario = `name: short
nodes: 3
control_plane: 3
duration: 25s
faults:
  - {at: 10s, crash: n1, for: 10s}
`

// A run too short to judge is a bad scenario, refused before it runs
// (exit 2, naming the file, line and field), not a failed run.
func TestTooShortScenarioIsRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "short.yaml")
	if err := os.WriteFile(path, []byte(shortScenario), 0o644); err != nil {
		t.Fatal(err)
	}
	o := revoada(t, nil, "sim", "--scenario", path)
	wantCode(t, o, exitUsage, "sim", "--scenario", path)
	want := path + ":4: duration: sim: duration 25s is too short to judge leader-after-heal (the last fault heals at 20s): it needs 10s after 20s, so at least 30s"
	if !strings.Contains(o.stderr, want) || o.stdout != "" {
		t.Errorf("stdout = %q, stderr = %q, want only %q", o.stdout, o.stderr, want)
	}
}

// failingScenario cannot meet its expectation: no command ever changes the
// three control-plane nodes it starts with.
const failingScenario = `name: never-two
nodes: 3
control_plane: 3
duration: 10s
expect:
  converge: {within: 5s, control_plane: 2}
`

func TestFailedRunPrintsViolationsAndReplayHint(t *testing.T) {
	path := filepath.Join(t.TempDir(), "never-two.yaml")
	if err := os.WriteFile(path, []byte(failingScenario), 0o644); err != nil {
		t.Fatal(err)
	}
	o := revoada(t, nil, "sim", "--scenario", path, "--seed", "7", "--bundles", "")
	wantCode(t, o, exitFailed, "sim", "--scenario", path, "--seed", "7")
	for _, want := range []string{"never-two seed 7: FAIL converge", "    converge at ", "  replay: " + replayCommand(path, 7, "")} {
		if !strings.Contains(o.stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, o.stdout)
		}
	}
}

func TestUsageErrorsExit2(t *testing.T) {
	for _, args := range [][]string{
		{"frobnicate"},
		{},
		{"sim", "--seeds", "5..2"},
		{"sim", "--seeds", "0..1000000"},
		{"sim", "--seeds", "1-3"},
		{"sim", "--seeds", "-1..3"},
		{"sim", "--seed", "-1"},
		{"sim", "--seed", "x"},
		{"sim", "--seed", "1", "--seeds", "1..2"},
		{"sim", "--seeds", "1..2", "--trace", filepath.Join(t.TempDir(), "trace")},
		{"sim", "extra"},
		{"sim", "--scenario", "no-such-scenario"},
		{"replay", "--seed", "1"},
		{"replay", "--scenario", "smoke"},
		{"scenarios", "--show", "no-such-scenario"},
		{"help", "frobnicate"},
	} {
		o := revoada(t, nil, args...)
		wantCode(t, o, exitUsage, args...)
		if o.stderr == "" {
			t.Errorf("revoada %s: nothing on stderr", strings.Join(args, " "))
		}
	}
}

func TestReplayMissingBundle(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "no-such-bundle")
	o := revoada(t, nil, "replay", dir)
	wantCode(t, o, exitUsage, "replay", dir)
	if !strings.Contains(o.stderr, "no-such-bundle") {
		t.Errorf("stderr = %q, want it to name the bundle", o.stderr)
	}
}

func TestReplayPrintsSimFingerprint(t *testing.T) {
	fp := simFingerprint(t, nil, scenarios.Default, "3")
	args := []string{"replay", "--scenario", scenarios.Default, "--seed", "3"}
	o := revoada(t, nil, args...)
	if o.code != exitOK && o.code != exitFailed {
		wantCode(t, o, exitOK, args...)
	}
	if !strings.Contains(o.stdout, "\nfingerprint: "+fp+"\n") {
		t.Errorf("replay stdout lacks fingerprint %s:\n%s", fp, o.stdout)
	}
}

func TestTraceIsJSONLines(t *testing.T) {
	path := filepath.Join(t.TempDir(), "trace.jsonl")
	revoada(t, nil, "sim", "--trace", path)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	for i, line := range lines {
		if !json.Valid([]byte(line)) {
			t.Fatalf("trace line %d is not JSON: %q", i+1, line)
		}
	}
	if len(lines) < 2 {
		t.Errorf("trace has %d lines", len(lines))
	}
}

// TestFingerprintsAcrossProcesses is the acceptance criterion: the same
// scenario and seed, run in separate processes, print the same fingerprint
// for every built-in scenario, with GOMAXPROCS 1 and 2 (and the same across
// the two settings).
func TestFingerprintsAcrossProcesses(t *testing.T) {
	for _, name := range scenarios.Names() {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var first map[uint64]string
			for _, procs := range []string{"1", "2", "1", "2"} {
				got := seedFingerprints(t, []string{"GOMAXPROCS=" + procs}, name)
				if first == nil {
					first = got
					continue
				}
				for seed, fp := range got {
					if fp != first[seed] {
						t.Errorf("seed %d with GOMAXPROCS=%s: fingerprint %s, an earlier process printed %s", seed, procs, fp, first[seed])
					}
				}
			}
		})
	}
}

// seedFingerprints runs seeds 1 and 2 of scenario in one process and
// returns their fingerprints by seed.
func seedFingerprints(t *testing.T, env []string, scenario string) map[uint64]string {
	t.Helper()
	args := []string{"sim", "--scenario", scenario, "--seeds", "1..2", "--json"}
	o := revoada(t, env, args...)
	if o.code != exitOK && o.code != exitFailed {
		wantCode(t, o, exitOK, args...)
	}
	fps := map[uint64]string{}
	for _, res := range decodeReport(t, o.stdout).Results {
		fps[*res.Seed] = *res.Fingerprint
	}
	if len(fps) != 2 || fps[1] == fps[2] {
		t.Fatalf("%s: fingerprints %v, want two different ones for seeds 1 and 2", scenario, fps)
	}
	return fps
}

func TestScenariosListsBuiltins(t *testing.T) {
	o := revoada(t, nil, "scenarios")
	wantCode(t, o, exitOK, "scenarios")
	lines := strings.Split(strings.TrimSuffix(o.stdout, "\n"), "\n")
	names := scenarios.Names()
	if len(lines) != len(names) {
		t.Fatalf("%d lines for %d built-ins:\n%s", len(lines), len(names), o.stdout)
	}
	for i, name := range names {
		if f := strings.Fields(lines[i]); len(f) < 4 || f[0] != name {
			t.Errorf("line %d = %q, want name %s, nodes, duration and description", i+1, lines[i], name)
		}
	}
}

func TestScenariosShow(t *testing.T) {
	o := revoada(t, nil, "scenarios", "--show", scenarios.Default)
	wantCode(t, o, exitOK, "scenarios", "--show", scenarios.Default)
	want, err := scenarios.Source(scenarios.Default)
	if err != nil {
		t.Fatal(err)
	}
	if o.stdout != string(want) {
		t.Errorf("--show printed\n%s\nwant\n%s", o.stdout, want)
	}
}

func TestHelp(t *testing.T) {
	for _, args := range [][]string{{"help"}, {"-h"}, {"--help"}, {"help", "sim"}, {"sim", "-h"}, {"replay", "--help"}} {
		o := revoada(t, nil, args...)
		wantCode(t, o, exitOK, args...)
		if !strings.Contains(o.stdout, "Usage") {
			t.Errorf("revoada %s: stdout lacks the usage:\n%s", strings.Join(args, " "), o.stdout)
		}
	}
}

// TestVersion: revoada version prints the module, its VCS revision when
// the build recorded one, and the Go version.
func TestVersion(t *testing.T) {
	for _, args := range [][]string{{"version"}, {"--version"}} {
		o := revoada(t, nil, args...)
		wantCode(t, o, exitOK, args...)
		lines := strings.Split(strings.TrimSuffix(o.stdout, "\n"), "\n")
		if !strings.HasPrefix(lines[0], "revoada ") || !strings.Contains(o.stdout, "module    revoada.dev/revoada\n") ||
			lines[len(lines)-1] != "go        "+runtime.Version() {
			t.Errorf("revoada %s:\n%s", args[0], o.stdout)
		}
		if rev, ok := strings.CutPrefix(lines[2], "revision  "); ok && !regexp.MustCompile(`^[0-9a-f]{40}( \(modified\))?$`).MatchString(rev) {
			t.Errorf("revision %q", rev)
		}
	}
	wantCode(t, revoada(t, nil, "version", "extra"), exitUsage, "version", "extra")
}

func TestPrintVersion(t *testing.T) {
	bi := &debug.BuildInfo{GoVersion: "go1.99", Main: debug.Module{Path: "revoada.dev/revoada", Version: "v1.2.3"},
		Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "abc"}, {Key: "vcs.time", Value: "2026-01-02T03:04:05Z"}, {Key: "vcs.modified", Value: "true"}}}
	var b strings.Builder
	printVersion(&b, bi)
	want := "revoada v1.2.3\nmodule    revoada.dev/revoada\nrevision  abc (modified)\ntime      2026-01-02T03:04:05Z\ngo        go1.99\n"
	if b.String() != want {
		t.Errorf("printed\n%s\nwant\n%s", b.String(), want)
	}
	b.Reset()
	printVersion(&b, nil)
	if !strings.HasSuffix(b.String(), "go        "+runtime.Version()+"\n") {
		t.Errorf("without build information:\n%s", b.String())
	}
}

// TestDidYouMean: a mistyped command or flag is bad usage with the
// nearest names suggested.
func TestDidYouMean(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"aplly", "-f", "x"}, `unknown command "aplly"; did you mean "apply"?`},
		{[]string{"lsit"}, `did you mean "list"?`},
		{[]string{"help", "wacth"}, `did you mean "watch"?`},
		{[]string{"watch", "Service", "--fromm", "3"}, "did you mean --from?"},
		{[]string{"apply", "--fromat", "yaml"}, "did you mean --format?"},
		{[]string{"sim", "--sede", "3"}, "did you mean --seed?"},
	} {
		o := revoada(t, nil, c.args...)
		wantCode(t, o, exitUsage, c.args...)
		if !strings.Contains(o.stderr, c.want) {
			t.Errorf("revoada %s: stderr %q lacks %q", strings.Join(c.args, " "), o.stderr, c.want)
		}
	}
	if o := revoada(t, nil, "frobnicate"); strings.Contains(o.stderr, "did you mean") {
		t.Errorf("a word near no command got a suggestion: %q", o.stderr)
	}
}

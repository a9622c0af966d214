package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// exploreReport mirrors explore --json.
type exploreReport struct {
	Runs        int     `json:"runs"`
	Failed      int     `json:"failed"`
	Interrupted bool    `json:"interrupted"`
	SimSeconds  float64 `json:"sim_seconds"`
	WallSeconds float64 `json:"wall_seconds"`
	Speedup     float64 `json:"speedup"`
	Failures    []struct {
		Seed        uint64 `json:"seed"`
		Scenario    string `json:"scenario"`
		Fingerprint string `json:"fingerprint"`
		Violations  []struct {
			Property  string  `json:"property"`
			AtSeconds float64 `json:"at_seconds"`
			Node      string  `json:"node"`
			Detail    string  `json:"detail"`
		} `json:"violations"`
		Bundle string `json:"bundle"`
		Replay string `json:"replay"`
	} `json:"failures"`
	Coverage map[string]int `json:"coverage"`
	Never    []string       `json:"never"`
}

func decodeExplore(t *testing.T, o outcome) exploreReport {
	t.Helper()
	var r exploreReport
	dec := json.NewDecoder(strings.NewReader(o.stdout))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil || dec.More() {
		t.Fatalf("explore --json printed more or less than one report object (%v):\n%s", err, o.stdout)
	}
	return r
}

// workersOf lists the explore worker processes of the test binary still
// running, from /proc; nil where there is no /proc.
func workersOf(t *testing.T) []string {
	t.Helper()
	cmdlines, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	var out []string
	for _, f := range cmdlines {
		data, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		args := strings.Split(string(data), "\x00")
		if len(args) > 2 && args[0] == bin && args[1] == "explore" && args[2] == "--worker" {
			out = append(out, f)
		}
	}
	return out
}

// Seeds run in worker processes give the same report as in one process,
// but for the wall time; no worker outlives the run.
func TestExploreParallelMatchesSequential(t *testing.T) {
	dir := t.TempDir()
	args := []string{"explore", "--seeds", "4..12", "--json", "--bundles", dir}
	seq := revoada(t, nil, args...)
	par := revoada(t, nil, append(args, "--parallel", "2")...)
	if seq.code != par.code || (seq.code != exitOK && seq.code != exitFailed) {
		t.Fatalf("exit %d sequential, %d parallel\n%s\n%s", seq.code, par.code, seq.stderr, par.stderr)
	}
	a, b := decodeExplore(t, seq), decodeExplore(t, par)
	if a.Runs != 9 || a.SimSeconds <= 0 || len(a.Coverage)+len(a.Never) == 0 {
		t.Fatalf("sequential report: %+v", a)
	}
	a.WallSeconds, a.Speedup, b.WallSeconds, b.Speedup = 0, 0, 0, 0
	if !reflect.DeepEqual(a, b) {
		t.Errorf("reports differ:\nsequential %s\nparallel   %s", seq.stdout, par.stdout)
	}
	if w := workersOf(t); len(w) > 0 {
		t.Errorf("workers still running: %v", w)
	}
}

var replayLine = regexp.MustCompile(`(?m)^  replay: revoada replay (\S+)$`)

// A failed seed's bundle holds the generated plan as a scenario file that
// replay reproduces to the same fingerprint, from text and JSON output.
func TestExploreBundleReplays(t *testing.T) {
	dir := t.TempDir()
	args := []string{"explore", "--seeds", "1..3", "--plant", "corrupt-entries", "--bundles", dir, "--parallel", "2"}
	o := revoada(t, nil, args...)
	wantCode(t, o, exitFailed, args...)
	if !regexp.MustCompile(`(?m)^explore-3 seed 3: FAIL panic `).MatchString(o.stdout) ||
		!strings.Contains(o.stdout, "runs 3, failed 1,") || !strings.Contains(o.stdout, "\ncoverage: ") {
		t.Fatalf("stdout:\n%s", o.stdout)
	}
	m := replayLine.FindStringSubmatch(o.stdout)
	if m == nil {
		t.Fatalf("no replay line in:\n%s", o.stdout)
	}
	scenario, err := os.ReadFile(filepath.Join(m[1], "scenario.yaml"))
	if err != nil || !bytes.HasPrefix(scenario, []byte("name: explore-3\n")) {
		t.Fatalf("scenario.yaml: %v\n%s", err, scenario)
	}
	// A panic's detail holds a stack trace with addresses, so the bundle
	// of this run is not the text run's: replay the one JSON names.
	j := decodeExplore(t, revoada(t, nil, append(args, "--json")...))
	if j.Failed != 1 || j.Failures[0].Seed != 3 || j.Failures[0].Bundle == "" || j.Failures[0].Replay != "revoada replay "+j.Failures[0].Bundle {
		t.Fatalf("JSON report: %+v", j)
	}
	b := j.Failures[0].Bundle
	r := revoada(t, nil, "replay", b)
	wantCode(t, r, exitFailed, "replay", b)
	if !strings.Contains(r.stdout, "\nfingerprint: "+j.Failures[0].Fingerprint+"\n") || !strings.Contains(r.stderr, "reproduced") {
		t.Errorf("replay did not reproduce %s:\n%s\n%s", j.Failures[0].Fingerprint, r.stdout, r.stderr)
	}
}

// Bad flags exit 2 and say what is wrong.
func TestExploreFlags(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"explore"}, "--seeds is required"},
		{[]string{"explore", "--seeds", "5..1"}, "is after the last"},
		{[]string{"explore", "--seeds", "1..2", "--parallel", "0"}, "--parallel 0"},
		{[]string{"explore", "--seeds", "1..2", "--plant", "nope"}, "unknown planted bug"},
		{[]string{"explore", "--seeds", "1..2", "extra"}, `unexpected argument "extra"`},
		{[]string{"explore", "--worker", "--seeds", "1..2"}, "reads its seeds from stdin"},
	} {
		o := revoada(t, nil, c.args...)
		wantCode(t, o, exitUsage, c.args...)
		if !strings.Contains(o.stderr, c.want) {
			t.Errorf("revoada %s: stderr %q, want %q", strings.Join(c.args, " "), o.stderr, c.want)
		}
	}
}

// Ctrl-C stops handing out seeds; the seeds running finish, the report
// says interrupted, and every worker exits.
func TestExploreInterrupt(t *testing.T) {
	cmd := exec.Command(bin, "explore", "--seeds", "1..100000", "--parallel", "2", "--json", "--bundles", "")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); len(workersOf(t)) < 2 && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond) // wall-clock wait for a real process tree; no simulated time here
	}
	time.Sleep(500 * time.Millisecond)
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	code := cmd.ProcessState.ExitCode()
	if code != exitInterrupted && code != exitFailed {
		t.Fatalf("exit %d, want %d or %d\n%s", code, exitInterrupted, exitFailed, stderr.String())
	}
	r := decodeExplore(t, outcome{stdout: stdout.String()})
	if !r.Interrupted || r.Runs == 0 || r.Runs >= 100000 {
		t.Errorf("report after Ctrl-C: runs %d, interrupted %v", r.Runs, r.Interrupted)
	}
	if w := workersOf(t); len(w) > 0 {
		t.Errorf("workers still running after the parent exited: %v", w)
	}
}

package main

import (
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
)

// Seeds run in worker processes give the same JSON report as in one
// process, but for the wall times; leader-kill adds the recovery figures
// of its crashes.
func TestSimParallelMatchesSequential(t *testing.T) {
	for _, c := range []struct {
		scenario, seeds string
		runs            int
	}{{"smoke", "1..12", 12}, {"leader-kill", "1..4", 4}} {
		args := []string{"sim", "--scenario", c.scenario, "--seeds", c.seeds, "--json", "--bundles", ""}
		seq := revoada(t, nil, append(args, "--parallel", "1")...)
		par := revoada(t, nil, append(args, "--parallel", "2")...)
		wantCode(t, seq, exitOK, args...)
		wantCode(t, par, exitOK, append(args, "--parallel", "2")...)
		a, b := decodeReport(t, seq.stdout), decodeReport(t, par.stdout)
		if *a.Runs != c.runs || len(a.Results) != c.runs || *a.SimSeconds <= 0 || (c.scenario == "leader-kill") != (a.Restored != nil) {
			t.Fatalf("sequential report:\n%s", seq.stdout)
		}
		for _, r := range []report{a, b} {
			*r.WallSeconds, *r.Speedup = 0, 0
		}
		if !reflect.DeepEqual(a, b) {
			t.Errorf("%s: reports differ:\nsequential %s\nparallel   %s", c.scenario, seq.stdout, par.stdout)
		}
	}
}

// wallFigures are the wall times and speed-ups of sim's text output, the
// only part that differs between runs of the same seeds.
var wallFigures = regexp.MustCompile(`(wall|speed-up) [^,)\n]+`)

// Failed seeds run in workers are printed as in one process, with the
// bundles and reports the workers wrote, for a built-in scenario and a
// scenario file.
func TestSimParallelFailures(t *testing.T) {
	file := filepath.Join(t.TempDir(), "never-two.yaml")
	if err := os.WriteFile(file, []byte(failingScenario), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range [][]string{
		{"--scenario", "store-under-partition", "--seeds", "1..2", "--plant", "stale-reads"},
		{"--scenario", file, "--seeds", "5..8"},
	} {
		var out [2]string
		for i, parallel := range []string{"2", "1"} { // the workers first, into empty directories
			dir := t.TempDir()
			args := append([]string{"sim", "--parallel", parallel, "--bundles", filepath.Join(dir, "b"), "--report", filepath.Join(dir, "r")}, c...)
			o := revoada(t, nil, args...)
			wantCode(t, o, exitFailed, args...)
			for _, m := range bundleLine.FindAllStringSubmatch(o.stdout, -1) {
				if _, err := os.Stat(filepath.Join(m[1], "run.json")); err != nil {
					t.Errorf("--parallel %s: bundle: %v", parallel, err)
				}
			}
			if n := strings.Count(o.stdout, "\n  bundle: "+dir); n == 0 || n != strings.Count(o.stdout, "\n  report: "+dir) {
				t.Errorf("--parallel %s: %d bundles and %d reports for the failed runs:\n%s", parallel, n, strings.Count(o.stdout, "\n  report: "), o.stdout)
			}
			out[i] = wallFigures.ReplaceAllString(strings.ReplaceAll(o.stdout, dir, "DIR"), "$1 …")
		}
		if out[0] != out[1] {
			t.Errorf("sim %s: outputs differ:\n--parallel 2:\n%s\n--parallel 1:\n%s", strings.Join(c, " "), out[0], out[1])
		}
	}
}

// Bad --parallel and --worker use exit 2 and say what is wrong.
func TestSimParallelFlags(t *testing.T) {
	trace := filepath.Join(t.TempDir(), "trace")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"sim", "--seeds", "1..2", "--parallel", "0"}, "--parallel 0: want 1.."},
		{[]string{"sim", "--parallel", "257"}, "--parallel 257: want 1..256"},
		{[]string{"sim", "--parallel", "2", "--trace", trace}, "--trace needs a single seed run in this process"},
		{[]string{"sim", "--seeds", "1..2", "--parallel", "2", "--trace", trace}, "--trace needs a single seed"},
		{[]string{"sim", "--worker", "--seeds", "1..2"}, "--worker reads its seeds from stdin"},
		{[]string{"replay", "--scenario", "smoke", "--seed", "1", "--parallel", "2"}, "flag provided but not defined: -parallel"},
	} {
		o := revoada(t, nil, c.args...)
		wantCode(t, o, exitUsage, c.args...)
		if !strings.Contains(o.stderr, c.want) {
			t.Errorf("revoada %s: stderr %q, want %q", strings.Join(c.args, " "), o.stderr, c.want)
		}
	}
}

// Package bundle writes and reads failure bundles: one directory per failed
// run holding everything needed to reproduce and understand it — the
// scenario file, the seed and planted bugs, the build, the choice log, the
// trace, the client history and timeline, the violations and an HTML report.
// A bundle's directory is named by a BLAKE3 hash of its content, so the same
// failure written twice is one bundle, and a bundle that was changed no
// longer matches its name.
//
// Files of a bundle:
//
//	run.json              scenario name, seed, planted bugs, fingerprint, stats, violations, build
//	scenario.yaml         the plan, as a scenario file
//	choices.txt           every random choice: "<µs> <purpose> <value>" per line
//	trace.jsonl           the run's trace (the fingerprint is BLAKE3 over it)
//	history.json          client operations, timeline marks, liveness monitors
//	report.html           the timeline report
//	linearizability.html  porcupine's visualisation, when a key was not linearizable
package bundle

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	"lukechampine.com/blake3"

	"revoada.dev/revoada/checkers"
	"revoada.dev/revoada/checkers/report"
	"revoada.dev/revoada/scenarios"
	"revoada.dev/revoada/sim"
)

// Run is what run.json holds.
type Run struct {
	Scenario    string
	Seed        uint64
	Plants      string // planted bugs, as sim.ParsePlants reads them
	Fingerprint string
	SimTime     time.Duration
	Stats       sim.Stats
	Violations  []sim.Violation
	Build       Build
}

// Build names the binary that made a bundle.
type Build struct {
	GoVersion string
	Module    string
	Version   string
	Revision  string // VCS revision, when the binary was built from a checkout
	Modified  bool   // the checkout had uncommitted changes
}

// History is what history.json holds.
type History struct {
	Ops      []checkers.Op
	Marks    []checkers.Mark
	Monitors []checkers.Monitor
}

// Bundle is a bundle read back.
type Bundle struct {
	Dir  string
	Run  Run
	Plan *sim.Plan
}

// ErrBadBundle is wrapped by every error about a bundle's content.
var ErrBadBundle = errors.New("bundle: bad bundle")

// CurrentBuild describes the running binary.
func CurrentBuild() Build {
	b := Build{Version: "(unknown)"}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return b
	}
	b.GoVersion, b.Module, b.Version = info.GoVersion, info.Main.Path, info.Main.Version
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			b.Revision = s.Value
		case "vcs.modified":
			b.Modified = s.Value == "true"
		}
	}
	return b
}

// Write runs the plan again with the seed and hooks, recording its trace
// and choices, and writes the bundle under root (created if missing). It
// returns the bundle's directory. The run is deterministic, so it is the
// run that failed; Write checks the fingerprint against want when want is
// not "".
func Write(root string, p *sim.Plan, seed uint64, hooks sim.Hooks, want string) (string, *sim.Result, error) {
	scenario, err := scenarios.Marshal(p)
	if err != nil {
		return "", nil, fmt.Errorf("bundle: %w", err)
	}
	var trace bytes.Buffer
	res := sim.Run(p, seed, sim.Options{Trace: &trace, Hooks: hooks, Choices: true})
	if want != "" && res.Fingerprint != want {
		return "", res, fmt.Errorf("bundle: the run of %s seed %d did not repeat: fingerprint %s, first %s (a determinism bug)", p.Name, seed, res.Fingerprint, want)
	}
	files := map[string][]byte{"scenario.yaml": scenario, "trace.jsonl": trace.Bytes()}
	run := Run{Scenario: p.Name, Seed: seed, Plants: hooks.String(), Fingerprint: res.Fingerprint, SimTime: res.SimTime,
		Stats: res.Stats, Violations: res.Violations, Build: CurrentBuild()}
	if files["run.json"], err = json.MarshalIndent(run, "", "  "); err != nil {
		return "", res, fmt.Errorf("bundle: %w", err)
	}
	if files["history.json"], err = json.Marshal(History{Ops: res.History, Marks: res.Marks, Monitors: res.Monitors}); err != nil {
		return "", res, fmt.Errorf("bundle: %w", err)
	}
	var choices bytes.Buffer
	for _, c := range res.Choices {
		choices.WriteString(c.String())
		choices.WriteByte('\n')
	}
	files["choices.txt"] = choices.Bytes()
	var links []report.Link
	if v := checkers.Linearizable(res.History, checkers.Options{Marks: res.Marks}); !v.OK() {
		var viz bytes.Buffer
		if err := v.WriteVisualization(&viz); err != nil {
			return "", res, fmt.Errorf("bundle: linearizability visualisation: %w", err)
		}
		files["linearizability.html"] = viz.Bytes()
		links = append(links, report.Link{Name: "linearizability (porcupine)", Href: "linearizability.html"})
	}
	var page bytes.Buffer
	if err := report.Write(&page, ReportInput(p, res, links)); err != nil {
		return "", res, fmt.Errorf("bundle: report: %w", err)
	}
	files["report.html"] = page.Bytes()
	dir, err := writeDir(root, files)
	return dir, res, err
}

// ReportInput is the timeline report's input for a run.
func ReportInput(p *sim.Plan, res *sim.Result, links []report.Link) report.Input {
	in := report.Input{
		Title: fmt.Sprintf("%s seed %d: %s", p.Name, res.Seed, res.Summary()), Scenario: p.Name, Seed: res.Seed,
		Fingerprint: res.Fingerprint, Duration: res.SimTime, Marks: res.Marks, History: res.History, Links: links,
	}
	for i := range p.Nodes {
		in.Nodes = append(in.Nodes, fmt.Sprintf("n%d", i+1))
	}
	for _, v := range res.Violations {
		in.Violations = append(in.Violations, report.Violation{Property: v.Property, At: v.At, Node: v.Node, Detail: v.Detail})
	}
	for _, m := range res.Monitors {
		rm := report.Monitor{Name: m.Name, Failed: m.Failed}
		for _, s := range m.Hot {
			rm.Hot = append(rm.Hot, report.Span{From: s.From, To: s.To})
		}
		in.Monitors = append(in.Monitors, rm)
	}
	return in
}

// Name is a bundle's directory name for its files: "b3-" and 32 hex digits
// of BLAKE3 over every file's name, length and content, in name order.
func Name(files map[string][]byte) string {
	h := blake3.New(16, nil)
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		fmt.Fprintf(h, "%s\x00%d\x00", name, len(files[name]))
		h.Write(files[name])
	}
	return "b3-" + hex.EncodeToString(h.Sum(nil))
}

// writeDir writes the files into a fresh directory under root and renames
// it to its content name: a bundle is either whole or absent.
func writeDir(root string, files map[string][]byte) (string, error) {
	if err := os.MkdirAll(root, 0o755); err != nil {
		return "", fmt.Errorf("bundle: %w", err)
	}
	dir := filepath.Join(root, Name(files))
	if _, err := os.Stat(dir); err == nil {
		return dir, nil // the same bundle, written before
	}
	tmp, err := os.MkdirTemp(root, ".partial-")
	if err != nil {
		return "", fmt.Errorf("bundle: %w", err)
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(tmp, name), data, 0o644); err != nil {
			os.RemoveAll(tmp)
			return "", fmt.Errorf("bundle: %w", err)
		}
	}
	if err := os.Rename(tmp, dir); err != nil {
		os.RemoveAll(tmp)
		if _, serr := os.Stat(dir); serr == nil {
			return dir, nil
		}
		return "", fmt.Errorf("bundle: %w", err)
	}
	return dir, nil
}

// Read reads a bundle's run and plan, checking that its content still
// matches its name.
func Read(dir string) (*Bundle, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("bundle: %w", err)
	}
	files := map[string][]byte{}
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		if files[e.Name()], err = os.ReadFile(filepath.Join(dir, e.Name())); err != nil {
			return nil, fmt.Errorf("bundle: %w", err)
		}
	}
	for _, need := range []string{"run.json", "scenario.yaml"} {
		if _, ok := files[need]; !ok {
			return nil, fmt.Errorf("%w: %s has no %s", ErrBadBundle, dir, need)
		}
	}
	if base := filepath.Base(filepath.Clean(dir)); strings.HasPrefix(base, "b3-") && base != Name(files) {
		return nil, fmt.Errorf("%w: %s: its content hashes to %s; a file was changed, added or removed", ErrBadBundle, dir, Name(files))
	}
	b := &Bundle{Dir: dir}
	if err := json.Unmarshal(files["run.json"], &b.Run); err != nil {
		return nil, fmt.Errorf("%w: %s: run.json: %v", ErrBadBundle, dir, err)
	}
	if b.Plan, err = scenarios.Parse(filepath.Join(dir, "scenario.yaml"), files["scenario.yaml"]); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadBundle, err)
	}
	return b, nil
}

// Hooks are the bundle's planted bugs.
func (b *Bundle) Hooks() (sim.Hooks, error) {
	h, err := sim.ParsePlants(b.Run.Plants)
	if err != nil {
		return h, fmt.Errorf("%w: %s: run.json: %w", ErrBadBundle, b.Dir, err)
	}
	return h, nil
}

// Replay runs the bundle's scenario again with its seed and planted bugs.
// Same is true when the run repeated exactly (the same fingerprint).
func (b *Bundle) Replay() (res *sim.Result, same bool, err error) {
	hooks, err := b.Hooks()
	if err != nil {
		return nil, false, err
	}
	res = sim.Run(b.Plan, b.Run.Seed, sim.Options{Hooks: hooks})
	return res, res.Fingerprint == b.Run.Fingerprint, nil
}

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
	"io"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
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
	// Executable is the BLAKE3 hash of the executable that wrote the
	// bundle, hex, when it could be read: what tells two builds apart when
	// both were built without VCS stamps (-buildvcs=false) or from one
	// revision with different uncommitted changes.
	Executable string `json:",omitempty"`
}

// Same reports whether b and o are surely one build: the same executable.
// Without its hash on either side (a bundle of an older revoada, or an
// executable that could not be read) it cannot tell, and says false: a
// fingerprint that differs is then not taken for a determinism bug.
func (b Build) Same(o Build) bool { return b.Executable != "" && b.Executable == o.Executable }

// executableHash is the hex BLAKE3 hash of this process's executable, ""
// if it cannot be read; computed once.
var executableHash = sync.OnceValue(func() string {
	path, err := os.Executable()
	if err != nil {
		return ""
	}
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	h := blake3.New(32, nil)
	if _, err := io.Copy(h, f); err != nil {
		return ""
	}
	return hex.EncodeToString(h.Sum(nil))
})

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

// Limits of a bundle Read accepts, each checked before anything is read:
// it hashes every file as it streams by and holds only run.json and
// scenario.yaml (at most scenarios.FileBytesMax), so neither a large file
// nor many of them costs memory.
const (
	FilesMax     = 16      // files in a bundle's directory; Write makes at most 7
	FileBytesMax = 1 << 30 // any one file (a long run's trace is the largest)
	RunBytesMax  = 4 << 20 // run.json (at most sim.ViolationsMax violations)
)

// CurrentBuild describes the running binary.
func CurrentBuild() Build {
	b := Build{Version: "(unknown)", Executable: executableHash()}
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
	var trace bytes.Buffer
	res := sim.Run(p, seed, sim.Options{Trace: &trace, Hooks: hooks, Choices: true})
	if want != "" && res.Fingerprint != want {
		return "", res, fmt.Errorf("bundle: the run of %s seed %d did not repeat: fingerprint %s, first %s (a determinism bug)", p.Name, seed, res.Fingerprint, want)
	}
	var choices bytes.Buffer
	for _, c := range res.Choices {
		choices.WriteString(c.String())
		choices.WriteByte('\n')
	}
	dir, err := WriteResult(root, p, res, hooks, map[string][]byte{"trace.jsonl": trace.Bytes(), "choices.txt": choices.Bytes()})
	return dir, res, err
}

// WriteResult writes the bundle of a run already judged, whichever world
// ran it: the plan, run.json, history.json and the reports made from res,
// and the run's other files (a simulation's trace and choices; a real
// run's node logs), at most FilesMax-5 of them. A real run has no seed to
// replay and no fingerprint: its res says so with zeros.
func WriteResult(root string, p *sim.Plan, res *sim.Result, hooks sim.Hooks, extra map[string][]byte) (string, error) {
	scenario, err := scenarios.Marshal(p)
	if err != nil {
		return "", fmt.Errorf("bundle: %w", err)
	}
	files := map[string][]byte{"scenario.yaml": scenario}
	for name, data := range extra {
		files[name] = data
	}
	run := Run{Scenario: p.Name, Seed: res.Seed, Plants: hooks.String(), Fingerprint: res.Fingerprint, SimTime: res.SimTime,
		Stats: res.Stats, Violations: res.Violations, Build: CurrentBuild()}
	if files["run.json"], err = json.MarshalIndent(run, "", "  "); err != nil {
		return "", fmt.Errorf("bundle: %w", err)
	}
	if files["history.json"], err = json.Marshal(History{Ops: res.History, Marks: res.Marks, Monitors: res.Monitors}); err != nil {
		return "", fmt.Errorf("bundle: %w", err)
	}
	var links []report.Link
	if v := checkers.Linearizable(res.History, checkers.Options{Marks: res.Marks}); !v.OK() {
		var viz bytes.Buffer
		if err := v.WriteVisualization(&viz); err != nil {
			return "", fmt.Errorf("bundle: linearizability visualisation: %w", err)
		}
		files["linearizability.html"] = viz.Bytes()
		links = append(links, report.Link{Name: "linearizability (porcupine)", Href: "linearizability.html"})
	}
	var page bytes.Buffer
	if err := report.Write(&page, ReportInput(p, res, links)); err != nil {
		return "", fmt.Errorf("bundle: report: %w", err)
	}
	files["report.html"] = page.Bytes()
	if len(files) > FilesMax {
		return "", fmt.Errorf("bundle: %d files, limit %d (FilesMax)", len(files), FilesMax)
	}
	for name, data := range files { // what Read would refuse is never written
		if err := checkSize(name, int64(len(data))); err != nil {
			return "", fmt.Errorf("bundle: %w", err)
		}
	}
	return writeDir(root, files)
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
	h := newNameHash()
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		h.file(name, int64(len(files[name])))
		h.Write(files[name])
	}
	return h.name()
}

// nameHash computes Name a file at a time.
type nameHash struct{ *blake3.Hasher }

func newNameHash() nameHash { return nameHash{blake3.New(16, nil)} }

// file starts a file's entry: its content follows.
func (h nameHash) file(name string, size int64) { fmt.Fprintf(h, "%s\x00%d\x00", name, size) }

func (h nameHash) name() string { return "b3-" + hex.EncodeToString(h.Sum(nil)) }

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
// matches its name. It refuses, before reading them, more than FilesMax
// files, a file over FileBytesMax, a run.json over RunBytesMax and a
// scenario.yaml over scenarios.FileBytesMax.
func Read(dir string) (*Bundle, error) {
	names, err := regularFiles(dir)
	if err != nil {
		return nil, err
	}
	kept := map[string][]byte{"run.json": nil, "scenario.yaml": nil}
	h := newNameHash()
	for _, name := range names {
		if err := hashFile(h, dir, name, kept); err != nil {
			return nil, err
		}
	}
	for _, need := range []string{"run.json", "scenario.yaml"} {
		if kept[need] == nil {
			return nil, fmt.Errorf("%w: %s has no %s", ErrBadBundle, dir, need)
		}
	}
	if base := filepath.Base(filepath.Clean(dir)); strings.HasPrefix(base, "b3-") && base != h.name() {
		return nil, fmt.Errorf("%w: %s: its content hashes to %s; a file was changed, added or removed", ErrBadBundle, dir, h.name())
	}
	b := &Bundle{Dir: dir}
	if err := json.Unmarshal(kept["run.json"], &b.Run); err != nil {
		return nil, fmt.Errorf("%w: %s: run.json: %v", ErrBadBundle, dir, err)
	}
	if b.Plan, err = scenarios.Parse(filepath.Join(dir, "scenario.yaml"), kept["scenario.yaml"]); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadBundle, err)
	}
	return b, nil
}

// regularFiles lists the regular files of dir in name order, at most
// FilesMax of them.
func regularFiles(dir string) ([]string, error) {
	d, err := os.Open(dir)
	if err != nil {
		return nil, fmt.Errorf("bundle: %w", err)
	}
	defer d.Close()
	entries, err := d.ReadDir(FilesMax + 1)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("bundle: %w", err)
	}
	if len(entries) > FilesMax {
		return nil, fmt.Errorf("%w: %s holds more than %d entries (FilesMax)", ErrBadBundle, dir, FilesMax)
	}
	var names []string
	for _, e := range entries {
		if e.Type().IsRegular() {
			names = append(names, e.Name())
		}
	}
	slices.Sort(names)
	return names, nil
}

// hashFile adds one file to h, streaming it, and keeps its content in
// kept if kept names it. Its size is checked first: against FileBytesMax,
// or the limit of a kept file.
func hashFile(h nameHash, dir, name string, kept map[string][]byte) error {
	f, err := os.Open(filepath.Join(dir, name))
	if err != nil {
		return fmt.Errorf("bundle: %w", err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return fmt.Errorf("bundle: %w", err)
	}
	if err := checkSize(name, info.Size()); err != nil {
		return fmt.Errorf("%w: %s: %w", ErrBadBundle, dir, err)
	}
	h.file(name, info.Size())
	w := io.Writer(h)
	_, keep := kept[name]
	var content *bytes.Buffer
	if keep { // within its limit, checked above
		content = bytes.NewBuffer(make([]byte, 0, info.Size()))
		w = io.MultiWriter(h, content)
	}
	// One byte more than the size read, to see a file that grew meanwhile.
	if n, err := io.Copy(w, io.LimitReader(f, info.Size()+1)); err != nil {
		return fmt.Errorf("bundle: %w", err)
	} else if n != info.Size() {
		return fmt.Errorf("%w: %s: %s changed while it was read", ErrBadBundle, dir, name)
	}
	if keep {
		kept[name] = content.Bytes()
	}
	return nil
}

// checkSize refuses a file of a bundle over its limit: RunBytesMax for
// run.json, scenarios.FileBytesMax for scenario.yaml, FileBytesMax for any.
func checkSize(name string, size int64) error {
	limit, what := int64(FileBytesMax), "FileBytesMax"
	switch name {
	case "run.json":
		limit, what = RunBytesMax, "RunBytesMax"
	case "scenario.yaml":
		limit, what = scenarios.FileBytesMax, "scenarios.FileBytesMax"
	}
	if size > limit {
		return fmt.Errorf("%s is %d bytes, limit %d (%s)", name, size, limit, what)
	}
	return nil
}

// Hooks are the bundle's planted bugs.
func (b *Bundle) Hooks() (sim.Hooks, error) {
	h, err := sim.ParsePlants(b.Run.Plants)
	if err != nil {
		return h, fmt.Errorf("%w: %s: run.json: %w", ErrBadBundle, b.Dir, err)
	}
	return h, nil
}

// Replay runs the bundle's scenario again with its seed and planted bugs,
// writing its trace to trace unless that is nil. Same is true when the run
// repeated exactly (the same fingerprint).
func (b *Bundle) Replay(trace io.Writer) (res *sim.Result, same bool, err error) {
	hooks, err := b.Hooks()
	if err != nil {
		return nil, false, err
	}
	res = sim.Run(b.Plan, b.Run.Seed, sim.Options{Hooks: hooks, Trace: trace})
	return res, res.Fingerprint == b.Run.Fingerprint, nil
}

package scenarios

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"gopkg.in/yaml.v3"

	"revoada.dev/revoada/core/roles"
	"revoada.dev/revoada/core/store"
	"revoada.dev/revoada/core/topology"
	"revoada.dev/revoada/sim"
)

// Limits of a scenario file.
const (
	FileBytesMax = 1 << 20 // a scenario file's size
	NameBytesMax = 64      // the name field's length
	ItemsMax     = 4096    // faults, and commands, per file
	WeightMax    = 10_000  // a workload mix weight; it bounds their sum
	// PhiThresholdMax bounds policy.phi_threshold. φ is -log10 of the chance
	// that a peer this late is still alive; the usual thresholds are 8 to
	// 16, and beyond 100 the detector would in effect never suspect.
	PhiThresholdMax = 100
	// ClockRateMax bounds a clock fault's rate: a node's clock running ten
	// times fast is already far outside what NTP-disciplined clocks do.
	ClockRateMax = sim.ClockRateMax
	// TokensMax bounds a file's YAML tokens, counted before it is parsed:
	// yaml.v3 makes a node of about 150 bytes for each, so a megabyte of
	// "1," would cost 150 MB, where this bounds parsing to about 40 MB.
	// Scenario files hold about a token every four bytes (the built-ins at
	// most 0.27), so only dense input nears it.
	TokensMax = 250_000
)

// aliasHopsMax bounds how many aliases deref follows in a row. yaml.v3 only
// lets an alias name a node that is not itself an alias, so one hop is
// enough; the bound keeps a future change from turning into a loop.
const aliasHopsMax = 8

// The default network, used for every network field a file leaves out.
var defaultNetwork = sim.Network{LatencyMin: time.Millisecond, LatencyMax: 10 * time.Millisecond}

// The mix of a workload that gives none: mostly applies and gets, no
// watches.
var defaultMix = sim.Mix{Apply: 5, Get: 3, List: 1, Delete: 1}

var nameRE = regexp.MustCompile(`^[a-z0-9-]+$`)

// opsRateRE is a workload rate: a decimal number of operations per second
// or per minute.
var opsRateRE = regexp.MustCompile(`^([0-9]+(?:\.[0-9]*)?|\.[0-9]+)/([sm])$`)

// The fields each mapping may hold, in the order Marshal writes them.
var (
	planFields     = []string{"name", "description", "nodes", "control_plane", "outside", "duration", "target", "policy", "network", "workload", "faults", "commands", "expect"}
	targetFields   = []string{"voters"}
	policyFields   = []string{"audit_every", "grace", "damper", "stabilize", "phi_threshold"}
	networkFields  = []string{"latency", "loss", "duplicate", "bandwidth", "queue", "links"}
	latencyFields  = []string{"min", "max", "distribution"}
	linkFields     = []string{"from", "to", "one_way", "latency", "loss", "bandwidth", "queue"}
	distributions  = []sim.Distribution{sim.Uniform, sim.Normal, sim.Pareto}
	traffics       = []sim.Traffic{sim.RaftTraffic, sim.GossipTraffic, sim.RequestTraffic}
	diskModes      = []sim.DiskMode{sim.DiskCorrupt, sim.DiskTamper, sim.DiskFull, sim.DiskReadErrors}
	workloadFields = []string{"clients", "rate", "keys", "face", "mix", "cas", "local", "resume", "retain", "pacing", "script"}
	scriptFields   = []string{"at", "client", "node", "verb", "key", "cas", "local", "back"}
	verbs          = []string{"apply", "get", "list", "delete", "watch"}
	mixFields      = []string{"apply", "get", "list", "delete", "watch"}
	faces          = []string{"kubernetes", "nomad", "systemd", "pureraft", "baremetal"}
	faultKinds     = []sim.FaultKind{sim.Crash, sim.Restart, sim.Pause, sim.Resume, sim.Partition, sim.Heal, sim.Loss, sim.Duplicate, sim.Chaos, sim.ClockSkew,
		sim.LinkFault, sim.Clog, sim.Swizzle, sim.Ring, sim.Disk, sim.Poison}
	faultFields    = append([]string{"at", "for", "one_way", "rate", "jitter", "jump", "bridge", "traffic", "mode"}, kindNames(faultKinds)...)
	commandKinds   = []roles.Kind{roles.Promote, roles.Demote, roles.Quarantine, roles.Restore, roles.Join, roles.Leave}
	commandFields  = append(append([]string{"at", "roles", "reason"}, kindNames(commandKinds)...), "to", "shift")
	notFields      = []string{"not"}
	expectFields   = []string{"converge", "commands_complete", "progress", "liveness"}
	livenessFields = []string{"leader", "shape", "membership", "synced"}
	convergeFields = []string{"within", "control_plane"}
)

// kindNames gives the names of fault or command kinds, in order.
func kindNames[K any](kinds []K) []string {
	names := make([]string, len(kinds))
	for i, k := range kinds {
		names[i] = fmt.Sprint(k)
	}
	return names
}

// Parse parses one scenario file's bytes into a validated plan. name is the
// file name used in errors. Every error about the content is an *Error that
// matches ErrInvalid.
func Parse(name string, data []byte) (*sim.Plan, error) {
	d := &decoder{file: name}
	root, err := d.document(data)
	if err != nil {
		return nil, err
	}
	return d.plan(root)
}

// LoadFile reads and parses the scenario file at path; errors name the file
// by path. A file larger than FileBytesMax is invalid. Read failures wrap the
// os error and do not match ErrInvalid.
func LoadFile(path string) (*sim.Plan, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("scenarios: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, FileBytesMax+1))
	if err != nil {
		return nil, fmt.Errorf("scenarios: read %s: %w", path, err)
	}
	return Parse(path, data)
}

// decoder reads one file. Its methods return the first problem found as an
// *Error; each takes the path of the field it reads.
type decoder struct {
	file  string
	nodes int           // the mesh size, once read; selectors are checked against it
	end   time.Duration // the run's duration, once read
	base  sim.Network   // the network, once read: what a link fault leaves out
}

func (d *decoder) errorf(line int, field, format string, args ...any) *Error {
	return &Error{File: d.file, Line: line, Field: field, Msg: fmt.Sprintf(format, args...)}
}

// syntaxLineRE picks the line out of yaml.v3's "yaml: line N: problem".
var syntaxLineRE = regexp.MustCompile(`(?s)^yaml: line (\d+): (.*)$`)

// parserProblems begin the messages of yaml.v3's parser (as opposed to its
// scanner). yaml.v3 reports the line of a parser error 0-based and of a
// scanner error 1-based (parser.fail in its decode.go adds 1 only for
// scanner errors), and leaves the line out when it is the first; syntax
// corrects both.
var parserProblems = []string{
	"did not find expected", "found duplicate %", "found incompatible YAML document", "found undefined tag handle",
}

// unplacedProblems begin the messages of yaml.v3 errors that carry no
// position at all.
var unplacedProblems = []string{"unknown anchor", "attempted to go past the end of stream"}

// syntax converts an error from the YAML parser. The text has been checked
// by checkText first, so the reader errors that carry no line cannot occur.
func (d *decoder) syntax(err error) *Error {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	line := 1
	if slices.ContainsFunc(unplacedProblems, func(p string) bool { return strings.HasPrefix(msg, p) }) {
		line = 0
	}
	if m := syntaxLineRE.FindStringSubmatch(err.Error()); m != nil {
		line, _ = strconv.Atoi(m[1])
		msg = m[2]
		if slices.ContainsFunc(parserProblems, func(p string) bool { return strings.HasPrefix(msg, p) }) {
			line++
		}
	}
	return &Error{File: d.file, Line: line, Msg: "invalid YAML: " + msg, Err: err}
}

// checkText checks that data is UTF-8 without the control characters YAML
// forbids (the test of yaml.v3's reader), so that such a problem is reported
// with its line: yaml.v3 reports reader errors without one. UTF-16 files,
// which YAML allows, are rejected.
func (d *decoder) checkText(data []byte) error {
	line := 1
	for len(data) > 0 {
		r, size := utf8.DecodeRune(data)
		switch {
		case r == utf8.RuneError && size == 1:
			return d.errorf(line, "", "invalid YAML: the file is not UTF-8 text")
		case !yamlPrintable(r):
			return d.errorf(line, "", "invalid YAML: control character %U is not allowed", r)
		case r == '\n', r == '\r' && (len(data) == 1 || data[1] != '\n'):
			line++
		}
		data = data[size:]
	}
	return nil
}

// yamlPrintable is the set of characters YAML 1.2 allows in a stream (§5.1),
// as yaml.v3's reader tests it.
func yamlPrintable(r rune) bool {
	return r == 0x09 || r == 0x0A || r == 0x0D || (r >= 0x20 && r <= 0x7E) || r == 0x85 ||
		(r >= 0xA0 && r <= 0xD7FF) || (r >= 0xE000 && r <= 0xFFFD) || (r >= 0x10000 && r <= 0x10FFFF)
}

// document parses data as exactly one YAML document and returns its root.
func (d *decoder) document(data []byte) (*yaml.Node, error) {
	if len(data) > FileBytesMax {
		return nil, d.errorf(0, "", "file is larger than %d bytes", FileBytesMax)
	}
	if yamlTokens(data) > TokensMax {
		return nil, d.errorf(0, "", "file holds more than %d YAML tokens (TokensMax)", TokensMax)
	}
	if err := d.checkText(data); err != nil {
		return nil, err
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); errors.Is(err, io.EOF) {
		return nil, d.errorf(1, "", "file is empty: want a scenario mapping")
	} else if err != nil {
		return nil, d.syntax(err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		return nil, d.errorf(docLine(&extra), "", "a second YAML document: want exactly one")
	} else if !errors.Is(err, io.EOF) {
		return nil, d.syntax(err)
	}
	if len(doc.Content) == 0 || isNull(deref(doc.Content[0])) {
		return nil, d.errorf(max(doc.Line, 1), "", "file is empty: want a scenario mapping")
	}
	root := doc.Content[0]
	if err := d.checkAliases(root); err != nil {
		return nil, err
	}
	return root, nil
}

// yamlTokens counts data's YAML tokens as a byte scan sees them: each
// indicator character, and each run of other non-blank characters. Every
// node yaml.v3 makes takes one of them, but for a block sequence's own node,
// so the count bounds the nodes within a factor of two, without parsing.
func yamlTokens(data []byte) int {
	n, inRun := 0, false
	for _, c := range data {
		switch c {
		case ' ', '\t', '\r', '\n':
			inRun = false
		case '[', ']', '{', '}', ',', ':', '-', '?', '&', '*', '!', '|', '>', '#', '"', '\'', '%', '@', '`':
			n, inRun = n+1, false
		default:
			if !inRun {
				n, inRun = n+1, true
			}
		}
	}
	return n
}

// nodesMax bounds the nodes a document may expand to by following its
// aliases. A document without aliases has fewer nodes than bytes, so only
// aliases can reach it; it stops a few lines of anchors and aliases from
// standing for billions of nodes.
const nodesMax = 2 * FileBytesMax

// checkAliases checks that following the document's aliases neither loops
// (an alias inside the node it names) nor expands it beyond nodesMax nodes,
// so that reading it is bounded by its size.
func (d *decoder) checkAliases(root *yaml.Node) error {
	sizes := map[*yaml.Node]int{} // expanded size of each node sized so far
	open := map[*yaml.Node]bool{} // nodes being sized: the path from the root
	var size func(n *yaml.Node) (int, error)
	size = func(n *yaml.Node) (int, error) {
		if s, ok := sizes[n]; ok {
			return s, nil
		}
		children := n.Content
		if n.Kind == yaml.AliasNode && n.Alias != nil {
			if open[n.Alias] {
				return 0, d.errorf(n.Line, "", "alias *%s is inside the node it names", n.Value)
			}
			children = []*yaml.Node{n.Alias}
		}
		open[n] = true
		total := 1
		for _, c := range children {
			s, err := size(c)
			if err != nil {
				return 0, err
			}
			if total += s; total > nodesMax {
				return 0, d.errorf(n.Line, "", "aliases expand the document to more than %d nodes", nodesMax)
			}
		}
		delete(open, n)
		sizes[n] = total
		return total, nil
	}
	_, err := size(root)
	return err
}

// docLine is the line where a document's content starts.
func docLine(doc *yaml.Node) int {
	if len(doc.Content) > 0 && doc.Content[0].Line > 0 {
		return doc.Content[0].Line
	}
	return max(doc.Line, 1)
}

// deref follows aliases to the node they name.
func deref(n *yaml.Node) *yaml.Node {
	for i := 0; i < aliasHopsMax && n.Kind == yaml.AliasNode && n.Alias != nil; i++ {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool { return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" }

// describe names what a node holds, for "want X, got Y" messages.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!null":
			return "null"
		case "!!bool":
			return fmt.Sprintf("boolean %s", n.Value)
		case "!!int", "!!float":
			return fmt.Sprintf("number %s", n.Value)
		case "!!str":
			return fmt.Sprintf("string %q", n.Value)
		}
		return fmt.Sprintf("%s %q", n.ShortTag(), n.Value)
	case yaml.AliasNode:
		return "an unresolved alias"
	}
	return "a YAML document"
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func index(path string, i int) string { return fmt.Sprintf("%s[%d]", path, i) }

// fields is a mapping whose keys have been checked: each is known and
// appears once.
type fields struct {
	node *yaml.Node
	path string
	keys []*yaml.Node // in document order
	vals map[string]*yaml.Node
}

// mapping checks that n is a mapping whose keys are distinct members of
// known.
func (d *decoder) mapping(n *yaml.Node, path string, known []string) (*fields, error) {
	n = deref(n)
	if n.Kind != yaml.MappingNode {
		return nil, d.errorf(n.Line, path, "want a mapping, got %s", describe(n))
	}
	f := &fields{node: n, path: path, vals: make(map[string]*yaml.Node, len(n.Content)/2)}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := deref(n.Content[i])
		if k.Kind != yaml.ScalarNode {
			return nil, d.errorf(k.Line, path, "want a field name, got %s", describe(k))
		}
		if !slices.Contains(known, k.Value) {
			return nil, d.errorf(k.Line, join(path, k.Value), "unknown field %q (want one of %s)", k.Value, strings.Join(known, ", "))
		}
		if i := slices.IndexFunc(f.keys, func(o *yaml.Node) bool { return o.Value == k.Value }); i >= 0 {
			return nil, d.errorf(k.Line, join(path, k.Value), "duplicate field %q (first at line %d)", k.Value, f.keys[i].Line)
		}
		f.keys = append(f.keys, k)
		f.vals[k.Value] = n.Content[i+1]
	}
	return f, nil
}

// key returns the key node of a field that is present.
func (f *fields) key(name string) *yaml.Node {
	return f.keys[slices.IndexFunc(f.keys, func(k *yaml.Node) bool { return k.Value == name })]
}

// opt returns the value of an optional field, or nil if it is absent or null.
func (f *fields) opt(key string) *yaml.Node {
	v, ok := f.vals[key]
	if !ok || isNull(deref(v)) {
		return nil
	}
	return v
}

// req returns the value of a required field.
func (d *decoder) req(f *fields, key string) (*yaml.Node, error) {
	v, ok := f.vals[key]
	switch {
	case !ok:
		return nil, d.errorf(f.node.Line, join(f.path, key), "missing required field")
	case isNull(deref(v)):
		return nil, d.errorf(v.Line, join(f.path, key), "missing value")
	}
	return v, nil
}

// kinds returns the keys of f, in document order, that are members of kinds.
func (f *fields) kinds(kinds []string) []*yaml.Node {
	var found []*yaml.Node
	for _, k := range f.keys {
		if slices.Contains(kinds, k.Value) {
			found = append(found, k)
		}
	}
	return found
}

// oneKind returns the single kind key of an item (a fault or a command).
func (d *decoder) oneKind(f *fields, what string, kinds []string) (string, error) {
	found := f.kinds(kinds)
	switch len(found) {
	case 0:
		return "", d.errorf(f.node.Line, f.path, "%s has no kind: want exactly one of %s", what, strings.Join(kinds, ", "))
	case 1:
		return found[0].Value, nil
	}
	return "", d.errorf(found[1].Line, join(f.path, found[1].Value), "%s has two kinds, %s and %s: want exactly one", what, found[0].Value, found[1].Value)
}

// scalar checks that n is a non-null scalar.
func (d *decoder) scalar(n *yaml.Node, path, want string) (*yaml.Node, error) {
	n = deref(n)
	switch {
	case isNull(n):
		return nil, d.errorf(n.Line, path, "missing value: want %s", want)
	case n.Kind != yaml.ScalarNode:
		return nil, d.errorf(n.Line, path, "want %s, got %s", want, describe(n))
	}
	return n, nil
}

// text reads any scalar as its text.
func (d *decoder) text(n *yaml.Node, path, want string) (string, error) {
	s, err := d.scalar(n, path, want)
	if err != nil {
		return "", err
	}
	return s.Value, nil
}

func (d *decoder) integer(n *yaml.Node, path string, lo, hi int) (int, error) {
	want := fmt.Sprintf("an integer in %d..%d", lo, hi)
	s, err := d.scalar(n, path, want)
	if err != nil {
		return 0, err
	}
	var v int
	if s.ShortTag() != "!!int" || s.Decode(&v) != nil {
		return 0, d.errorf(s.Line, path, "want %s, got %s", want, describe(s))
	}
	if v < lo || v > hi {
		return 0, d.errorf(s.Line, path, "%d out of range %d..%d", v, lo, hi)
	}
	return v, nil
}

// duration reads a non-negative Go duration.
func (d *decoder) duration(n *yaml.Node, path string) (time.Duration, error) {
	s, err := d.scalar(n, path, "a duration such as 20s")
	if err != nil {
		return 0, err
	}
	v, err := time.ParseDuration(s.Value)
	if err != nil {
		return 0, &Error{File: d.file, Line: s.Line, Field: path, Msg: fmt.Sprintf("bad duration %q: %v", s.Value, err), Err: err}
	}
	if v < 0 {
		return 0, d.errorf(s.Line, path, "negative duration %v", v)
	}
	return v, nil
}

// at reads a fault's or command's time, which must fall within the run.
func (d *decoder) at(f *fields) (time.Duration, error) {
	n, err := d.req(f, "at")
	if err != nil {
		return 0, err
	}
	v, err := d.duration(n, join(f.path, "at"))
	if err != nil {
		return 0, err
	}
	if v >= d.end {
		return 0, d.errorf(n.Line, join(f.path, "at"), "%v is not before the end of the run (duration %v)", v, d.end)
	}
	return v, nil
}

// rate reads a probability in [0, 1].
func (d *decoder) rate(n *yaml.Node, path string) (float64, error) {
	return d.fraction(n, path, "rate")
}

// share reads a share of a workload's operations, in [0, 1].
func (d *decoder) share(n *yaml.Node, path string) (float64, error) {
	return d.fraction(n, path, "share")
}

// fraction reads a number in [0, 1]; noun names it in errors.
func (d *decoder) fraction(n *yaml.Node, path, noun string) (float64, error) {
	const want = "a number in [0, 1]"
	s, err := d.scalar(n, path, want)
	if err != nil {
		return 0, err
	}
	var v float64
	if tag := s.ShortTag(); (tag != "!!int" && tag != "!!float") || s.Decode(&v) != nil {
		return 0, d.errorf(s.Line, path, "bad %s: want %s, got %s", noun, want, describe(s))
	}
	if !(v >= 0 && v <= 1) { // written so that NaN fails
		return 0, d.errorf(s.Line, path, "%s %s is not within [0, 1]", noun, s.Value)
	}
	return v, nil
}

// positive reads a number in (0, hi]; noun names it in errors.
func (d *decoder) positive(n *yaml.Node, path, noun string, hi float64) (float64, error) {
	want := fmt.Sprintf("a number in (0, %v]", hi)
	s, err := d.scalar(n, path, want)
	if err != nil {
		return 0, err
	}
	var v float64
	if tag := s.ShortTag(); (tag != "!!int" && tag != "!!float") || s.Decode(&v) != nil {
		return 0, d.errorf(s.Line, path, "bad %s: want %s, got %s", noun, want, describe(s))
	}
	if !(v > 0 && v <= hi) { // written so that NaN fails
		return 0, d.errorf(s.Line, path, "%s %s is not within (0, %v]", noun, s.Value, hi)
	}
	return v, nil
}

// opsRate reads a workload rate, "<number>/s" or "<number>/m", as
// operations per second in (0, sim.RateMax].
func (d *decoder) opsRate(n *yaml.Node, path string) (float64, error) {
	const want = "operations per second or per minute, such as 50/s or 600/m"
	s, err := d.scalar(n, path, want)
	if err != nil {
		return 0, err
	}
	m := opsRateRE.FindStringSubmatch(s.Value)
	if m == nil {
		return 0, d.errorf(s.Line, path, "bad rate %q: want %s", s.Value, want)
	}
	v, err := strconv.ParseFloat(m[1], 64) // the pattern leaves only range errors
	if m[2] == "m" {
		v /= 60
	}
	switch {
	case v == 0: // zero, or too small for a float64
		return 0, d.errorf(s.Line, path, "rate %s is not positive", s.Value)
	case err != nil || v > sim.RateMax:
		return 0, d.errorf(s.Line, path, "rate %s is more than %d/s", s.Value, sim.RateMax)
	}
	return v, nil
}

func (d *decoder) boolean(n *yaml.Node, path string) (bool, error) {
	const want = "true or false"
	s, err := d.scalar(n, path, want)
	if err != nil {
		return false, err
	}
	var v bool
	if s.ShortTag() != "!!bool" || s.Decode(&v) != nil {
		return false, d.errorf(s.Line, path, "want %s, got %s", want, describe(s))
	}
	return v, nil
}

// selector reads a selector that is not a not: a node name or a dynamic
// selector.
func (d *decoder) selector(n *yaml.Node, path string) (sim.Selector, error) {
	s, err := d.scalar(n, path, "a node selector such as n1 or leader")
	if err != nil {
		return "", err
	}
	sel := sim.Selector(s.Value)
	if _, ok := sel.Negated(); ok {
		return "", d.errorf(s.Line, path, "unknown node selector %q (write a not as {not: [selectors]})", s.Value)
	}
	return sel, d.checked(s, path, sim.ValidateSelector(sel, d.nodes))
}

// checked reports a sim validation error at a scalar's line, if there is
// one.
func (d *decoder) checked(s *yaml.Node, path string, err error) error {
	if err != nil {
		return &Error{File: d.file, Line: s.Line, Field: path, Msg: err.Error(), Err: err}
	}
	return nil
}

// faultTarget reads a fault's target: a selector, or {not: ...}.
func (d *decoder) faultTarget(n *yaml.Node, path string) (sim.Selector, error) {
	if deref(n).Kind == yaml.MappingNode {
		return d.not(n, path)
	}
	return d.selector(n, path)
}

// not reads {not: S} or {not: [S, ...]}: the nodes none of the selectors
// picks (sim.Not).
func (d *decoder) not(n *yaml.Node, path string) (sim.Selector, error) {
	f, err := d.mapping(n, path, notFields)
	if err != nil {
		return "", err
	}
	v, err := d.req(f, "not")
	if err != nil {
		return "", err
	}
	path, v = join(path, "not"), deref(v)
	items := []*yaml.Node{v}
	if v.Kind == yaml.SequenceNode {
		if items, err = d.list(v, path); err != nil {
			return "", err
		}
		if len(items) == 0 {
			return "", d.errorf(v.Line, path, "empty not: want at least one selector")
		}
	}
	sels := make([]sim.Selector, len(items))
	for i, item := range items {
		ipath := path
		if v.Kind == yaml.SequenceNode {
			ipath = index(path, i)
		}
		if sels[i], err = d.selector(item, ipath); err != nil {
			return "", err
		}
	}
	return sim.Not(sels...), nil
}

// node reads a node name, such as a command's to.
func (d *decoder) node(n *yaml.Node, path string) (sim.Selector, error) {
	s, err := d.scalar(n, path, "a node name such as n3")
	if err != nil {
		return "", err
	}
	sel := sim.Selector(s.Value)
	return sel, d.checked(s, path, sim.ValidateNode(sel, d.nodes))
}

// list checks that n is a list of at most ItemsMax items.
func (d *decoder) list(n *yaml.Node, path string) ([]*yaml.Node, error) {
	n = deref(n)
	if n.Kind != yaml.SequenceNode {
		return nil, d.errorf(n.Line, path, "want a list, got %s", describe(n))
	}
	if len(n.Content) > ItemsMax {
		return nil, d.errorf(n.Line, path, "%d items, more than the %d allowed", len(n.Content), ItemsMax)
	}
	return n.Content, nil
}

// plan reads the top-level mapping.
func (d *decoder) plan(root *yaml.Node) (*sim.Plan, error) {
	f, err := d.mapping(root, "", planFields)
	if err != nil {
		return nil, err
	}
	p := &sim.Plan{Network: defaultNetwork}
	steps := []func(*fields, *sim.Plan) error{
		d.header, d.target, d.policy, d.network, d.workload, d.faults, d.commands, d.expect,
	}
	for _, step := range steps {
		if err := step(f, p); err != nil {
			return nil, err
		}
	}
	if err := p.Validate(); err != nil {
		var short *sim.ShortRunError
		if errors.As(err, &short) {
			return nil, d.short(f, short)
		}
		return nil, d.invalid(f, p, err)
	}
	return p, nil
}

// short reports a run too short to judge at the line of the field that
// asks for the time: duration for the leader monitor, which always runs, or
// the expectation's own field.
func (d *decoder) short(top *fields, e *sim.ShortRunError) *Error {
	line := top.key("duration").Line
	if n := fieldNode(top.node, e.Field); n != nil {
		line = n.Line
	}
	msg := e.Error()
	if e.Field != "duration" {
		msg += ": lengthen duration or shorten " + e.Field
	}
	return &Error{File: d.file, Line: line, Field: e.Field, Msg: msg, Err: e}
}

// fieldNode is the key node of a dotted field path ("expect.converge.within")
// in a document of checked mappings, or nil.
func fieldNode(n *yaml.Node, path string) *yaml.Node {
	var key *yaml.Node
	for name := range strings.SplitSeq(path, ".") {
		n = deref(n)
		if n == nil || n.Kind != yaml.MappingNode {
			return nil
		}
		key = nil
		for i := 0; i+1 < len(n.Content); i += 2 {
			if k := deref(n.Content[i]); k.Value == name {
				key, n = k, n.Content[i+1]
				break
			}
		}
		if key == nil {
			return nil
		}
	}
	return key
}

// header reads name, description, nodes, control_plane and duration.
func (d *decoder) header(f *fields, p *sim.Plan) error {
	n, err := d.req(f, "name")
	if err != nil {
		return err
	}
	if p.Name, err = d.text(n, "name", "a name"); err != nil {
		return err
	}
	if !nameRE.MatchString(p.Name) || len(p.Name) > NameBytesMax {
		return d.errorf(n.Line, "name", "bad name %q: want 1 to %d of a-z, 0-9 and -", p.Name, NameBytesMax)
	}
	if n := f.opt("description"); n != nil {
		if p.Description, err = d.text(n, "description", "text"); err != nil {
			return err
		}
	}
	if n, err = d.req(f, "nodes"); err != nil {
		return err
	}
	if p.Nodes, err = d.integer(n, "nodes", 1, sim.NodesMax); err != nil {
		return err
	}
	d.nodes = p.Nodes
	if n, err = d.req(f, "control_plane"); err != nil {
		return err
	}
	if p.ControlPlane, err = d.integer(n, "control_plane", 1, p.Nodes); err != nil {
		return err
	}
	if n := f.opt("outside"); n != nil {
		if p.Outside, err = d.integer(n, "outside", 0, p.Nodes-p.ControlPlane); err != nil {
			return err
		}
	}
	if n, err = d.req(f, "duration"); err != nil {
		return err
	}
	if p.Duration, err = d.duration(n, "duration"); err != nil {
		return err
	}
	if p.Duration == 0 || p.Duration > sim.DurationMax {
		return d.errorf(n.Line, "duration", "%v out of range (0, %v]", p.Duration, sim.DurationMax)
	}
	d.end = p.Duration
	return nil
}

// explicitTarget is the sim.Plan.Target of a target given as counts.
const explicitTarget = "explicit"

// target reads the topology target: a built-in strategy's name, or a
// mapping of explicit counts, which the mesh must be able to meet.
func (d *decoder) target(top *fields, p *sim.Plan) error {
	n := top.opt("target")
	if n == nil {
		return nil
	}
	v := deref(n)
	if v.Kind == yaml.MappingNode {
		return d.explicit(top, v, p)
	}
	name, err := d.text(n, "target", "a topology strategy or {voters: N}")
	if err != nil {
		return err
	}
	if name == explicitTarget {
		return d.errorf(v.Line, "target", "an explicit target is given by its counts: write target: {voters: N}")
	}
	s, err := topology.ByName(name)
	if err != nil {
		return &Error{File: d.file, Line: v.Line, Field: "target", Msg: err.Error() + ", or {voters: N}", Err: err}
	}
	p.Target = s.Name()
	return nil
}

// explicit reads an explicit target, {voters: N}, and checks it against the
// mesh size with topology.Validate, so that a target the mesh can never meet
// (more voters than nodes, an even count) is refused before any run.
func (d *decoder) explicit(top *fields, n *yaml.Node, p *sim.Plan) error {
	f, err := d.mapping(n, "target", targetFields)
	if err != nil {
		return err
	}
	v, err := d.req(f, "voters")
	if err != nil {
		return err
	}
	voters, err := d.integer(v, "target.voters", 1, sim.NodesMax)
	if err != nil {
		return err
	}
	t := topology.Target{Voters: voters, ControlPlane: voters}
	if err := topology.Validate(t, p.Nodes, false); err != nil {
		msg := fmt.Sprintf("a mesh of %d nodes cannot meet %d voters: %v", p.Nodes, voters, err)
		return &Error{File: d.file, Line: top.key("target").Line, Field: "target", Msg: msg, Err: err}
	}
	p.Target, p.TargetVoters = explicitTarget, voters
	return nil
}

// policy reads the policy's knobs; a field left out takes the policy's
// default, and a field given must be positive.
func (d *decoder) policy(top *fields, p *sim.Plan) error {
	f, err := d.section(top, "policy", policyFields)
	if f == nil {
		return err
	}
	k := &p.Policy
	durations := []*time.Duration{&k.AuditEvery, &k.Grace, &k.Damper, &k.Stabilize} // in the order of policyFields
	for i, dst := range durations {
		key := policyFields[i]
		v := f.opt(key)
		if v == nil {
			continue
		}
		if *dst, err = d.duration(v, join("policy", key)); err != nil {
			return err
		}
		if *dst == 0 || *dst > sim.DurationMax {
			return d.errorf(deref(v).Line, join("policy", key), "%v out of range (0, %v]; leave the field out for the default", *dst, sim.DurationMax)
		}
	}
	if v := f.opt("phi_threshold"); v != nil {
		if k.PhiThreshold, err = d.positive(v, "policy.phi_threshold", "threshold", PhiThresholdMax); err != nil {
			return err
		}
	}
	return nil
}

func (d *decoder) network(top *fields, p *sim.Plan) error {
	f, err := d.section(top, "network", networkFields)
	if f == nil {
		return err
	}
	nw := &p.Network
	if n := f.opt("latency"); n != nil {
		if err := d.latency(n, "network.latency", &nw.LatencyMin, &nw.LatencyMax, &nw.Distribution); err != nil {
			return err
		}
	}
	if err := optional(f, "loss", "network.loss", d.rate, &nw.Loss); err != nil {
		return err
	}
	if err := optional(f, "duplicate", "network.duplicate", d.rate, &nw.Duplicate); err != nil {
		return err
	}
	if err := d.pipe(f, "network", &nw.Bandwidth, &nw.Queue); err != nil {
		return err
	}
	nw.Links, err = listOf(d, f, "links", func(n *yaml.Node, path string) (sim.Link, error) {
		return d.link(n, join("network", path), p.Network, d.node)
	})
	if err == nil && len(nw.Links) > sim.LinksMax {
		return d.errorf(deref(f.vals["links"]).Line, "network.links", "%d links, more than %d", len(nw.Links), sim.LinksMax)
	}
	return err
}

// latency reads {min, max, distribution} into the fields given, which hold
// the defaults for what the mapping leaves out.
func (d *decoder) latency(n *yaml.Node, path string, lo, hi *time.Duration, dist *sim.Distribution) error {
	lat, err := d.mapping(n, path, latencyFields)
	if err != nil {
		return err
	}
	if err := optional(lat, "min", join(path, "min"), d.duration, lo); err != nil {
		return err
	}
	if err := optional(lat, "max", join(path, "max"), d.duration, hi); err != nil {
		return err
	}
	if *lo > *hi {
		return d.errorf(lat.node.Line, path, "min %v is more than max %v", *lo, *hi)
	}
	if v := lat.opt("distribution"); v != nil {
		*dist, err = oneOf(d, v, join(path, "distribution"), "distribution", distributions, "")
	}
	return err
}

// pipe reads a mapping's bandwidth and queue; a queue left out holds one
// second of the bandwidth.
func (d *decoder) pipe(f *fields, path string, bandwidth, queue *int64) error {
	if err := optional(f, "bandwidth", join(path, "bandwidth"), d.bandwidth, bandwidth); err != nil {
		return err
	}
	if n := f.opt("queue"); n != nil {
		if *bandwidth == 0 {
			return d.errorf(f.key("queue").Line, join(path, "queue"), "a queue needs a bandwidth")
		}
		v, err := d.bytes(n, join(path, "queue"), sim.QueueMax)
		if err != nil {
			return err
		}
		*queue = v
	} else {
		*queue = min(*bandwidth, sim.QueueMax)
	}
	return nil
}

// byteUnits are the units a size may be written in, largest first within
// each family.
var byteUnits = []struct {
	name string
	size int64
}{{"GB", 1e9}, {"MB", 1e6}, {"KB", 1e3}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"B", 1}}

// bytesRE is a size: an integer and a unit.
var bytesRE = regexp.MustCompile(`^([0-9]+)(B|KB|MB|GB|KiB|MiB|GiB)$`)

// bytes reads a size such as 64KB or 1MiB, in 0..hi bytes.
func (d *decoder) bytes(n *yaml.Node, path string, hi int64) (int64, error) {
	const want = "a size such as 64KB or 1MiB (B, KB, MB, GB, KiB, MiB or GiB)"
	s, err := d.scalar(n, path, want)
	if err != nil {
		return 0, err
	}
	v, ok := parseBytes(s.Value)
	if !ok {
		return 0, d.errorf(s.Line, path, "bad size %q: want %s", s.Value, want)
	}
	if v > hi {
		return 0, d.errorf(s.Line, path, "%s is more than %d bytes", s.Value, hi)
	}
	return v, nil
}

// parseBytes reads a size; false for bad syntax or a size beyond int64.
func parseBytes(s string) (int64, bool) {
	m := bytesRE.FindStringSubmatch(s)
	if m == nil {
		return 0, false
	}
	v, err := strconv.ParseInt(m[1], 10, 64)
	if err != nil {
		return 0, false
	}
	for _, u := range byteUnits {
		if u.name == m[2] {
			if v > math.MaxInt64/u.size {
				return 0, false
			}
			return v * u.size, true
		}
	}
	return 0, false
}

// bandwidth reads bytes per second, such as 10MB/s, in (0, sim.BandwidthMax].
func (d *decoder) bandwidth(n *yaml.Node, path string) (int64, error) {
	const want = "bytes per second such as 10MB/s"
	s, err := d.scalar(n, path, want)
	if err != nil {
		return 0, err
	}
	size, ok := strings.CutSuffix(s.Value, "/s")
	v, good := parseBytes(size)
	switch {
	case !ok || !good:
		return 0, d.errorf(s.Line, path, "bad bandwidth %q: want %s", s.Value, want)
	case v == 0:
		return 0, d.errorf(s.Line, path, "bandwidth %s is not positive: leave it out for no limit", s.Value)
	case v > sim.BandwidthMax:
		return 0, d.errorf(s.Line, path, "bandwidth %s is more than %d bytes per second", s.Value, int64(sim.BandwidthMax))
	}
	return v, nil
}

// link reads a link: {from, to, one_way, latency, loss, bandwidth, queue}.
// Latency fields left out take the network's; end reads each selector of
// its ends (node names only in the network's links).
func (d *decoder) link(n *yaml.Node, path string, base sim.Network, end func(*yaml.Node, string) (sim.Selector, error)) (sim.Link, error) {
	l := sim.Link{LatencyMin: base.LatencyMin, LatencyMax: base.LatencyMax, Distribution: base.Distribution}
	f, err := d.mapping(n, path, linkFields)
	if err != nil {
		return l, err
	}
	v, err := d.req(f, "from")
	if err != nil {
		return l, err
	}
	if l.From, err = d.ends(v, join(path, "from"), end); err != nil {
		return l, err
	}
	if v := f.opt("to"); v != nil {
		if l.To, err = d.ends(v, join(path, "to"), end); err != nil {
			return l, err
		}
	}
	if err := optional(f, "one_way", join(path, "one_way"), d.boolean, &l.OneWay); err != nil {
		return l, err
	}
	if v := f.opt("latency"); v != nil {
		if err := d.latency(v, join(path, "latency"), &l.LatencyMin, &l.LatencyMax, &l.Distribution); err != nil {
			return l, err
		}
	}
	if err := optional(f, "loss", join(path, "loss"), d.rate, &l.Loss); err != nil {
		return l, err
	}
	return l, d.pipe(f, path, &l.Bandwidth, &l.Queue)
}

// ends reads one end of a link: a selector, or a non-empty list of them,
// each read by end.
func (d *decoder) ends(n *yaml.Node, path string, end func(*yaml.Node, string) (sim.Selector, error)) ([]sim.Selector, error) {
	v := deref(n)
	if v.Kind != yaml.SequenceNode {
		sel, err := end(n, path)
		return []sim.Selector{sel}, err
	}
	items, err := d.list(v, path)
	if err != nil {
		return nil, err
	}
	if len(items) == 0 {
		return nil, d.errorf(v.Line, path, "empty list: want at least one node")
	}
	sels := make([]sim.Selector, len(items))
	for i, item := range items {
		if sels[i], err = end(item, index(path, i)); err != nil {
			return nil, err
		}
	}
	return sels, nil
}

// section reads the optional top-level mapping key with its known fields:
// nil fields and a nil error when it is absent.
func (d *decoder) section(top *fields, key string, known []string) (*fields, error) {
	n := top.opt(key)
	if n == nil {
		return nil, nil
	}
	return d.mapping(n, key, known)
}

// optional parses f's key into dst when it is present; absent, dst keeps
// its default.
func optional[T any](f *fields, key, path string, parse func(*yaml.Node, string) (T, error), dst *T) error {
	n := f.opt(key)
	if n == nil {
		return nil
	}
	v, err := parse(n, path)
	if err != nil {
		return err
	}
	*dst = v
	return nil
}

func (d *decoder) workload(top *fields, p *sim.Plan) error {
	f, err := d.section(top, "workload", workloadFields)
	if f == nil {
		return err
	}
	w := &sim.Workload{Mix: defaultMix}
	if n := f.opt("script"); n != nil {
		if w.Script, err = d.script(n, "workload.script"); err != nil {
			return err
		}
		w.Mix = sim.Mix{}
	} else if err := d.randomClients(f, w); err != nil {
		return err
	}
	n, err := d.req(f, "face")
	if err != nil {
		return err
	}
	if w.Face, err = d.text(n, "workload.face", "a face"); err != nil {
		return err
	}
	if !slices.Contains(faces, w.Face) {
		return d.errorf(deref(n).Line, "workload.face", "unknown face %q (want one of %s)", w.Face, strings.Join(faces, ", "))
	}
	if n := f.opt("mix"); n != nil {
		if w.Mix, err = d.mix(n, "workload.mix"); err != nil {
			return err
		}
	}
	if n := f.opt("cas"); n != nil {
		if w.CAS, err = d.share(n, "workload.cas"); err != nil {
			return err
		}
	}
	if n := f.opt("local"); n != nil {
		if w.Local, err = d.share(n, "workload.local"); err != nil {
			return err
		}
	}
	if err := optional(f, "resume", "workload.resume", d.share, &w.Resume); err != nil {
		return err
	}
	retain := func(n *yaml.Node, path string) (int, error) { return d.integer(n, path, 0, store.HistoryMax) }
	if err := optional(f, "retain", "workload.retain", retain, &w.Retain); err != nil {
		return err
	}
	if n := f.opt("pacing"); n != nil {
		pacing, err := d.text(n, "workload.pacing", "start or end")
		switch {
		case err != nil:
			return err
		case len(w.Script) > 0:
			return d.errorf(deref(n).Line, "workload.pacing", "goes with random clients, not a script")
		case pacing != "start" && pacing != "end":
			return d.errorf(deref(n).Line, "workload.pacing", "unknown pacing %q (want start or end)", pacing)
		}
		w.PaceFromEnd = pacing == "end"
	}
	p.Workload = w
	return nil
}

// randomClients reads the required fields of a random workload.
func (d *decoder) randomClients(f *fields, w *sim.Workload) error {
	n, err := d.req(f, "clients")
	if err != nil {
		return err
	}
	if w.Clients, err = d.integer(n, "workload.clients", 1, sim.ClientsMax); err != nil {
		return err
	}
	if n, err = d.req(f, "rate"); err != nil {
		return err
	}
	if w.Rate, err = d.opsRate(n, "workload.rate"); err != nil {
		return err
	}
	if n, err = d.req(f, "keys"); err != nil {
		return err
	}
	if w.Keys, err = d.integer(n, "workload.keys", 1, sim.KeysMax); err != nil {
		return err
	}
	if least := sim.KeysFor(w.Clients); w.Keys < least {
		return d.errorf(n.Line, "workload.keys", "%d too few for %d clients: at most %d clients write one key, so at least %d", w.Keys, w.Clients, sim.ClientsPerKeyMax, least)
	}
	return nil
}

// script reads a workload's scripted operations.
func (d *decoder) script(n *yaml.Node, path string) ([]sim.ScriptOp, error) {
	items, err := d.list(n, path)
	if err != nil {
		return nil, err
	}
	out := make([]sim.ScriptOp, 0, len(items))
	for i, item := range items {
		op, err := d.scriptOp(item, index(path, i))
		if err != nil {
			return nil, err
		}
		out = append(out, op)
	}
	if len(out) == 0 {
		return nil, d.errorf(deref(n).Line, path, "an empty script: leave the workload out instead")
	}
	return out, nil
}

func (d *decoder) scriptOp(n *yaml.Node, path string) (sim.ScriptOp, error) {
	var op sim.ScriptOp
	f, err := d.mapping(n, path, scriptFields)
	if err != nil {
		return op, err
	}
	if op.At, err = d.at(f); err != nil {
		return op, err
	}
	v, err := d.req(f, "verb")
	if err != nil {
		return op, err
	}
	if op.Verb, err = d.text(v, join(path, "verb"), "a verb"); err != nil {
		return op, err
	}
	if !slices.Contains(verbs, op.Verb) {
		return op, d.errorf(deref(v).Line, join(path, "verb"), "unknown verb %q (want one of %s)", op.Verb, strings.Join(verbs, ", "))
	}
	client := func(n *yaml.Node, path string) (int, error) { return d.integer(n, path, 0, sim.ClientsMax-1) }
	back := func(n *yaml.Node, path string) (int, error) { return d.integer(n, path, 0, sim.ResumeBackMax) }
	key := func(n *yaml.Node, path string) (string, error) { return d.text(n, path, "a resource name") }
	op.Node = "random"
	for _, err := range []error{
		optional(f, "client", join(path, "client"), client, &op.Client),
		optional(f, "node", join(path, "node"), d.selector, &op.Node),
		optional(f, "key", join(path, "key"), key, &op.Key),
		optional(f, "cas", join(path, "cas"), d.boolean, &op.CAS),
		optional(f, "local", join(path, "local"), d.boolean, &op.Local),
		optional(f, "back", join(path, "back"), back, &op.Back),
	} {
		if err != nil {
			return op, err
		}
	}
	if op.Key == "" && op.Verb != "list" && op.Verb != "watch" {
		return op, d.errorf(f.node.Line, join(path, "key"), "%s needs a key", op.Verb)
	}
	return op, nil
}

// mix reads the verb weights of a workload: integers in 0..WeightMax, not
// all zero; a verb left out weighs zero.
func (d *decoder) mix(n *yaml.Node, path string) (sim.Mix, error) {
	var m sim.Mix
	f, err := d.mapping(n, path, mixFields)
	if err != nil {
		return m, err
	}
	weights := []*int{&m.Apply, &m.Get, &m.List, &m.Delete, &m.Watch} // in the order of mixFields
	for i, key := range mixFields {
		if v := f.opt(key); v != nil {
			if *weights[i], err = d.integer(v, join(path, key), 0, WeightMax); err != nil {
				return m, err
			}
		}
	}
	if m == (sim.Mix{}) {
		return m, d.errorf(f.node.Line, path, "every weight is zero: want at least one positive (of %s)", strings.Join(mixFields, ", "))
	}
	return m, nil
}

func (d *decoder) faults(top *fields, p *sim.Plan) (err error) {
	d.base = p.Network
	p.Faults, err = listOf(d, top, "faults", d.fault)
	return err
}

// listOf reads the optional top-level list key, each item with parse.
func listOf[T any](d *decoder, top *fields, key string, parse func(*yaml.Node, string) (T, error)) ([]T, error) {
	n := top.opt(key)
	if n == nil {
		return nil, nil
	}
	items, err := d.list(n, key)
	if err != nil {
		return nil, err
	}
	var out []T
	for i, item := range items {
		v, err := parse(item, index(key, i))
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

// undoable lists the fault kinds that `for` can undo; needsFor those that
// must have it.
var (
	undoable = []sim.FaultKind{sim.Crash, sim.Pause, sim.Partition, sim.Loss, sim.Duplicate, sim.Chaos, sim.ClockSkew,
		sim.LinkFault, sim.Clog, sim.Swizzle, sim.Ring, sim.Disk, sim.Poison}
	needsFor = []sim.FaultKind{sim.Chaos, sim.Clog, sim.Swizzle}
)

// faultOnly lists the fields other than at and for that only some fault
// kinds take.
var faultOnly = []struct {
	field string
	kinds []sim.FaultKind
}{
	{"rate", []sim.FaultKind{sim.ClockSkew, sim.Disk}},
	{"jitter", []sim.FaultKind{sim.ClockSkew}},
	{"jump", []sim.FaultKind{sim.ClockSkew}},
	{"one_way", []sim.FaultKind{sim.Partition}},
	{"bridge", []sim.FaultKind{sim.Partition}},
	{"traffic", []sim.FaultKind{sim.Partition, sim.Ring}},
	{"mode", []sim.FaultKind{sim.Disk}},
}

func (d *decoder) fault(n *yaml.Node, path string) (sim.Fault, error) {
	var ft sim.Fault
	f, err := d.mapping(n, path, faultFields)
	if err != nil {
		return ft, err
	}
	kind, err := d.oneKind(f, "fault", kindNames(faultKinds))
	if err != nil {
		return ft, err
	}
	ft.Kind = sim.FaultKind(kind)
	if ft.At, err = d.at(f); err != nil {
		return ft, err
	}
	for _, only := range faultOnly {
		if v := f.opt(only.field); v != nil && !slices.Contains(only.kinds, ft.Kind) {
			return ft, d.errorf(deref(v).Line, join(path, only.field), "only valid with %s, not %s", strings.Join(kindNames(only.kinds), " and "), kind)
		}
	}
	if err := d.faultBody(f, &ft); err != nil {
		return ft, err
	}
	if n := f.opt("for"); n != nil {
		if !slices.Contains(undoable, ft.Kind) {
			return ft, d.errorf(deref(n).Line, join(path, "for"), "not valid with %s (want it only with %s)", kind, strings.Join(kindNames(undoable), ", "))
		}
		if ft.For, err = d.duration(n, join(path, "for")); err != nil {
			return ft, err
		}
		if ft.Kind == sim.Disk && (ft.Mode == sim.DiskCorrupt || ft.Mode == sim.DiskTamper) {
			return ft, d.errorf(deref(n).Line, join(path, "for"), "not valid with mode %s: altered blocks stay altered", ft.Mode)
		}
	}
	if slices.Contains(needsFor, ft.Kind) && ft.For == 0 {
		return ft, d.errorf(f.node.Line, join(path, "for"), "%s needs a positive for: how long it lasts", kind)
	}
	if n := f.opt("one_way"); n != nil {
		if ft.OneWay, err = d.boolean(n, join(path, "one_way")); err != nil {
			return ft, err
		}
	}
	return ft, nil
}

// faultBody reads a fault's kind key and the fields that go with the kind.
func (d *decoder) faultBody(f *fields, ft *sim.Fault) error {
	var err error
	kind := string(ft.Kind)
	v, kpath := f.vals[kind], join(f.path, kind)
	switch ft.Kind {
	case sim.Crash, sim.Restart, sim.Pause, sim.Resume, sim.Clog, sim.Poison:
		ft.Target, err = d.faultTarget(v, kpath)
	case sim.Partition:
		if ft.Groups, err = d.groups(v, kpath); err != nil {
			return err
		}
		if n := f.opt("bridge"); n != nil {
			if ft.Bridge, err = d.selector(n, join(f.path, "bridge")); err != nil {
				return err
			}
		}
		return d.traffic(f, ft)
	case sim.Heal:
		err = d.yes(v, kpath, "heal: false does nothing; leave the fault out")
	case sim.Loss, sim.Duplicate, sim.Chaos:
		ft.Rate, err = d.rate(v, kpath)
	case sim.ClockSkew:
		if ft.Target, err = d.faultTarget(v, kpath); err != nil {
			return err
		}
		return d.clock(f, ft)
	case sim.LinkFault:
		var l sim.Link
		if l, err = d.link(v, kpath, d.base, d.faultTarget); err == nil {
			ft.Link = &l
		}
	case sim.Swizzle:
		if deref(v).ShortTag() == "!!bool" {
			return d.yes(v, kpath, "swizzle: false does nothing; leave the fault out")
		}
		ft.Target, err = d.faultTarget(v, kpath)
	case sim.Ring:
		if ft.Groups, err = d.ring(v, kpath); err != nil {
			return err
		}
		return d.traffic(f, ft)
	case sim.Disk:
		if ft.Target, err = d.faultTarget(v, kpath); err != nil {
			return err
		}
		return d.disk(f, ft)
	}
	return err
}

// yes reads a boolean that must be true; why says what false would mean.
func (d *decoder) yes(n *yaml.Node, path, why string) error {
	ok, err := d.boolean(n, path)
	if err == nil && !ok {
		err = d.errorf(deref(n).Line, path, "want true (%s)", why)
	}
	return err
}

// traffic reads a partition's or a ring's traffic class, if it has one.
func (d *decoder) traffic(f *fields, ft *sim.Fault) error {
	n := f.opt("traffic")
	if n == nil {
		return nil
	}
	var err error
	ft.Traffic, err = oneOf(d, n, join(f.path, "traffic"), "traffic", traffics, "; leave it out for all")
	return err
}

// oneOf reads a name that must be one of names; noun names it in errors,
// and hint ends the list of names they give.
func oneOf[T ~string](d *decoder, n *yaml.Node, path, noun string, names []T, hint string) (T, error) {
	s, err := d.text(n, path, "a "+noun)
	if err != nil {
		return "", err
	}
	if !slices.Contains(names, T(s)) {
		return "", d.errorf(deref(n).Line, path, "unknown %s %q (want one of %s%s)", noun, s, strings.Join(kindNames(names), ", "), hint)
	}
	return T(s), nil
}

// ring reads a ring: true (a random order of every node), or a list of at
// least two node names, each once.
func (d *decoder) ring(n *yaml.Node, path string) ([][]sim.Selector, error) {
	v := deref(n)
	if v.Kind != yaml.SequenceNode {
		return nil, d.yes(v, path, "or a list of node names: ring: false does nothing; leave the fault out")
	}
	items, err := d.list(v, path)
	if err != nil {
		return nil, err
	}
	if len(items) < 2 {
		return nil, d.errorf(v.Line, path, "a ring of %d nodes: want at least two", len(items))
	}
	ring := make([]sim.Selector, len(items))
	for i, item := range items {
		if ring[i], err = d.node(item, index(path, i)); err != nil {
			return nil, err
		}
		if slices.Contains(ring[:i], ring[i]) {
			return nil, d.errorf(deref(item).Line, index(path, i), "%s appears twice in the ring", ring[i])
		}
	}
	return [][]sim.Selector{ring}, nil
}

// clock reads a clock fault's rate, jitter and jump: at least one.
func (d *decoder) clock(f *fields, ft *sim.Fault) error {
	var err error
	if n := f.opt("rate"); n != nil {
		if ft.Rate, err = d.positive(n, join(f.path, "rate"), "rate", ClockRateMax); err != nil {
			return err
		}
	}
	if n := f.opt("jitter"); n != nil {
		if ft.Jitter, err = d.positive(n, join(f.path, "jitter"), "jitter", sim.JitterMax); err != nil {
			return err
		}
	}
	if n := f.opt("jump"); n != nil {
		if ft.Jump, err = d.jump(n, join(f.path, "jump")); err != nil {
			return err
		}
	}
	if ft.Rate == 0 && ft.Jitter == 0 && ft.Jump == 0 {
		line := f.node.Line
		if _, ok := f.vals["rate"]; ok {
			line = f.key("rate").Line
		}
		return d.errorf(line, join(f.path, "rate"), "clock needs a rate (the speed of the node's clock, such as 1.05 for 5%% fast), a jitter or a jump")
	}
	return nil
}

// jump reads a clock jump: a non-zero duration, negative to step back,
// within sim.ClockJumpMax either way.
func (d *decoder) jump(n *yaml.Node, path string) (time.Duration, error) {
	s, err := d.scalar(n, path, "a duration such as 30s or -5m")
	if err != nil {
		return 0, err
	}
	v, err := time.ParseDuration(s.Value)
	if err != nil {
		return 0, &Error{File: d.file, Line: s.Line, Field: path, Msg: fmt.Sprintf("bad duration %q: %v", s.Value, err), Err: err}
	}
	switch {
	case v == 0:
		return 0, d.errorf(s.Line, path, "a jump of zero does nothing; leave it out")
	case v < -sim.ClockJumpMax || v > sim.ClockJumpMax:
		return 0, d.errorf(s.Line, path, "%v is beyond ±%v", v, sim.ClockJumpMax)
	}
	return v, nil
}

// disk reads a disk fault's mode and, for read-errors, its rate.
func (d *decoder) disk(f *fields, ft *sim.Fault) error {
	n, err := d.req(f, "mode")
	if err != nil {
		return err
	}
	if ft.Mode, err = oneOf(d, n, join(f.path, "mode"), "disk mode", diskModes, ""); err != nil {
		return err
	}
	rate := f.opt("rate")
	switch {
	case ft.Mode != sim.DiskReadErrors && rate != nil:
		return d.errorf(deref(rate).Line, join(f.path, "rate"), "only valid with mode read-errors, not %s", ft.Mode)
	case ft.Mode == sim.DiskReadErrors && rate == nil:
		return d.errorf(f.node.Line, join(f.path, "rate"), "read-errors needs a rate: the chance that a read fails")
	case rate != nil:
		ft.Rate, err = d.positive(rate, join(f.path, "rate"), "rate", 1)
	}
	return err
}

// groups reads a partition: a selector or {not: ...} (one group), a flat
// list of selectors (one group), or a list of groups, each a list of
// selectors or {not: ...}. At most one group is a not.
func (d *decoder) groups(n *yaml.Node, path string) ([][]sim.Selector, error) {
	const want = "a selector, {not: [selectors]}, a list of selectors or a list of groups"
	n = deref(n)
	var groups [][]sim.Selector
	switch {
	case n.Kind == yaml.ScalarNode && !isNull(n), n.Kind == yaml.MappingNode:
		sel, err := d.faultTarget(n, path)
		if err != nil {
			return nil, err
		}
		return [][]sim.Selector{{sel}}, nil
	case n.Kind != yaml.SequenceNode:
		return nil, d.errorf(n.Line, path, "want %s, got %s", want, describe(n))
	case len(n.Content) == 0:
		return nil, d.errorf(n.Line, path, "empty partition: want %s", want)
	case deref(n.Content[0]).Kind == yaml.SequenceNode, deref(n.Content[0]).Kind == yaml.MappingNode:
		for i, g := range n.Content {
			group, err := d.listedGroup(g, index(path, i))
			if err != nil {
				return nil, err
			}
			groups = append(groups, group)
		}
	default:
		group, err := d.group(n, path)
		if err != nil {
			return nil, err
		}
		groups = append(groups, group)
	}
	return groups, d.disjoint(n, path, groups)
}

// listedGroup reads one group of a list of groups: a list of selectors or
// {not: ...}.
func (d *decoder) listedGroup(g *yaml.Node, path string) ([]sim.Selector, error) {
	g = deref(g)
	switch g.Kind {
	case yaml.SequenceNode:
		return d.group(g, path)
	case yaml.MappingNode:
		sel, err := d.not(g, path)
		return []sim.Selector{sel}, err
	}
	return nil, d.errorf(g.Line, path, "want a group (a list of selectors, or {not: [selectors]}), got %s; do not mix groups and selectors", describe(g))
}

// group reads one non-empty list of selectors.
func (d *decoder) group(n *yaml.Node, path string) ([]sim.Selector, error) {
	if len(n.Content) == 0 {
		return nil, d.errorf(n.Line, path, "empty group: want at least one selector")
	}
	group := make([]sim.Selector, 0, len(n.Content))
	for i, s := range n.Content {
		if deref(s).Kind == yaml.MappingNode {
			return nil, d.errorf(deref(s).Line, index(path, i), "a not is a group of its own, not a member of one: write [[...], {not: [...]}]")
		}
		sel, err := d.selector(s, index(path, i))
		if err != nil {
			return nil, err
		}
		group = append(group, sel)
	}
	return group, nil
}

// disjoint checks that no named node appears twice in a partition, that at
// most one group is a not, and that the not lists every named node another
// group holds (else that node would be in both).
func (d *decoder) disjoint(n *yaml.Node, path string, groups [][]sim.Selector) error {
	seen := map[sim.Selector]bool{}
	var named []sim.Selector // in order
	var not []sim.Selector
	nots := 0
	for _, g := range groups {
		for _, sel := range g {
			if sels, ok := sel.Negated(); ok {
				not, nots = sels, nots+1
				continue
			}
			if !isNamed(sel) {
				continue
			}
			if seen[sel] {
				return d.errorf(n.Line, path, "%s appears more than once", sel)
			}
			seen[sel] = true
			named = append(named, sel)
		}
	}
	if nots > 1 {
		return d.errorf(n.Line, path, "%d not groups: a partition holds at most one", nots)
	}
	for _, sel := range named {
		if nots == 1 && !slices.Contains(not, sel) {
			return d.errorf(n.Line, path, "%s is in a group and, not listed in the not, in the not group too: list it in the not", sel)
		}
	}
	return nil
}

// isNamed reports whether a selector always names the same node at a given
// moment (nN or leader), so that two mentions of it conflict.
func isNamed(sel sim.Selector) bool {
	_, node := sel.Node()
	return sel == "leader" || node
}

func (d *decoder) commands(top *fields, p *sim.Plan) (err error) {
	p.Commands, err = listOf(d, top, "commands", d.command)
	return err
}

// command reads one item of the commands list: a single command, or a shift
// of several submitted together. The shift's first command becomes the
// sim.Command and the rest its With.
func (d *decoder) command(n *yaml.Node, path string) (sim.Command, error) {
	f, err := d.mapping(n, path, commandFields)
	if err != nil {
		return sim.Command{}, err
	}
	kind, err := d.oneKind(f, "command", append(kindNames(commandKinds), "shift"))
	if err != nil {
		return sim.Command{}, err
	}
	at, err := d.at(f)
	if err != nil {
		return sim.Command{}, err
	}
	if kind != "shift" {
		c, err := d.commandBody(f, kind)
		if err != nil {
			return c, err
		}
		c.At = at
		c.To, err = d.to(f)
		return c, err
	}
	for _, key := range []string{"roles", "reason"} {
		if f.opt(key) != nil {
			return sim.Command{}, d.errorf(f.key(key).Line, join(path, key), "not valid beside shift: give it to each command of the shift")
		}
	}
	cmds, err := d.shift(f.vals["shift"], join(path, "shift"))
	if err != nil {
		return sim.Command{}, err
	}
	c, with := cmds[0], cmds[1:]
	c.At = at
	if len(with) > 0 {
		c.With = with
	}
	c.To, err = d.to(f)
	return c, err
}

// to reads a command's optional to: the node its client submits to.
func (d *decoder) to(f *fields) (sim.Selector, error) {
	if n := f.opt("to"); n != nil {
		return d.node(n, join(f.path, "to"))
	}
	return "", nil
}

// shift reads the list of a shift: 1 to roles.ShiftCommandsMax commands
// without `at`, none of them a shift.
func (d *decoder) shift(n *yaml.Node, path string) ([]sim.Command, error) {
	want := fmt.Sprintf("a list of 1 to %d commands", roles.ShiftCommandsMax)
	n = deref(n)
	switch {
	case isNull(n):
		return nil, d.errorf(n.Line, path, "missing value: want %s", want)
	case n.Kind != yaml.SequenceNode:
		return nil, d.errorf(n.Line, path, "want %s, got %s", want, describe(n))
	case len(n.Content) == 0:
		return nil, d.errorf(n.Line, path, "empty shift: want %s", want)
	case len(n.Content) > roles.ShiftCommandsMax:
		return nil, d.errorf(n.Line, path, "%d commands, more than the %d a shift takes", len(n.Content), roles.ShiftCommandsMax)
	}
	cmds := make([]sim.Command, 0, len(n.Content))
	for i, item := range n.Content {
		ipath := index(path, i)
		f, err := d.mapping(item, ipath, commandFields)
		if err != nil {
			return nil, err
		}
		if f.opt("shift") != nil {
			return nil, d.errorf(f.key("shift").Line, join(ipath, "shift"), "nested shift: a shift's commands cannot be shifts")
		}
		if f.opt("at") != nil {
			return nil, d.errorf(f.key("at").Line, join(ipath, "at"), "not valid inside a shift: its commands are all submitted at the shift's at")
		}
		if f.opt("to") != nil {
			return nil, d.errorf(f.key("to").Line, join(ipath, "to"), "not valid inside a shift: its commands are all submitted to the shift's to")
		}
		kind, err := d.oneKind(f, "command", kindNames(commandKinds))
		if err != nil {
			return nil, err
		}
		c, err := d.commandBody(f, kind)
		if err != nil {
			return nil, err
		}
		cmds = append(cmds, c)
	}
	return cmds, nil
}

// commandBody reads what a command holds besides `at`: its kind key's
// selector, roles and reason.
func (d *decoder) commandBody(f *fields, kind string) (sim.Command, error) {
	c := sim.Command{Reason: roles.Operator}
	c.Kind = commandKinds[slices.Index(kindNames(commandKinds), kind)]
	var err error
	if c.Target, err = d.selector(f.vals[kind], join(f.path, kind)); err != nil {
		return c, err
	}
	if n := f.opt("roles"); n != nil {
		if c.Roles, err = d.roles(n, join(f.path, "roles"), c.Kind); err != nil {
			return c, err
		}
	}
	if n := f.opt("reason"); n != nil {
		s, err := d.text(n, join(f.path, "reason"), "a reason")
		if err != nil {
			return c, err
		}
		if c.Reason, err = roles.ParseReason(s); err != nil {
			return c, &Error{File: d.file, Line: deref(n).Line, Field: join(f.path, "reason"), Msg: err.Error(), Err: err}
		}
	}
	return c, nil
}

// roles reads the control-plane roles a promote or demote names.
func (d *decoder) roles(n *yaml.Node, path string, kind roles.Kind) (roles.Roles, error) {
	line := deref(n).Line
	if kind != roles.Promote && kind != roles.Demote {
		return 0, d.errorf(line, path, "only valid with promote and demote, not %s", kind)
	}
	s, err := d.text(n, path, "comma-separated role names")
	if err != nil {
		return 0, err
	}
	r, err := roles.ParseRoles(s)
	if err != nil {
		return 0, &Error{File: d.file, Line: line, Field: path, Msg: err.Error(), Err: err}
	}
	if !roles.ControlPlane.Has(r) {
		return 0, d.errorf(line, path, "%s: want control-plane roles only (api-server, etcd, scheduler, controller-manager or control-plane)", r&^roles.ControlPlane)
	}
	return r, nil
}

func (d *decoder) expect(top *fields, p *sim.Plan) error {
	f, err := d.section(top, "expect", expectFields)
	if f == nil {
		return err
	}
	if n := f.opt("converge"); n != nil {
		if p.Expect.Converge, err = d.converge(n, "expect.converge", p); err != nil {
			return err
		}
	}
	if n := f.opt("liveness"); n != nil {
		if err := d.liveness(n, "expect.liveness", p); err != nil {
			return err
		}
	}
	if n := f.opt("commands_complete"); n != nil {
		if p.Expect.CommandsComplete, err = d.boolean(n, "expect.commands_complete"); err != nil {
			return err
		}
	}
	if n := f.opt("progress"); n != nil {
		if p.Workload == nil {
			return d.errorf(f.key("progress").Line, "expect.progress", "only valid with a workload: it is a share of the workload's operations")
		}
		if p.Expect.Progress, err = d.share(n, "expect.progress"); err != nil {
			return err
		}
	}
	return nil
}

// converge reads {within: <duration>, control_plane: <count>}.
func (d *decoder) converge(n *yaml.Node, path string, p *sim.Plan) (*sim.Converge, error) {
	cf, err := d.mapping(n, path, convergeFields)
	if err != nil {
		return nil, err
	}
	c := &sim.Converge{}
	if n, err = d.req(cf, "within"); err != nil {
		return nil, err
	}
	if c.Within, err = d.duration(n, join(path, "within")); err != nil {
		return nil, err
	}
	if c.Within == 0 {
		return nil, d.errorf(deref(n).Line, join(path, "within"), "want a positive duration")
	}
	if n, err = d.req(cf, "control_plane"); err != nil {
		return nil, err
	}
	if c.ControlPlane, err = d.integer(n, join(path, "control_plane"), 1, p.Nodes); err != nil {
		return nil, err
	}
	return c, nil
}

// liveness reads the liveness monitors:
//
//	liveness: {leader: 10, shape: {within: 30s, control_plane: 3}, membership: 12, synced: 20s}
func (d *decoder) liveness(n *yaml.Node, path string, p *sim.Plan) error {
	f, err := d.mapping(n, path, livenessFields)
	if err != nil {
		return err
	}
	l := &p.Expect.Liveness
	timeouts := func(n *yaml.Node, path string) (int, error) { return d.integer(n, path, 1, sim.LeaderTimeoutsMax) }
	if err := optional(f, "leader", join(path, "leader"), timeouts, &l.Leader); err != nil {
		return err
	}
	if n := f.opt("shape"); n != nil {
		if l.Shape, err = d.converge(n, join(path, "shape"), p); err != nil {
			return err
		}
	}
	if n := f.opt("membership"); n != nil {
		if p.Target == "" {
			return d.errorf(f.key("membership").Line, join(path, "membership"), "needs gossip: set a target")
		}
		if l.Membership, err = d.integer(n, join(path, "membership"), 1, sim.MembershipRoundsMax); err != nil {
			return err
		}
	}
	if n := f.opt("synced"); n != nil {
		if p.Target == "" {
			return d.errorf(f.key("synced").Line, join(path, "synced"), "needs gossip: set a target")
		}
		if l.Synced, err = d.duration(n, join(path, "synced")); err != nil {
			return err
		}
		if l.Synced <= 0 {
			return d.errorf(n.Line, join(path, "synced"), "must be positive")
		}
	}
	return nil
}

// invalid reports an error from sim.Plan.Validate, which the checks above
// should have caught first, at the line of the target, workload, fault or
// command it concerns: the one that, alone with the header, fails.
func (d *decoder) invalid(top *fields, p *sim.Plan, err error) *Error {
	e := &Error{File: d.file, Line: top.node.Line, Msg: err.Error(), Err: err}
	header := *p
	header.Workload, header.Faults, header.Commands = nil, nil, nil
	if header.Validate() != nil {
		bare := header
		bare.Target, bare.TargetVoters = "", 0
		if p.Target != "" && bare.Validate() == nil {
			e.Field = "target"
			e.Line = top.key("target").Line
		}
		return e
	}
	if p.Workload != nil {
		one := header
		one.Workload = p.Workload
		if one.Validate() != nil {
			e.Field = "workload"
			e.Line = deref(top.vals["workload"]).Line
			return e
		}
	}
	for i, ft := range p.Faults {
		one := header
		one.Faults = []sim.Fault{ft}
		if one.Validate() != nil {
			e.Field = index("faults", i)
			e.Line = itemLine(top.vals["faults"], i)
			return e
		}
	}
	for i, c := range p.Commands {
		one := header
		one.Commands = []sim.Command{c}
		if one.Validate() != nil {
			e.Field = index("commands", i)
			e.Line = itemLine(top.vals["commands"], i)
			return e
		}
	}
	return e
}

// itemLine is the line of a list's i-th item.
func itemLine(list *yaml.Node, i int) int {
	if list == nil {
		return 0
	}
	list = deref(list)
	if i >= len(list.Content) {
		return list.Line
	}
	return deref(list.Content[i]).Line
}

package scenarios

import (
	"bytes"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"revoada.dev/revoada/core/roles"
	"revoada.dev/revoada/core/topology"
	"revoada.dev/revoada/sim"
)

// Marshal writes p as a scenario file, in the field order of the format and
// with faults and commands one per line (a command with With as a shift, one
// line per command of it), such that Parse reads it back as the same plan. A
// zero command Reason is left out and so reads back as operator, and the At
// of a command in With, which the simulator ignores, is left out and reads
// back as zero; a workload's rate is written per second ("50/s"), with every
// field of its mix; a strategy target is written by its canonical name
// ("quorum_3m" as quorum-3m); policy knobs that are zero, the defaults, are
// left out; every other field is written as it is.
//
// Marshal parses what it wrote and compares (the write half of a pair
// assertion whose read half is Parse), so it fails rather than write a file
// that means something else: for a plan that does not pass
// sim.Plan.Validate or Parse's stricter checks, and for values the format
// cannot say, such as a Rate on a crash or For on a restart.
func Marshal(p *sim.Plan) ([]byte, error) {
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("scenarios: marshal %q: %w", p.Name, err)
	}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(planNode(p)); err != nil {
		return nil, fmt.Errorf("scenarios: marshal %q: %w", p.Name, err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("scenarios: marshal %q: %w", p.Name, err)
	}
	back, err := Parse(p.Name+".yaml", buf.Bytes())
	if err != nil {
		return nil, fmt.Errorf("scenarios: marshal %q: the plan cannot be written as a scenario file: %w", p.Name, err)
	}
	if what := difference(normal(p), back); what != "" {
		return nil, fmt.Errorf("scenarios: marshal %q: the plan cannot be written as a scenario file: %s would read back differently", p.Name, what)
	}
	return buf.Bytes(), nil
}

// normal is p as Parse would give it: nil for no faults, commands, With,
// links, a link's To or a ring's order, operator for a zero reason, zero for the At of a command in With, and a
// strategy by its canonical name ("quorum_3m" is "quorum-3m").
func normal(p *sim.Plan) *sim.Plan {
	q := *p
	q.Target = canonicalTarget(p.Target)
	q.Network.Links = nil
	for _, l := range p.Network.Links {
		q.Network.Links = append(q.Network.Links, normalLink(l))
	}
	q.Faults = nil
	for _, f := range p.Faults {
		if f.Link != nil {
			l := normalLink(*f.Link)
			f.Link = &l
		}
		if f.Kind == sim.Ring && len(f.Groups) == 0 {
			f.Groups = nil
		}
		q.Faults = append(q.Faults, f)
	}
	if w := p.Workload; w != nil && len(w.Script) > 0 {
		q.Workload = &sim.Workload{Face: w.Face, Retain: w.Retain, Script: w.Script}
	}
	q.Commands = nil
	for _, c := range p.Commands {
		q.Commands = append(q.Commands, normalCommand(c))
	}
	return &q
}

// normalLink is a link with no To as nil, as Parse gives it.
func normalLink(l sim.Link) sim.Link {
	if len(l.To) == 0 {
		l.To = nil
	}
	return l
}

func normalCommand(c sim.Command) sim.Command {
	if c.Reason == 0 {
		c.Reason = roles.Operator
	}
	with := c.With
	c.With = nil
	for _, w := range with {
		w = normalCommand(w)
		w.At = 0
		c.With = append(c.With, w)
	}
	return c
}

// canonicalTarget is a strategy's canonical name, or target itself when it
// names no strategy.
func canonicalTarget(target string) string {
	if s, err := topology.ByName(target); err == nil {
		return s.Name()
	}
	return target
}

// difference names the first part of two plans that differs, or is empty.
func difference(p, q *sim.Plan) string {
	if !reflect.DeepEqual(p.Workload, q.Workload) {
		return "the workload"
	}
	for i := range min(len(p.Faults), len(q.Faults)) {
		if !reflect.DeepEqual(p.Faults[i], q.Faults[i]) {
			return fmt.Sprintf("fault %d", i)
		}
	}
	for i := range min(len(p.Commands), len(q.Commands)) {
		if !reflect.DeepEqual(p.Commands[i], q.Commands[i]) {
			return fmt.Sprintf("command %d", i)
		}
	}
	if !reflect.DeepEqual(p, q) {
		return "the plan"
	}
	return ""
}

func planNode(p *sim.Plan) *yaml.Node {
	m := newMap(0)
	m.add("name", text(p.Name))
	if p.Description != "" {
		m.add("description", text(p.Description))
	}
	m.add("nodes", integer(p.Nodes))
	m.add("control_plane", integer(p.ControlPlane))
	if p.Outside > 0 {
		m.add("outside", integer(p.Outside))
	}
	m.add("duration", duration(p.Duration))
	switch p.Target {
	case "":
	case explicitTarget:
		t := newMap(yaml.FlowStyle)
		t.add("voters", integer(p.TargetVoters))
		m.add("target", t.Node)
	default:
		m.add("target", text(canonicalTarget(p.Target)))
	}
	if pol := policyNode(p.Policy); len(pol.Content) > 0 {
		m.add("policy", pol)
	}
	m.add("network", networkNode(p.Network))
	if p.Workload != nil {
		m.add("workload", workloadNode(p.Workload))
	}
	if len(p.Faults) > 0 {
		list := &yaml.Node{Kind: yaml.SequenceNode}
		for _, f := range p.Faults {
			list.Content = append(list.Content, faultNode(f))
		}
		m.add("faults", list)
	}
	if len(p.Commands) > 0 {
		list := &yaml.Node{Kind: yaml.SequenceNode}
		for _, c := range p.Commands {
			list.Content = append(list.Content, commandNode(c))
		}
		m.add("commands", list)
	}
	if e := expectNode(p.Expect); len(e.Content) > 0 {
		m.add("expect", e)
	}
	return m.Node
}

// networkNode writes the network on one line, or, when it has links, one
// field per line and a line per link:
//
//	network: {latency: {min: 1ms, max: 10ms}, loss: 0, duplicate: 0}
//	network:
//	  latency: {min: 1ms, max: 10ms, distribution: pareto}
//	  loss: 0
//	  duplicate: 0
//	  bandwidth: 10MB/s
//	  queue: 10MB
//	  links:
//	    - {from: [n1], to: [n2], latency: {min: 50ms, max: 80ms}, loss: 0.1}
func networkNode(nw sim.Network) *yaml.Node {
	style := yaml.FlowStyle
	if len(nw.Links) > 0 {
		style = 0
	}
	m := newMap(style)
	m.add("latency", latencyNode(nw.LatencyMin, nw.LatencyMax, nw.Distribution))
	m.add("loss", number(nw.Loss))
	m.add("duplicate", number(nw.Duplicate))
	addPipe(m, nw.Bandwidth, nw.Queue)
	if len(nw.Links) > 0 {
		list := &yaml.Node{Kind: yaml.SequenceNode}
		for _, l := range nw.Links {
			list.Content = append(list.Content, linkNode(l))
		}
		m.add("links", list)
	}
	return m.Node
}

func latencyNode(lo, hi time.Duration, d sim.Distribution) *yaml.Node {
	lat := newMap(yaml.FlowStyle)
	lat.add("min", duration(lo))
	lat.add("max", duration(hi))
	if d != "" {
		lat.add("distribution", text(string(d)))
	}
	return lat.Node
}

// addPipe adds a bandwidth and its queue, if there is a bandwidth.
func addPipe(m mapNode, bandwidth, queue int64) {
	if bandwidth > 0 {
		m.add("bandwidth", text(bytesText(bandwidth)+"/s"))
		m.add("queue", text(bytesText(queue)))
	}
}

// bytesText writes a size in the largest unit it is a whole number of.
func bytesText(n int64) string {
	for _, u := range byteUnits {
		if n != 0 && n%u.size == 0 {
			return strconv.FormatInt(n/u.size, 10) + u.name
		}
	}
	return "0B"
}

// linkNode writes a link on one line, every field of it.
func linkNode(l sim.Link) *yaml.Node {
	m := newMap(yaml.FlowStyle)
	m.add("from", selectorsNode(l.From))
	if len(l.To) > 0 {
		m.add("to", selectorsNode(l.To))
	}
	if l.OneWay {
		m.add("one_way", boolean(true))
	}
	m.add("latency", latencyNode(l.LatencyMin, l.LatencyMax, l.Distribution))
	m.add("loss", number(l.Loss))
	addPipe(m, l.Bandwidth, l.Queue)
	return m.Node
}

// selectorsNode writes a list of selectors.
func selectorsNode(sels []sim.Selector) *yaml.Node {
	list := &yaml.Node{Kind: yaml.SequenceNode, Style: yaml.FlowStyle}
	for _, s := range sels {
		list.Content = append(list.Content, selectorNode(s))
	}
	return list
}

// workloadNode writes a workload one field per line, its mix on one:
//
//	workload:
//	  clients: 4
//	  rate: 50/s
//	  keys: 20
//	  face: kubernetes
//	  mix: {apply: 5, get: 3, list: 1, delete: 1, watch: 0}
//	  cas: 0.3
//	  local: 0
func workloadNode(w *sim.Workload) *yaml.Node {
	m := newMap(0)
	if len(w.Script) > 0 {
		m.add("face", text(w.Face))
		addRetain(m, w)
		script := &yaml.Node{Kind: yaml.SequenceNode}
		for _, op := range w.Script {
			script.Content = append(script.Content, scriptNode(op))
		}
		m.add("script", script)
		return m.Node
	}
	m.add("clients", integer(w.Clients))
	// 'f' keeps the exponent out, which the rate syntax has no room for;
	// precision -1 is the shortest text that reads back as the same float.
	m.add("rate", text(strconv.FormatFloat(w.Rate, 'f', -1, 64)+"/s"))
	m.add("keys", integer(w.Keys))
	m.add("face", text(w.Face))
	mix := newMap(yaml.FlowStyle)
	for i, weight := range []int{w.Mix.Apply, w.Mix.Get, w.Mix.List, w.Mix.Delete, w.Mix.Watch} {
		mix.add(mixFields[i], integer(weight))
	}
	m.add("mix", mix.Node)
	m.add("cas", number(w.CAS))
	m.add("local", number(w.Local))
	if w.Resume > 0 {
		m.add("resume", number(w.Resume))
	}
	addRetain(m, w)
	if w.PaceFromEnd {
		m.add("pacing", text("end"))
	}
	return m.Node
}

func addRetain(m mapNode, w *sim.Workload) {
	if w.Retain > 0 {
		m.add("retain", integer(w.Retain))
	}
}

// scriptNode writes one scripted operation on one line, leaving out the
// fields at their defaults:
//
//   - {at: 1.5s, client: 2, node: n3, verb: apply, key: key-4, cas: true}
func scriptNode(op sim.ScriptOp) *yaml.Node {
	m := newMap(yaml.FlowStyle)
	m.add("at", duration(op.At))
	if op.Client != 0 {
		m.add("client", integer(op.Client))
	}
	if op.Node != "random" {
		m.add("node", text(string(op.Node)))
	}
	m.add("verb", text(op.Verb))
	if op.Key != "" {
		m.add("key", text(op.Key))
	}
	for _, b := range []struct {
		key string
		on  bool
	}{{"cas", op.CAS}, {"local", op.Local}} {
		if b.on {
			m.add(b.key, boolean(true))
		}
	}
	if op.Back > 0 {
		m.add("back", integer(op.Back))
	}
	return m.Node
}

func faultNode(f sim.Fault) *yaml.Node {
	m := newMap(yaml.FlowStyle)
	m.add("at", duration(f.At))
	switch f.Kind {
	case sim.Partition:
		groups := &yaml.Node{Kind: yaml.SequenceNode, Style: yaml.FlowStyle}
		for _, g := range f.Groups {
			if len(g) == 1 && isNot(g[0]) {
				groups.Content = append(groups.Content, selectorNode(g[0]))
				continue
			}
			groups.Content = append(groups.Content, selectorsNode(g))
		}
		m.add(string(f.Kind), groups)
	case sim.Heal:
		m.add(string(f.Kind), boolean(true))
	case sim.Loss, sim.Duplicate, sim.Chaos:
		m.add(string(f.Kind), number(f.Rate))
	case sim.ClockSkew:
		m.add(string(f.Kind), selectorNode(f.Target))
		if f.Rate != 0 {
			m.add("rate", number(f.Rate))
		}
		if f.Jitter != 0 {
			m.add("jitter", number(f.Jitter))
		}
		if f.Jump != 0 {
			m.add("jump", duration(f.Jump))
		}
	case sim.LinkFault:
		if f.Link != nil {
			m.add(string(f.Kind), linkNode(*f.Link))
		}
	case sim.Swizzle:
		if f.Target == "" {
			m.add(string(f.Kind), boolean(true))
		} else {
			m.add(string(f.Kind), selectorNode(f.Target))
		}
	case sim.Ring:
		if len(f.Groups) == 0 {
			m.add(string(f.Kind), boolean(true))
		} else {
			m.add(string(f.Kind), selectorsNode(f.Groups[0]))
		}
	case sim.Disk:
		m.add(string(f.Kind), selectorNode(f.Target))
		m.add("mode", text(string(f.Mode)))
		if f.Rate != 0 {
			m.add("rate", number(f.Rate))
		}
	default:
		m.add(string(f.Kind), selectorNode(f.Target))
	}
	if f.Bridge != "" {
		m.add("bridge", text(string(f.Bridge)))
	}
	if f.Traffic != "" {
		m.add("traffic", text(string(f.Traffic)))
	}
	if f.For != 0 {
		m.add("for", duration(f.For))
	}
	if f.OneWay {
		m.add("one_way", boolean(true))
	}
	return m.Node
}

// selectorNode writes a selector: its text, or a not as {not: [leader, n2]}.
func selectorNode(s sim.Selector) *yaml.Node {
	sels, ok := s.Negated()
	if !ok {
		return text(string(s))
	}
	list := &yaml.Node{Kind: yaml.SequenceNode, Style: yaml.FlowStyle}
	for _, in := range sels {
		list.Content = append(list.Content, text(string(in)))
	}
	m := newMap(yaml.FlowStyle)
	m.add("not", list)
	return m.Node
}

func isNot(s sim.Selector) bool {
	_, ok := s.Negated()
	return ok
}

// policyNode writes the policy's knobs on one line, leaving out those that
// are zero (the defaults):
//
//	policy: {audit_every: 1s, grace: 3s, damper: 1m0s, stabilize: 5s, phi_threshold: 8}
func policyNode(k sim.PolicyKnobs) *yaml.Node {
	m := newMap(yaml.FlowStyle)
	for i, d := range []time.Duration{k.AuditEvery, k.Grace, k.Damper, k.Stabilize} { // in the order of policyFields
		if d != 0 {
			m.add(policyFields[i], duration(d))
		}
	}
	if k.PhiThreshold != 0 {
		m.add("phi_threshold", number(k.PhiThreshold))
	}
	return m.Node
}

// commandNode writes a command on one line, or, when it has With, as a
// shift with one line per command:
//
//	commands:
//	  - {at: 10s, promote: n4, to: n2}
//	  - at: 40s
//	    to: n3
//	    shift:
//	      - {demote: n1, reason: rebalance}
//	      - {demote: n2, reason: rebalance}
func commandNode(c sim.Command) *yaml.Node {
	if len(c.With) == 0 {
		m := newMap(yaml.FlowStyle)
		m.add("at", duration(c.At))
		addCommand(m, c)
		addTo(m, c)
		return m.Node
	}
	list := &yaml.Node{Kind: yaml.SequenceNode}
	for _, w := range append([]sim.Command{c}, c.With...) {
		item := newMap(yaml.FlowStyle)
		addCommand(item, w)
		list.Content = append(list.Content, item.Node)
	}
	m := newMap(0)
	m.add("at", duration(c.At))
	addTo(m, c)
	m.add("shift", list)
	return m.Node
}

// addTo adds a command's To, if it has one.
func addTo(m mapNode, c sim.Command) {
	if c.To != "" {
		m.add("to", text(string(c.To)))
	}
}

// addCommand adds a command's fields other than At, To and With to m.
func addCommand(m mapNode, c sim.Command) {
	m.add(c.Kind.String(), text(string(c.Target)))
	switch c.Roles {
	case 0:
	case roles.ControlPlane:
		m.add("roles", text("control-plane"))
	default:
		m.add("roles", text(c.Roles.String()))
	}
	if c.Reason != 0 {
		m.add("reason", text(c.Reason.String()))
	}
}

func expectNode(e sim.Expect) *yaml.Node {
	m := newMap(0)
	if c := e.Converge; c != nil {
		m.add("converge", convergeNode(c))
	}
	if e.CommandsComplete {
		m.add("commands_complete", boolean(true))
	}
	if e.Progress != 0 {
		m.add("progress", number(e.Progress))
	}
	if l := e.Liveness; l != (sim.Liveness{}) {
		live := newMap(yaml.FlowStyle)
		if l.Leader != 0 {
			live.add("leader", integer(l.Leader))
		}
		if c := l.Shape; c != nil {
			live.add("shape", convergeNode(c))
		}
		if l.Membership != 0 {
			live.add("membership", integer(l.Membership))
		}
		if l.Synced != 0 {
			live.add("synced", duration(l.Synced))
		}
		m.add("liveness", live.Node)
	}
	return m.Node
}

func convergeNode(c *sim.Converge) *yaml.Node {
	m := newMap(yaml.FlowStyle)
	m.add("within", duration(c.Within))
	m.add("control_plane", integer(c.ControlPlane))
	return m.Node
}

// mapNode builds a mapping node in order.
type mapNode struct{ *yaml.Node }

func newMap(style yaml.Style) mapNode {
	return mapNode{&yaml.Node{Kind: yaml.MappingNode, Style: style}}
}

func (m mapNode) add(key string, v *yaml.Node) {
	m.Content = append(m.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: key}, v)
}

// text is a string; the encoder quotes it if it would read as another type.
// A string holding a line break is double-quoted, its breaks escaped:
// yaml.v3 writes some such strings as block scalars that read back
// differently (a leading line break is lost, a tab after a break is read as
// indentation).
func text(s string) *yaml.Node {
	n := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s}
	if strings.ContainsAny(s, lineBreaks) {
		n.Style = yaml.DoubleQuotedStyle
	}
	return n
}

// lineBreaks are the characters yaml.v3 reads as line breaks.
const lineBreaks = "\n\r\u0085\u2028\u2029"

// plain is a scalar written as it is; the callers give text that YAML reads
// as the type they mean.
func plain(s string) *yaml.Node { return &yaml.Node{Kind: yaml.ScalarNode, Value: s} }

func integer(i int) *yaml.Node            { return plain(strconv.Itoa(i)) }
func number(x float64) *yaml.Node         { return plain(strconv.FormatFloat(x, 'g', -1, 64)) }
func boolean(b bool) *yaml.Node           { return plain(strconv.FormatBool(b)) }
func duration(d time.Duration) *yaml.Node { return text(d.String()) }

package checkers

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/anishathalye/porcupine"

	"revoada.dev/revoada/core/store"
)

// Options tune a linearizability check.
type Options struct {
	// Timeout bounds the search, in wall time; 0 means none. A check that
	// runs out of time concludes nothing (ResultUnknown), which is not a pass.
	Timeout time.Duration
	// Marks annotate the visualisation: faults, crashes, leader changes.
	Marks []Mark
}

// Result is what a linearizability check concluded.
type Result string

// The results of a check.
const (
	ResultOK      Result = "ok"      // a linearization exists
	ResultIllegal Result = "illegal" // no linearization exists
	ResultUnknown Result = "unknown" // the search ran out of time: no conclusion
)

// resultOf maps porcupine's answer to a Result.
func resultOf(r porcupine.CheckResult) Result {
	switch r {
	case porcupine.Ok:
		return ResultOK
	case porcupine.Illegal:
		return ResultIllegal
	}
	return ResultUnknown
}

// ErrNoHistory is WriteVisualization's error for a Verdict no check made.
var ErrNoHistory = errors.New("checkers: the verdict holds no checked history")

// Verdict is a linearizability check's conclusion.
type Verdict struct {
	Result  Result
	Illegal []string // the partitions (resource keys, or "roles") with no linearization, sorted
	// Detail is one line naming the first illegal partition, the operation
	// that fits no linearization and the longest linearizable prefix before
	// it; or why the check concluded nothing. Empty when OK.
	Detail string

	Ops       int // operations checked
	Ambiguous int // of which writes with unknown outcome
	Dropped   int // operations left out: unknown-outcome, local, refused-as-invalid reads and writes, lists and watches
	Parts     int // partitions checked (keys)

	model   porcupine.Model
	history []porcupine.Operation
	opts    Options
	culprit *porcupine.Operation
}

// OK reports whether the check found a linearization. An unknown result is
// not OK: the checker failed to conclude.
func (v Verdict) OK() bool { return v.Result == ResultOK }

// String is a one-line summary.
func (v Verdict) String() string {
	s := fmt.Sprintf("%s: %d operations (%d ambiguous, %d dropped) over %d partitions", v.Result, v.Ops, v.Ambiguous, v.Dropped, v.Parts)
	if v.Detail != "" {
		s += ": " + v.Detail
	}
	return s
}

// Linearizable checks the history's gets, applies and deletes for
// linearizability against the store's sequential specification, one
// resource key at a time (keys are independent in the store; the global
// revision counter that couples them is checked by Revisions).
//
// Each answer is checked with the revision it carries: an acknowledged
// write's revision exceeds the key's previous one, a get returns the value
// and ModRevision the key holds, not-found and conflict answers only where
// the key is absent or the precondition fails. Writes with unknown outcome
// may take effect at any time after their invocation, or never (see
// storemodel.go for how the search is kept small). Reads with unknown
// outcome, local reads (stale by contract), invalid and unsupported
// requests, lists and watches are left out.
//
// Linearizable runs porcupine on one goroutine per key; the history is not
// modified.
func Linearizable(history []Op, opts Options) Verdict {
	ops, v := storeOperations(history)
	v.opts = opts
	v.model = storeModel()
	v.history = ops
	return v.check()
}

// check runs the search, and on a violation finds every illegal partition
// and describes the first.
func (v Verdict) check() Verdict {
	deadline := time.Now().Add(v.opts.Timeout)
	v.Result = resultOf(porcupine.CheckOperationsTimeout(v.model, v.history, v.opts.Timeout))
	switch v.Result {
	case ResultUnknown:
		v.Detail = fmt.Sprintf("no conclusion within %v", v.opts.Timeout)
		return v
	case ResultOK:
		return v
	}
	single := v.model
	single.Partition = nil
	parts := [][]porcupine.Operation{v.history}
	if v.model.Partition != nil {
		parts = v.model.Partition(v.history)
	}
	for _, part := range parts {
		timeout := v.remaining(deadline)
		if timeout < 0 {
			v.Detail = fmt.Sprintf("a violation, but no time left within %v to find it", v.opts.Timeout)
			return v
		}
		if porcupine.CheckOperationsTimeout(single, part, timeout) != porcupine.Illegal {
			continue
		}
		name := partitionName(part)
		v.Illegal = append(v.Illegal, name)
		if v.Detail == "" {
			v.Detail, v.culprit = describeViolation(single, part, v.remaining(deadline))
			v.Detail = name + ": " + v.Detail
		}
	}
	slices.Sort(v.Illegal)
	if len(v.Illegal) == 0 {
		v.Detail = fmt.Sprintf("a violation, but no single partition showed it again within %v", v.opts.Timeout)
	}
	return v
}

// remaining is the time left to the deadline: 0 (no limit) without a
// timeout, negative once it passed.
func (v Verdict) remaining(deadline time.Time) time.Duration {
	if v.opts.Timeout == 0 {
		return 0
	}
	if left := time.Until(deadline); left > 0 {
		return left
	}
	return -1
}

// describeViolation names the operation that fits no linearization of an
// illegal partition: of the operations outside porcupine's longest
// linearizable prefix, the one that returned first (it cannot be put off any
// longer), with the prefix's last operation and the state it leaves.
func describeViolation(model porcupine.Model, part []porcupine.Operation, timeout time.Duration) (string, *porcupine.Operation) {
	_, info := porcupine.CheckOperationsVerbose(model, part, timeout)
	var longest []int
	for _, p := range info.PartialLinearizations() {
		for _, seq := range p {
			if len(seq) > len(longest) {
				longest = seq
			}
		}
	}
	in := make([]bool, len(part))
	state := model.Init()
	for _, id := range longest {
		in[id] = true
		_, state = model.Step(state, part[id].Input, part[id].Output)
	}
	culprit := -1
	for i, op := range part {
		if !in[i] && (culprit < 0 || op.Return < part[culprit].Return) {
			culprit = i
		}
	}
	if culprit < 0 {
		return "porcupine found no linearization but reported no operation outside it", nil
	}
	op := part[culprit]
	total, done := 0, 0
	for i, o := range part {
		if c, ok := o.Input.(*storeCall); !ok || c.verb != verbClose {
			total++
			if in[i] {
				done++
			}
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s (%v..%v) fits no linearization", describeOp(model, op), time.Duration(op.Call), time.Duration(op.Return))
	if len(longest) == 0 {
		fmt.Fprintf(&b, " of %d operations; from the initial state %s", total, describeState(model, state))
	} else {
		last := part[longest[len(longest)-1]]
		fmt.Fprintf(&b, " after the longest linearizable prefix (%d of %d operations, ending with %s at %v..%v), which leaves %s",
			done, total, describeOp(model, last), time.Duration(last.Call), time.Duration(last.Return), describeState(model, state))
	}
	return b.String(), &op
}

func describeOp(model porcupine.Model, op porcupine.Operation) string {
	if model.DescribeOperation == nil {
		return fmt.Sprintf("%v -> %v", op.Input, op.Output)
	}
	return model.DescribeOperation(op.Input, op.Output)
}

func describeState(model porcupine.Model, state any) string {
	if model.DescribeState == nil {
		return fmt.Sprintf("%v", state)
	}
	return model.DescribeState(state)
}

// partitionName names a partition by its first operation's input.
func partitionName(part []porcupine.Operation) string {
	switch in := part[0].Input.(type) {
	case *storeCall:
		return in.key
	case *roleCall:
		return "roles"
	}
	return "?"
}

// storeModel is the porcupine model of the store, partitioned by key.
func storeModel() porcupine.Model {
	return porcupine.Model{
		Partition: partitionByKey,
		Init:      func() any { return keyState{exact: true} },
		Step: func(state, input, output any) (bool, any) {
			s := state.(keyState)
			ok, next := step(s, input.(*storeCall), output.(storeReturn))
			if !ok || next == s {
				return ok, state // no new state, no allocation
			}
			return true, next
		},
		DescribeOperation: func(input, output any) string {
			return input.(*storeCall).describe(output.(storeReturn))
		},
		DescribeState: func(state any) string { return state.(keyState).String() },
		DescribeOperationMetadata: func(info any) string {
			if info == nil {
				return ""
			}
			return fmt.Sprint(info) // the node that answered
		},
	}
}

// partitionByKey groups operations by resource key, in key order.
func partitionByKey(h []porcupine.Operation) [][]porcupine.Operation {
	byKey := map[string][]porcupine.Operation{}
	for _, op := range h {
		k := op.Input.(*storeCall).key
		byKey[k] = append(byKey[k], op)
	}
	out := make([][]porcupine.Operation, 0, len(byKey))
	for _, k := range slices.Sorted(maps.Keys(byKey)) {
		out = append(out, byKey[k])
	}
	return out
}

// storeOperations turns a client history into porcupine operations, with
// the counts of what it kept and dropped. Each key ends with a closing
// operation after every answer and before the (infinite) return of its
// unknown writes.
func storeOperations(history []Op) ([]porcupine.Operation, Verdict) {
	var v Verdict
	closeAt := int64(endOf(history)) + 1
	seen, cl := sightingsOf(history)
	ops := make([]porcupine.Operation, 0, len(history))
	keys := map[string]bool{}
	lane := 0 // the visualisation lane of the closing operations: after every client's
	for i := range history {
		op := &history[i]
		c, r, ret, keep := storeOperation(op, seen, closeAt+1)
		if !keep {
			v.Dropped++
			continue
		}
		c.op, c.claims = i, cl
		if c.known != answered {
			v.Ambiguous++
		}
		keys[c.key] = true
		lane = max(lane, op.Client+1)
		ops = append(ops, porcupine.Operation{
			ClientId: op.Client, Input: c, Output: r, Metadata: op.Node,
			Call: int64(op.Invoke), Return: ret,
		})
	}
	v.Ops, v.Parts = len(ops), len(keys)
	for _, k := range slices.Sorted(maps.Keys(keys)) {
		ops = append(ops, porcupine.Operation{
			ClientId: lane, Input: &storeCall{key: k, verb: verbClose, op: -1, client: lane}, Output: storeReturn{},
			Call: closeAt, Return: closeAt,
		})
	}
	return ops, v
}

// storeOperation converts one operation, or reports false to drop it.
// never is the return of a write that may never take effect.
func storeOperation(op *Op, seen map[string]time.Duration, never int64) (*storeCall, storeReturn, int64, bool) {
	c := &storeCall{key: op.Key, expect: op.Expect, known: answered, client: op.Client, node: op.Node}
	r := storeReturn{outcome: op.Outcome, value: op.Value, rev: op.Revision}
	ret := int64(op.Return)
	switch op.Verb {
	case "get":
		c.verb = verbGet
		if op.Local || op.Unknown() {
			return nil, r, 0, false
		}
	case "apply":
		c.verb, c.value = verbApply, op.Value
		r.value = ""
	case "delete":
		c.verb = verbDelete
		r.value = ""
	default: // list, watch: not this model's
		return nil, r, 0, false
	}
	if op.Outcome == OutcomeInvalid || op.Outcome == OutcomeUnsupported {
		return nil, r, 0, false
	}
	if c.verb == verbGet || !op.Unknown() {
		return c, r, ret, true
	}
	r = storeReturn{outcome: op.Outcome}
	at, saw := seen[op.Value]
	switch {
	case c.verb == verbApply && saw:
		c.known, ret = mayApply, int64(max(at, op.Invoke)) // it took effect by the time it was seen
	case c.verb == verbDelete && c.expect.Set && c.expect.Revision == 0:
		return nil, r, 0, false // "delete if absent": never takes effect
	case !c.expect.Set || c.expect.Revision == 0:
		c.known, ret = ghost, int64(op.Invoke)
	default:
		c.known, ret = mayApply, never
	}
	return c, r, ret, true
}

// sightingsOf gathers what clients saw: when each value was first seen (a
// get's, local get's or list's return, a watch event), and which write each
// revision held (acknowledgements too).
func sightingsOf(history []Op) (map[string]time.Duration, claims) {
	seen := map[string]time.Duration{}
	note := func(value string, at time.Duration) {
		if prev, ok := seen[value]; value != "" && (!ok || at < prev) {
			seen[value] = at
		}
	}
	cl := claims{}
	contested := map[store.Revision]bool{}
	claim := func(rev store.Revision, value string, deleted bool) {
		if deleted {
			value = ""
		}
		c := claim{value: value, deleted: deleted}
		if prev, ok := cl[rev]; ok && prev != c {
			contested[rev] = true
		}
		cl[rev] = c
	}
	for i := range history {
		op := &history[i]
		switch {
		case op.IsWrite() && op.Outcome == OutcomeOK:
			claim(op.Revision, op.Value, op.Verb == "delete")
		case op.Verb == "get" && op.Outcome == OutcomeOK:
			note(op.Value, op.Return)
			claim(op.Revision, op.Value, false)
		case op.Verb == "list" && op.Outcome == OutcomeOK:
			for _, it := range op.Items {
				note(it.Value, op.Return)
				claim(it.Revision, it.Value, false)
			}
		case op.Verb == "watch":
			for _, ev := range op.Events {
				if !ev.Deleted {
					note(ev.Value, ev.At)
				}
				claim(ev.Revision, ev.Value, ev.Deleted)
			}
		}
	}
	for rev := range contested {
		delete(cl, rev)
	}
	return seen, cl
}

// endOf is the latest time in the history, watch events included.
func endOf(history []Op) time.Duration {
	var end time.Duration
	for i := range history {
		end = max(end, history[i].Invoke, history[i].Return)
		for _, ev := range history[i].Events {
			end = max(end, ev.At)
		}
	}
	return end
}

// WriteVisualization writes porcupine's HTML visualisation of the checked
// history: every partition with its (partial) linearizations, the Marks as
// annotations on each node's lane (or the "mesh" lane), and the operation
// that fits no linearization, if any, on a "violation" lane. It reruns the
// search to collect the linearizations, so it takes about as long as the
// check (bounded by the same Timeout).
func (v Verdict) WriteVisualization(w io.Writer) error {
	if v.model.Init == nil {
		return ErrNoHistory
	}
	_, info := porcupine.CheckOperationsVerbose(v.model, v.history, v.opts.Timeout)
	info.AddAnnotations(v.annotations())
	if err := porcupine.Visualize(v.model, info, w); err != nil {
		return fmt.Errorf("checkers: writing the visualisation: %w", err)
	}
	return nil
}

// annotations renders the marks and the violation.
func (v Verdict) annotations() []porcupine.Annotation {
	var end int64
	for _, op := range v.history {
		end = max(end, op.Call, op.Return)
	}
	for _, m := range v.opts.Marks {
		end = max(end, int64(m.At))
	}
	out := markAnnotations(v.opts.Marks, end)
	if c := v.culprit; c != nil {
		out = append(out, porcupine.Annotation{
			Tag: "violation", Start: c.Call, End: c.Return,
			Description: "fits no linearization", Details: v.Detail,
			TextColor: "#ffffff", BackgroundColor: "#c0392b",
		})
	}
	return out
}

// markSpans pairs a mark kind with the kind that ends it on the same lane.
var markSpans = map[string]string{
	MarkCrash: MarkStart, MarkPause: MarkResume, MarkPartition: MarkHeal, MarkState: MarkState, MarkRoles: MarkRoles,
}

// markColors colour annotations by kind.
var markColors = map[string]string{
	MarkStart: "#d5f5e3", MarkCrash: "#f5b7b1", MarkPause: "#fad7a0", MarkResume: "#d5f5e3",
	MarkPartition: "#d7bde2", MarkHeal: "#d5f5e3", MarkState: "#aed6f1", MarkRoles: "#f9e79f",
	MarkShift: "#f9e79f", MarkFault: "#e5e7e9",
}

// markAnnotations turns marks into annotations on each node's lane ("mesh"
// for marks about the whole mesh). A crash lasts until the node's next
// start, a pause until its resume, a partition until the heal, a raft state
// or role set until the next; anything else is a point.
func markAnnotations(marks []Mark, end int64) []porcupine.Annotation {
	sorted := slices.Clone(marks)
	slices.SortStableFunc(sorted, func(a, b Mark) int { return cmp.Compare(a.At, b.At) })
	out := make([]porcupine.Annotation, 0, len(sorted))
	for i, m := range sorted {
		lane := m.Node
		if lane == "" {
			lane = "mesh"
		}
		stop := int64(m.At)
		if until, ok := markSpans[m.Kind]; ok {
			stop = end
			for _, n := range sorted[i+1:] {
				if n.Node == m.Node && n.Kind == until {
					stop = int64(n.At)
					break
				}
			}
		}
		desc := m.Kind
		if m.Detail != "" {
			desc += " " + m.Detail
		}
		if m.Kind == MarkState && !strings.HasPrefix(m.Detail, "leader") {
			continue // followers and candidates would crowd the lane; leaders are what matter
		}
		out = append(out, porcupine.Annotation{
			Tag: lane, Start: int64(m.At), End: stop, Description: desc,
			Details: fmt.Sprintf("%v %s", m.At, desc), BackgroundColor: markColors[m.Kind],
		})
	}
	return out
}

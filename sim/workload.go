package sim

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"revoada.dev/revoada/checkers"
	"revoada.dev/revoada/core/face"
	"revoada.dev/revoada/core/node"
	"revoada.dev/revoada/core/store"
)

// Client timing.
const (
	ClientTimeout = 5 * time.Second // an operation with no answer by then has an unknown outcome
	WatchSpan     = 3 * time.Second // how long one watch operation follows its stream
	clientRetry   = 200 * time.Millisecond
)

// workloadKinds is the resource kind a workload writes through each face.
var workloadKinds = map[string]string{
	"kubernetes": "ConfigMap", "nomad": "NomadJob", "systemd": "service", "pureraft": "Blob", "baremetal": "Pod",
}

// The outcomes an operation can end with; see package checkers.
const (
	OutcomeOK          = checkers.OutcomeOK
	OutcomeNotFound    = checkers.OutcomeNotFound
	OutcomeConflict    = checkers.OutcomeConflict
	OutcomeInvalid     = checkers.OutcomeInvalid
	OutcomeUnsupported = checkers.OutcomeUnsupported
	OutcomeCompacted   = checkers.OutcomeCompacted
	OutcomeTimeout     = checkers.OutcomeTimeout
	OutcomeCrashed     = checkers.OutcomeCrashed
	OutcomeReset       = checkers.OutcomeReset
	OutcomeUnfinished  = checkers.OutcomeUnfinished
	OutcomeError       = checkers.OutcomeError
)

// Op is one client operation as the history records it.
type Op = checkers.Op

// Item is a resource as a list or watch saw it.
type Item = checkers.Item

type client struct {
	node    int // contact node, -1 for none
	cur     *Op
	req     node.RequestID
	serial  uint64 // counts operations, to match timeouts
	seq     int
	lastRev map[string]store.Revision
	queue   []ScriptOp // scripted operations waiting for the client
}

// ClientsPerKeyMax bounds how many clients of a generated workload write one
// key, so that the linearizability check of each key stays fast: with more
// clients, each client keeps to its own share of the keys.
const ClientsPerKeyMax = 8

// startWorkload schedules every client's first operation.
func (s *simulator) startWorkload() {
	w := s.plan.Workload
	if w == nil {
		return
	}
	s.reqClient = map[node.RequestID]int{}
	s.watchers = map[int][]int{}
	if len(w.Script) > 0 {
		for _, op := range w.Script {
			for len(s.clients) <= op.Client {
				s.clients = append(s.clients, &client{node: -1, lastRev: map[string]store.Revision{}})
			}
		}
		for i, op := range w.Script {
			s.push(event{at: op.At, kind: evScript, idx: i})
		}
		return
	}
	for i := range w.Clients {
		s.clients = append(s.clients, &client{node: -1, lastRev: map[string]store.Revision{}})
		s.push(event{at: s.think(i), kind: evClient, idx: i})
	}
}

// scriptStep queues a scripted operation on its client.
func (s *simulator) scriptStep(i int) {
	op := s.plan.Workload.Script[i]
	c := s.clients[op.Client]
	c.queue = append(c.queue, op)
	if c.cur == nil {
		s.clientStep(op.Client)
	}
}

// pickKey draws a key from client ci's share (PickKey).
func (s *simulator) pickKey(ci int) int { return PickKey(s.wlRand, s.plan.Workload, ci) }

// PickKey draws, with one draw of r, a key from client ci's share: key k
// belongs to the share k mod the workload's key groups, and client ci to
// the share ci mod them (at most ClientsPerKeyMax clients write one key).
func PickKey(r *rand.Rand, w *Workload, ci int) int {
	g := min(w.Keys, KeysFor(w.Clients)) // Validate keeps Keys ≥ KeysFor
	share := ci % g
	n := (w.Keys - share + g - 1) / g // keys k < Keys with k mod g == share
	return share + g*r.IntN(n)
}

// think draws the exponential pause between a client's operations' starts,
// with mean Clients/Rate, so that all clients together issue Rate ops/s.
func (s *simulator) think(ci int) time.Duration {
	mean := float64(s.plan.Workload.Clients) / s.plan.Workload.Rate
	d := time.Duration(-math.Log(1-s.wlRand.Float64()) * mean * float64(time.Second))
	s.chose("client/"+strconv.Itoa(ci)+"/think", d)
	return d
}

func (s *simulator) pickVerb() string { return PickVerb(s.wlRand, s.plan.Workload.Mix) }

// PickVerb draws, with one draw of rng, a verb with probability
// proportional to its weight in the mix.
func PickVerb(rng *rand.Rand, m Mix) string {
	r := rng.IntN(m.Apply + m.Get + m.List + m.Delete + m.Watch)
	for _, v := range []struct {
		w    int
		verb string
	}{{m.Apply, "apply"}, {m.Get, "get"}, {m.List, "list"}, {m.Delete, "delete"}} {
		if r < v.w {
			return v.verb
		}
		r -= v.w
	}
	return "watch"
}

// clientStep issues client ci's next operation: its next scripted one, or
// a random one.
func (s *simulator) clientStep(ci int) {
	c := s.clients[ci]
	scripted := len(s.plan.Workload.Script) > 0
	if c.cur != nil || scripted && len(c.queue) == 0 {
		return
	}
	var sop ScriptOp
	if scripted {
		sop, c.queue = c.queue[0], c.queue[1:]
		c.node = s.resolveOne(sop.Node)
	}
	if c.node < 0 || s.nodes[c.node].n == nil {
		c.node = s.randomLive()
		s.chose("client/"+strconv.Itoa(ci)+"/node", s.nameOf(c.node))
		if c.node < 0 {
			if scripted {
				c.queue = append([]ScriptOp{sop}, c.queue...)
			}
			s.push(event{at: s.now + clientRetry, kind: evClient, idx: ci})
			return
		}
	}
	if !scripted {
		sop = s.drawOp(ci)
	}
	sop.At, sop.Client, sop.Node = s.now, ci, Selector(s.nodes[c.node].name)
	s.issued = append(s.issued, sop)
	op := &Op{Client: ci, Node: s.nodes[c.node].name, Verb: sop.Verb, Key: sop.Key, Local: sop.Local, Invoke: s.now}
	c.cur = op
	c.serial++
	s.push(event{at: s.now + ClientTimeout, kind: evClientTimeout, idx: ci, gen: c.serial})
	if w := s.plan.Workload; w.Retain > 0 {
		if rev := s.nodes[c.node].n.Store().Revision(); rev >= store.Revision(w.Retain) {
			s.nodes[c.node].n.CompactHistory(rev + 1 - store.Revision(w.Retain))
		}
	}
	if op.Verb == "watch" {
		s.startWatch(ci, op, sop.Back)
		return
	}
	if sop.CAS {
		op.Expect = store.Expect{Set: true, Revision: c.lastRev[op.Key]}
	}
	var id node.RequestID
	var err error
	s.drive(c.node, func(n *node.Node) {
		id, err = s.issue(n, c, op)
		if err == nil {
			c.req = id
			s.reqClient[id] = ci
		}
	})
	if errors.Is(err, node.ErrNotMember) {
		s.finish(ci, OutcomeError) // refused unsent: the next goes to another node
		c.node = -1
		return
	}
	if err != nil {
		panic(fmt.Sprintf("sim: client %d: %s: %v", ci, op.Verb, err))
	}
}

// drawOp draws a random operation for client ci.
func (s *simulator) drawOp(ci int) ScriptOp {
	w := s.plan.Workload
	op := ScriptOp{Verb: s.pickVerb()}
	who := "client/" + strconv.Itoa(ci) + "/"
	s.chose(who+"verb", op.Verb)
	switch op.Verb {
	case "apply", "delete":
		op.Key = workloadName(w.Face, s.pickKey(ci))
		op.CAS = s.wlRand.Float64() < w.CAS
		s.chose(who+"key", op.Key)
		s.chose(who+"cas", op.CAS)
	case "get":
		op.Key = workloadName(w.Face, s.pickKey(ci))
		op.Local = s.wlRand.Float64() < w.Local
		s.chose(who+"key", op.Key)
		s.chose(who+"local", op.Local)
	case "list":
		op.Local = s.wlRand.Float64() < w.Local
		s.chose(who+"local", op.Local)
	case "watch":
		if w.Resume > 0 && s.wlRand.Float64() < w.Resume {
			op.Back = 1 + s.wlRand.IntN(ResumeBackMax)
		}
		s.chose(who+"back", op.Back)
	}
	return op
}

// WorkloadRef is the resource a workload of the face names by key (an
// Op's Key, as WorkloadKey makes it).
func WorkloadRef(face, key string) store.Ref {
	return store.Ref{Kind: workloadKinds[face], Namespace: workloadNamespace(face), Name: key}
}

// WorkloadKey is the name of a workload's key number k.
func WorkloadKey(face string, k int) string { return workloadName(face, k) }

func (s *simulator) issue(n *node.Node, c *client, op *Op) (node.RequestID, error) {
	w := s.plan.Workload
	ref := WorkloadRef(w.Face, op.Key)
	switch op.Verb {
	case "apply", "delete":
		if op.Verb == "delete" {
			return n.Write(store.Command{Op: store.OpDelete, Ref: ref, Expect: op.Expect})
		}
		c.seq++
		op.Value = WorkloadValue(op.Client, c.seq)
		return n.Write(store.Command{Op: store.OpApply, Resource: workloadResource(w.Face, ref, op.Value), Expect: op.Expect})
	case "get":
		return n.Read(node.Read{Op: node.ReadGet, Ref: ref, Local: op.Local || s.hooks.StaleReads})
	default: // list
		return n.Read(node.Read{Op: node.ReadList, Kind: ref.Kind, Namespace: ref.Namespace, Local: op.Local || s.hooks.StaleReads})
	}
}

// startWatch follows the contact node's store events for WatchSpan: from
// its current revision, or resuming back revisions behind it, replaying the
// history first. A resume from a compacted revision ends at once with
// OutcomeCompacted (or, with the WatchSkipCompacted bug planted, silently
// starts from the oldest revision held).
func (s *simulator) startWatch(ci int, op *Op, back int) {
	c := s.clients[ci]
	st := s.nodes[c.node].n.Store()
	op.Served = st.Revision()
	s.watchers[c.node] = append(s.watchers[c.node], ci)
	if back > 0 {
		from := store.Revision(1) // revisions are unsigned: no going below the first
		if rev := st.Revision(); rev >= store.Revision(back) {
			from = rev + 1 - store.Revision(back)
		}
		op.Served = from - 1
		evs, err := st.Events(from, workloadKinds[s.plan.Workload.Face])
		if errors.Is(err, store.ErrCompacted) && s.hooks.WatchSkipCompacted {
			evs, err = st.Events(st.Compacted(), workloadKinds[s.plan.Workload.Face])
		}
		if err != nil {
			s.cover.Sometimes(CoverWatchCompacted)
			s.finish(ci, outcomeOf(err))
			return
		}
		for _, ev := range evs {
			s.watchEvent(ci, ev)
		}
	}
	s.push(event{at: s.now + WatchSpan, kind: evWatchEnd, idx: ci, gen: c.serial})
}

func (s *simulator) onEvent(i int, ev store.Event) {
	for _, ci := range slices.Clone(s.watchers[i]) {
		s.watchEvent(ci, ev)
	}
}

func (s *simulator) watchEvent(ci int, ev store.Event) {
	if ev.Type == store.Reset {
		s.finish(ci, OutcomeReset)
		return
	}
	op := s.clients[ci].cur
	op.Events = append(op.Events, Item{Name: ev.Resource.Ref.Name, Value: valueOf(ev.Resource.Payload), Revision: ev.Revision, Deleted: ev.Type == store.Deleted, At: s.now})
}

func (s *simulator) watchEnd(ci int, serial uint64) {
	if c := s.clients[ci]; c.serial == serial && c.cur != nil && c.cur.Verb == "watch" {
		s.finish(ci, OutcomeOK)
	}
}

func (s *simulator) clientTimeout(ci int, serial uint64) {
	if c := s.clients[ci]; c.serial == serial && c.cur != nil && c.cur.Verb != "watch" {
		s.cover.Sometimes(CoverClientTimeout)
		s.finish(ci, OutcomeTimeout)
		c.node = -1 // try another node
	}
}

// clientsCrashed ends the operations in flight on a crashed node.
func (s *simulator) clientsCrashed(i int) {
	for ci, c := range s.clients {
		if c.node == i {
			if c.cur != nil {
				s.finish(ci, OutcomeCrashed)
			}
			c.node = -1
		}
	}
}

// clientResult records a node's answer to a client's request.
func (s *simulator) clientResult(ci int, r node.Result) {
	c := s.clients[ci]
	op := c.cur
	if op == nil || c.req != r.ID {
		return // an answer after the client gave up
	}
	outcome := outcomeOf(r.Err)
	switch {
	case outcome != OutcomeOK:
	case op.Verb == "apply" || op.Verb == "delete":
		op.Revision = r.Resource.ModRevision
	case op.Verb == "get":
		op.Value, op.Revision, op.Served = valueOf(r.Resource.Payload), r.Resource.ModRevision, r.Revision
	case op.Verb == "list":
		op.Served = r.Revision
		for _, it := range r.Items {
			op.Items = append(op.Items, Item{Name: it.Ref.Name, Value: valueOf(it.Payload), Revision: it.ModRevision})
		}
	}
	if op.Verb == "get" && outcome == OutcomeNotFound {
		op.Served = r.Revision
	}
	if outcome == OutcomeOK || outcome == OutcomeNotFound {
		s.checkNotLeft(c.node, op)
	}
	switch {
	case outcome == OutcomeOK && op.Verb == "delete":
		delete(c.lastRev, op.Key)
	case outcome == OutcomeOK && op.Key != "":
		c.lastRev[op.Key] = op.Revision
	}
	s.finish(ci, outcome)
}

func (s *simulator) finish(ci int, outcome string) {
	c := s.clients[ci]
	op := c.cur
	op.Outcome, op.Return = outcome, s.now
	s.history = append(s.history, *op)
	c.cur = nil
	delete(s.reqClient, c.req)
	if op.Verb == "watch" {
		ws := s.watchers[c.node]
		for k, w := range ws {
			if w == ci {
				s.watchers[c.node] = append(ws[:k:k], ws[k+1:]...)
				break
			}
		}
	}
	s.trace.event(s.now, op.Node, "op", fmt.Sprintf("c%d %s %s %s %s rev %d served %d", ci, op.Verb, op.Key, op.Value, outcome, op.Revision, op.Served))
	if len(s.plan.Workload.Script) > 0 {
		if len(c.queue) > 0 {
			s.push(event{at: s.now, kind: evClient, idx: ci})
		}
		return
	}
	// The pause counts from the operation's start, not its end, so that an
	// operation's own duration does not lower the rate; a client whose
	// operation outlasted its pause issues the next at once.
	pause := s.think(ci)
	next := max(s.now, op.Invoke+pause)
	switch {
	case s.plan.Workload.PaceFromEnd:
		next = s.now + pause
	case op.Invoke+pause < s.now:
		s.stats.OpsLate++
	}
	s.push(event{at: next, kind: evClient, idx: ci})
}

// endWorkload records the operations still in flight as unfinished.
func (s *simulator) endWorkload() {
	for _, c := range s.clients {
		if c.cur != nil {
			op := *c.cur
			op.Outcome, op.Return = OutcomeUnfinished, s.now
			s.history = append(s.history, op)
		}
	}
}

func (s *simulator) nameOf(i int) string {
	if i < 0 {
		return "none"
	}
	return s.nodes[i].name
}

// LeftServesGrace is how long a node may take to learn it left: a leader's
// notice every election timeout, or a member's answer to its next message.
const LeftServesGrace = 10 * time.Second

// checkNotLeft checks PropLeftServes for an operation node i answered.
func (s *simulator) checkNotLeft(i int, op *Op) {
	sn := s.nodes[i]
	at, left := s.check.leftAt[sn.id]
	if !left || s.now-at <= LeftServesGrace {
		return
	}
	if _, member := s.check.ref.Shape().Roles(sn.id); !member {
		s.check.fail(s.now, PropLeftServes, sn.name, "c%d %s %s answered %v after the node left the shape (at %v)", op.Client, op.Verb, op.Key, s.now-at, at)
	}
}

func (s *simulator) randomLive() int {
	var live []int
	for i, sn := range s.nodes {
		if sn.n != nil {
			live = append(live, i)
		}
	}
	if len(live) == 0 {
		return -1
	}
	return live[s.wlRand.IntN(len(live))]
}

func outcomeOf(err error) string {
	switch {
	case err == nil:
		return OutcomeOK
	case errors.Is(err, store.ErrNotFound):
		return OutcomeNotFound
	case errors.Is(err, store.ErrConflict):
		return OutcomeConflict
	case errors.Is(err, store.ErrInvalid):
		return OutcomeInvalid
	case errors.Is(err, store.ErrUnsupported):
		return OutcomeUnsupported
	case errors.Is(err, store.ErrCompacted):
		return OutcomeCompacted
	case errors.Is(err, node.ErrTimeout):
		return OutcomeTimeout
	}
	return OutcomeError
}

// WorkloadValue is the value client writes in its seq-th apply:
// "wv-<client>-<seq>", unique in a run, so a checker knows which write
// anything it reads came from.
func WorkloadValue(client, seq int) string {
	return "wv-" + strconv.Itoa(client) + "-" + strconv.Itoa(seq)
}

// ValueOf is the workload value a resource's payload carries, "" for none.
func ValueOf(payload []byte) string { return valueOf(payload) }

// Values are tokens "wv-<client>-<n>" embedded in the payload.
func valueOf(payload []byte) string {
	i := bytes.Index(payload, []byte("wv-"))
	if i < 0 {
		return ""
	}
	j := i + 3
	for j < len(payload) && (payload[j] == '-' || payload[j] >= '0' && payload[j] <= '9') {
		j++
	}
	return string(payload[i:j])
}

func workloadName(face string, key int) string {
	if face == "systemd" {
		return "key-" + strconv.Itoa(key) + ".service"
	}
	return "key-" + strconv.Itoa(key)
}

func workloadNamespace(face string) string {
	if face == "systemd" {
		return ""
	}
	return "default"
}

// workloadResource is the resource a client writes: a small manifest in
// the face's own input format, carrying the value, decoded by the face the
// way a client tool would before submitting it. The face's answer for a key
// is the same whatever the value but for the value itself (a template, see
// workloadTemplateOf), so each key's manifest is decoded once per process.
func workloadResource(faceName string, ref store.Ref, value string) store.Resource {
	if t := workloadTemplateOf(faceName, ref); t != nil && isWorkloadValue(value) {
		r := t.res
		r.Payload = slices.Concat(t.prefix, []byte(value), t.suffix)
		return r
	}
	return decodeWorkload(faceName, ref, value)
}

// decodeWorkload writes the manifest and has the face decode it.
func decodeWorkload(faceName string, ref store.Ref, value string) store.Resource {
	file, data, format := WorkloadManifest(faceName, ref, value)
	f, err := face.ByName(faceName)
	if err != nil {
		panic(fmt.Sprintf("sim: workload face: %v", err))
	}
	rs, err := f.Decode(file, data, format)
	if err != nil || len(rs) != 1 || rs[0].Ref != ref {
		panic(fmt.Sprintf("sim: the %s face refused the workload's manifest for %v: %v", faceName, ref, err))
	}
	return rs[0]
}

// WorkloadManifest is the input file a client of the face writes value to
// ref with: its name, bytes and format, as a client tool would hand it to
// the face (a real node decodes it so: see package real/world).
func WorkloadManifest(faceName string, ref store.Ref, value string) (file string, data []byte, format store.Format) {
	format = store.YAML
	switch faceName {
	case face.Kubernetes:
		file = ref.Name + ".yaml"
		data = fmt.Appendf(nil, "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: %s\n  namespace: default\ndata:\n  v: %s\n", ref.Name, value)
	case face.Nomad:
		file, format = ref.Name+".nomad.hcl", store.HCL
		data = fmt.Appendf(nil, "job %q {\n  datacenters = [\"dc1\"]\n  meta {\n    v = %q\n  }\n}\n", ref.Name, value)
	case face.Systemd:
		file, format = ref.Name, store.Unit
		data = fmt.Appendf(nil, "[Unit]\nDescription=%s\n\n[Service]\nExecStart=/bin/true\n", value)
	case face.PureRaft:
		file, format = ref.Name, store.Native
		data = store.AppendResource(nil, store.Resource{Ref: ref, Face: face.PureRaft, Format: store.Native, Payload: []byte(value)})
	case face.BareMetal:
		file = ref.Name + ".yaml"
		data = fmt.Appendf(nil, "apiVersion: v1\nkind: Pod\nmetadata:\n  name: %s\n  namespace: default\n  annotations: {v: %s}\nspec:\n  containers:\n  - {name: main, image: busybox}\n", ref.Name, value)
	}
	return file, data, format
}

// isWorkloadValue reports whether v has the shape of a value a client
// writes, "wv-<digits>-<digits>": the shape workloadTemplateOf vouches for.
func isWorkloadValue(v string) bool {
	rest, ok := strings.CutPrefix(v, "wv-")
	a, b, ok2 := strings.Cut(rest, "-")
	digits := func(s string) bool {
		return s != "" && strings.Trim(s, "0123456789") == ""
	}
	return ok && ok2 && digits(a) && digits(b)
}

// workloadTemplate is a face's decoding of one key's manifest with the
// value cut out of the payload: the resource for value v is res with the
// payload prefix+v+suffix.
type workloadTemplate struct {
	res            store.Resource // Payload nil
	prefix, suffix []byte
}

type workloadTemplateKey struct {
	face string
	ref  store.Ref
}

// WorkloadTemplatesMax bounds the templates kept per process; past it, every
// manifest of a new key is decoded.
const WorkloadTemplatesMax = 1 << 12

// workloadTemplates holds the templates made so far, shared by every run in
// the process; a nil one is a key whose decoding did not split around its
// value.
var workloadTemplates = struct {
	sync.Mutex
	m map[workloadTemplateKey]*workloadTemplate
}{m: map[workloadTemplateKey]*workloadTemplate{}}

// workloadTemplateOf is the template of ref's manifest in the face, made by
// decoding the manifest with two values of different lengths: it exists only
// if both payloads are one prefix and one suffix around their value (found
// once) and the resources agree otherwise. Nil when they do not, or when the
// table is full.
func workloadTemplateOf(faceName string, ref store.Ref) *workloadTemplate {
	k := workloadTemplateKey{faceName, ref}
	workloadTemplates.Lock()
	defer workloadTemplates.Unlock()
	if t, ok := workloadTemplates.m[k]; ok {
		return t
	}
	if len(workloadTemplates.m) >= WorkloadTemplatesMax {
		return nil
	}
	var t *workloadTemplate
	split := func(v string) (store.Resource, []byte, []byte, bool) {
		r := decodeWorkload(faceName, ref, v)
		pre, suf, ok := bytes.Cut(r.Payload, []byte(v))
		r.Payload = nil
		return r, pre, suf, ok && !bytes.Contains(suf, []byte(v))
	}
	r1, pre1, suf1, ok1 := split("wv-0-0")
	r2, pre2, suf2, ok2 := split("wv-4294967296-18446744073709551615")
	if ok1 && ok2 && reflect.DeepEqual(r1, r2) && bytes.Equal(pre1, pre2) && bytes.Equal(suf1, suf2) {
		t = &workloadTemplate{res: r1, prefix: pre1, suffix: suf1}
	}
	workloadTemplates.m[k] = t
	return t
}

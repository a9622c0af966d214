package checkers

import (
	"fmt"
	"strconv"
	"strings"

	"revoada.dev/revoada/core/store"
)

// The store model is the sequential specification of one resource key, as
// store.Store implements it: applies and deletes with or without an expected
// revision, and gets. The key's revisions come from the store's global
// counter, so the model knows only that they grow; a write's revision is
// exact when an answer told it and a lower bound when the write's outcome is
// unknown.
//
// Writes with unknown outcome (timeout, crash, unfinished, error) may take
// effect at any time after they were invoked, or never. Porcupine models that
// by letting their return be "infinity", which costs a search over every
// place each of them could go, and on an illegal history it tries them all.
// The model keeps that search small:
//
//   - An unknown write whose value some read, watch event or list later
//     showed did take effect, and did so before it was first seen: its
//     return is that moment, and it must take effect where it is linearized.
//   - An unknown write nobody saw, without a precondition (or creating only
//     if absent), is a ghost: all such writes to a key have the same effect
//     (a value no read can return, an unknown revision), so the model counts
//     them as pending in its state when they are invoked and spends one
//     whenever an answer needs it (a conflict, a successful delete of a key
//     otherwise absent, a not-found of a key otherwise present).
//   - An unknown write with an expected revision nobody saw keeps an
//     infinite return, but it may only be linearized where it takes effect,
//     or after the key's end: a closing operation after every answer. Not
//     taking effect anywhere is the same as taking none after the end, so
//     the many no-op placements need not be searched.
//   - A revision some client saw belongs to the write it saw there
//     (revisions are global and unique), so a write of unknown revision can
//     have it only if it is that write: a precondition naming another
//     write's revision cannot hold after a ghost.

// storeVerb is a store operation's kind.
type storeVerb uint8

const (
	verbApply storeVerb = iota + 1
	verbDelete
	verbGet
	verbClose // the key's end: after it, unknown writes take no effect
)

func (v storeVerb) String() string {
	switch v {
	case verbApply:
		return "apply"
	case verbDelete:
		return "delete"
	case verbGet:
		return "get"
	case verbClose:
		return "end"
	}
	return "verb(" + strconv.Itoa(int(v)) + ")"
}

// knowledge is how much a history tells of an operation's outcome.
type knowledge uint8

const (
	// answered: the client got an answer (ok, not-found, conflict), so the
	// model must produce exactly it.
	answered knowledge = iota + 1
	// mayApply: the write's outcome is unknown; it takes effect where it is
	// linearized, which is either where its precondition can hold or after
	// the key's end (where nothing takes effect).
	mayApply
	// ghost: an unknown write nobody saw, counted as pending when invoked
	// (see the file comment).
	ghost
)

// storeCall is the input of one porcupine operation on a key.
type storeCall struct {
	key    string
	verb   storeVerb
	value  string // apply: the value written
	expect store.Expect
	known  knowledge
	op     int // index in the checked history
	client int
	node   string
	claims claims // shared by every call of the history
}

// claim is what clients saw a revision hold.
type claim struct {
	value   string
	deleted bool
}

// claims maps each revision some client saw to the write it held there:
// write acknowledgements, gets, watch events and list items. A revision
// seen two ways is left out (the Revisions checker reports it).
type claims map[store.Revision]claim

// belongs reports whether revision r can be the revision of the write of
// value (a live, readable value), as far as the claims say.
func (cl claims) belongs(r store.Revision, value string, readable bool) bool {
	c, ok := cl[r]
	return !ok || readable && !c.deleted && c.value == value
}

// storeReturn is the output of one porcupine operation on a key.
type storeReturn struct {
	outcome string         // an Outcome constant; unknown for mayApply and ghost
	value   string         // get ok: the value read
	rev     store.Revision // write ok: its revision; get ok: the ModRevision read
}

// ghostClass is which pending count a ghost adds to.
type ghostClass uint8

const (
	ghostApply  ghostClass = iota + 1 // Expect{}: applies whatever the key holds
	ghostCreate                       // Expect{Set: true}: applies only when the key is absent
	ghostDelete                       // Expect{}: deletes a present key
)

func (c *storeCall) ghostClass() ghostClass {
	switch {
	case c.verb == verbDelete:
		return ghostDelete
	case c.expect.Set:
		return ghostCreate
	}
	return ghostApply
}

// keyState is the model's state of one key. It is small and comparable, so
// porcupine's == fallback compares it, and Step allocates only when the
// state changes.
type keyState struct {
	value string         // the live value ("" when absent or unread)
	rev   store.Revision // the last write's revision, exact or a lower bound
	live  bool           // the key exists
	exact bool           // rev is exact; otherwise the revision is at least rev
	// unread: the live value was written by a ghost, so no get can return it.
	unread bool
	// Pending ghosts, each of which may still take effect once.
	applies, creates, deletes uint32
	closed                    bool // past the key's end
}

// canBe reports whether the live value's revision can be r.
func (s keyState) canBe(r store.Revision, cl claims) bool {
	if s.exact {
		return s.rev == r
	}
	return r >= s.rev && cl.belongs(r, s.value, !s.unread)
}

// hold returns the state refined by e holding, or false if e cannot hold.
func (s keyState) hold(e store.Expect, cl claims) (keyState, bool) {
	switch {
	case !e.Set:
		return s, true
	case e.Revision == 0:
		return s, !s.live
	case !s.live || !s.canBe(e.Revision, cl):
		return s, false
	}
	s.rev, s.exact = e.Revision, true
	return s, true
}

// canFail reports whether e can fail in s.
func (s keyState) canFail(e store.Expect) bool {
	switch {
	case !e.Set:
		return false
	case e.Revision == 0:
		return s.live
	}
	return !s.live || !s.exact || s.rev != e.Revision
}

// answer steps s by an answered operation, without ghosts.
func (s keyState) answer(c *storeCall, r storeReturn) (keyState, bool) {
	switch c.verb {
	case verbApply:
		switch r.outcome {
		case OutcomeOK:
			h, ok := s.hold(c.expect, c.claims)
			if !ok || r.rev <= h.rev {
				return s, false
			}
			return keyState{value: c.value, rev: r.rev, live: true, exact: true, applies: s.applies, creates: s.creates, deletes: s.deletes}, true
		case OutcomeConflict:
			return s, s.canFail(c.expect)
		}
	case verbDelete:
		switch r.outcome {
		case OutcomeOK:
			h, ok := s.hold(c.expect, c.claims)
			if !s.live || !ok || r.rev <= h.rev {
				return s, false
			}
			return keyState{rev: r.rev, exact: true, applies: s.applies, creates: s.creates, deletes: s.deletes}, true
		case OutcomeNotFound:
			return s, !s.live
		case OutcomeConflict:
			return s, s.live && s.canFail(c.expect)
		}
	case verbGet:
		switch r.outcome {
		case OutcomeOK:
			if !s.live || s.unread || s.value != r.value || !s.canBe(r.rev, c.claims) {
				return s, false
			}
			s.rev, s.exact = r.rev, true
			return s, true
		case OutcomeNotFound:
			return s, !s.live
		}
	}
	return s, false // an outcome the store never gives for this verb
}

// effect steps s by a write that takes effect with an unknown revision, or
// reports false if its precondition cannot hold.
func (s keyState) effect(c *storeCall) (keyState, bool) {
	h, ok := s.hold(c.expect, c.claims)
	if !ok || c.verb == verbDelete && !s.live {
		return s, false
	}
	h.rev, h.exact, h.unread = h.rev+1, false, false
	if c.verb == verbDelete {
		h.value, h.live = "", false
	} else {
		h.value, h.live = c.value, true
	}
	return h, true
}

// ghostWrite spends one pending ghost of class c, or reports false if none
// is pending or it cannot take effect in s.
func (s keyState) ghostWrite(c ghostClass) (keyState, bool) {
	switch {
	case c == ghostApply && s.applies > 0:
		s.applies--
	case c == ghostCreate && s.creates > 0 && !s.live:
		s.creates--
	case c == ghostDelete && s.deletes > 0 && s.live:
		s.deletes--
		s.value, s.rev, s.live, s.exact, s.unread = "", s.rev+1, false, false, false
		return s, true
	default:
		return s, false
	}
	s.value, s.rev, s.live, s.exact, s.unread = "", s.rev+1, true, false, true
	return s, true
}

// viaGhost finds the state a single pending ghost must leave for try to
// succeed, spending the most specific ghost that works: a create before an
// apply (an apply can do whatever a create can). Longer ghost sequences are
// never needed: each leaves a state no better than one ghost does.
//
// Only a refusal can succeed both after a ghost apply (the key overwritten)
// and after a ghost delete (the key gone): a conflict on an expected
// revision the key holds. Then the state stays as it was with both ghosts
// still pending, which allows everything either branch allows; refusal says
// the operation changes nothing, so that is sound.
func (s keyState) viaGhost(refusal bool, try func(keyState) (keyState, bool)) (keyState, bool) {
	var viaApply, viaDelete keyState
	okApply, okDelete := false, false
	for _, c := range []ghostClass{ghostCreate, ghostApply} {
		if g, ok := s.ghostWrite(c); ok {
			if viaApply, okApply = try(g); okApply {
				break
			}
		}
	}
	if g, ok := s.ghostWrite(ghostDelete); ok {
		viaDelete, okDelete = try(g)
	}
	switch {
	case okApply && okDelete && refusal:
		return s, true
	case okApply:
		return viaApply, true
	case okDelete:
		return viaDelete, true
	}
	return s, false
}

// step is the model's Step on one key.
func step(s keyState, c *storeCall, r storeReturn) (bool, keyState) {
	switch {
	case c.verb == verbClose:
		s.closed = true
		return true, s
	case c.known == ghost:
		switch c.ghostClass() {
		case ghostApply:
			s.applies++
		case ghostCreate:
			s.creates++
		case ghostDelete:
			s.deletes++
		}
		return true, s
	case c.known == mayApply && s.closed:
		return true, s // after the end: it never took effect
	case c.known == mayApply:
		try := func(s keyState) (keyState, bool) { return s.effect(c) }
		if next, ok := try(s); ok {
			return true, next
		}
		next, ok := s.viaGhost(false, try)
		return ok, next
	}
	try := func(s keyState) (keyState, bool) { return s.answer(c, r) }
	if next, ok := try(s); ok {
		return true, next
	}
	next, ok := s.viaGhost(r.outcome != OutcomeOK, try)
	return ok, next
}

// String describes the state briefly, for visualisations and details:
// "wv-1-2@9", "absent@9", "?@≥9" (a ghost's unread value), "+1a" pending.
func (s keyState) String() string {
	var b strings.Builder
	switch {
	case !s.live:
		b.WriteString("absent")
	case s.unread:
		b.WriteString("?")
	default:
		b.WriteString(s.value)
	}
	b.WriteByte('@')
	if !s.exact {
		b.WriteString("≥")
	}
	b.WriteString(strconv.FormatUint(uint64(s.rev), 10))
	if s.closed {
		b.WriteString(" (ended)")
	}
	for _, p := range []struct {
		n    uint32
		kind string
	}{{s.applies, "a"}, {s.creates, "c"}, {s.deletes, "d"}} {
		if p.n > 0 {
			fmt.Fprintf(&b, " +%d%s", p.n, p.kind)
		}
	}
	return b.String()
}

// describe renders one operation: "c3 apply wv-3-7 if@5 → ok@9".
func (c *storeCall) describe(r storeReturn) string {
	if c.verb == verbClose {
		return "end of history"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "c%d %s", c.client, c.verb)
	if c.verb == verbApply {
		b.WriteString(" " + c.value)
	}
	switch {
	case c.expect.Set && c.expect.Revision == 0:
		b.WriteString(" if-absent")
	case c.expect.Set:
		fmt.Fprintf(&b, " if@%d", c.expect.Revision)
	}
	switch {
	case c.known == ghost:
		b.WriteString(" → unknown, unseen (pending)")
	case c.known == mayApply:
		b.WriteString(" → unknown")
	case r.outcome == OutcomeOK && c.verb == verbGet:
		fmt.Fprintf(&b, " → %s@%d", r.value, r.rev)
	case r.outcome == OutcomeOK:
		fmt.Fprintf(&b, " → ok@%d", r.rev)
	default:
		b.WriteString(" → " + r.outcome)
	}
	return b.String()
}

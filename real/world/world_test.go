package world

import (
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"revoada.dev/revoada/checkers"
	"revoada.dev/revoada/core/roles"
	"revoada.dev/revoada/scenarios"
	"revoada.dev/revoada/sim"
)

// TestSupported: the five scenarios of issue 12, and those of nodes
// joining and leaving (their clients reading linearizably), run in the
// real world; every built-in that does not is refused with an
// UnsupportedError naming what it asks for.
func TestSupported(t *testing.T) {
	must := map[string]bool{"leader-kill": true, "minority-partition": true, "rolling-restart": true,
		"store-leader-churn": true, "self-heal-leader-kill": true,
		"join-and-leave": true, "leader-leaves": true, "leave-two-voters": true, "leave-with-dead-voter": true,
		"leave-held-without-target": true, "leave-staged-learner": true}
	var runs, refused []string
	for _, name := range scenarios.Names() {
		p, err := scenarios.Resolve(name)
		if err != nil {
			t.Fatal(err)
		}
		err = Supported(p)
		var u *UnsupportedError
		switch {
		case err == nil:
			runs = append(runs, name)
		case !errors.As(err, &u) || u.What == "" || u.Scenario != name:
			t.Errorf("%s: %v is no UnsupportedError naming what", name, err)
		default:
			refused = append(refused, name+" ("+u.What+")")
		}
		if must[name] && err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	t.Logf("run in the real world: %s", strings.Join(runs, ", "))
	t.Logf("refused: %s", strings.Join(refused, "; "))
}

// TestLinkCutsOneDirection: a link forwards both ways, with its latency;
// cut, it forwards nothing on the connections open and new; mended, the
// held connections are closed and new ones forward again.
func TestLinkCutsOneDirection(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() { // an echo server
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				io.Copy(c, c)
			}()
		}
	}()
	const lat = 30 * time.Millisecond
	l, err := newLink(ln.Addr().String(), lat, lat, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	dial := func() net.Conn {
		c, err := net.Dial("tcp", l.Addr())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	echo := func(c net.Conn, msg string) (string, time.Duration) {
		start := time.Now()
		if _, err := c.Write([]byte(msg)); err != nil {
			return "", 0
		}
		c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
		buf := make([]byte, len(msg))
		n, _ := io.ReadFull(c, buf)
		return string(buf[:n]), time.Since(start)
	}
	c := dial()
	if got, took := echo(c, "hello"); got != "hello" || took < 2*lat {
		t.Fatalf("echo %q after %v, want hello after at least %v", got, took, 2*lat)
	}
	l.Cut()
	if got, _ := echo(c, "cut"); got != "" {
		t.Errorf("an open connection forwarded %q through a cut link", got)
	}
	held := dial()
	if got, _ := echo(held, "new"); got != "" {
		t.Errorf("a new connection forwarded %q through a cut link", got)
	}
	l.Mend()
	held.SetReadDeadline(time.Now().Add(time.Second))
	if _, err := held.Read(make([]byte, 1)); err == nil {
		t.Errorf("a connection held by the cut is still open after the mend")
	}
	if got, _ := echo(dial(), "again"); got != "again" {
		t.Errorf("after the mend a new connection echoed %q", got)
	}
}

// TestLeftNodes: the judge's view of nodes leaving, as the simulator's. A
// node the shape loses has left from the sample that shows it: answering
// a client more than LeftServesGrace later is a left-serves violation,
// and stopping with status 0 is no failure; a node never admitted yet has
// not left, and one that is a member again is no longer out.
func TestLeftNodes(t *testing.T) {
	names := []string{"n1", "n2", "n3", "n4"}
	w := &world{plan: &sim.Plan{Name: "t"}, c: &cluster{}, wasMember: map[int]bool{}, outSince: map[int]time.Duration{}}
	for _, n := range names {
		w.c.nodes = append(w.c.nodes, &proc{name: n, id: sim.NodeKey(n)})
	}
	shape := func(members ...int) roles.Shape {
		var ms []roles.Member
		for _, i := range members {
			ms = append(ms, roles.Member{Node: w.c.nodes[i].id, Roles: roles.ControlPlane})
		}
		s, err := roles.NewShape(ms)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	w.trackMembers(view{at: 0, shape: shape(0, 1, 2), seen: true}) // n4 outside
	w.trackMembers(view{at: 10 * time.Second, shape: shape(1, 2, 3), seen: true})
	w.trackMembers(view{at: 12 * time.Second, shape: shape(1, 2, 3), seen: true})
	if at, out := w.outSince[0]; !out || at != 10*time.Second {
		t.Fatalf("n1 out since %v (%v), want 10s", at, out)
	}
	if len(w.outSince) != 1 {
		t.Fatalf("out: %v, want n1 only (n4 was admitted, never left)", w.outSince)
	}
	c := &realClient{}
	for _, op := range []checkers.Op{
		{Node: "n1", Verb: "get", Outcome: checkers.OutcomeOK, Return: 20 * time.Second},       // within the grace
		{Node: "n1", Verb: "get", Outcome: checkers.OutcomeError, Return: 30 * time.Second},    // refused
		{Node: "n2", Verb: "get", Outcome: checkers.OutcomeOK, Return: 30 * time.Second},       // a member
		{Node: "n1", Verb: "get", Outcome: checkers.OutcomeNotFound, Return: 21 * time.Second}, // served
	} {
		w.record(c, &op)
	}
	if len(w.leftServes) != 1 || w.leftServes[0].Property != sim.PropLeftServes || w.leftServes[0].Node != "n1" {
		t.Fatalf("left-serves violations: %+v", w.leftServes)
	}
	if !w.stoppedAfterLeaving(exit{node: 0, name: "n1"}) {
		t.Errorf("n1 stopping with status 0 after it left is a failure")
	}
	if w.stoppedAfterLeaving(exit{node: 0, name: "n1", err: errors.New("exit status 2")}) || w.stoppedAfterLeaving(exit{node: 1, name: "n2"}) {
		t.Errorf("a failed exit, or a member's, passes as a stop after leaving")
	}
	w.trackMembers(view{at: 40 * time.Second, shape: shape(0, 1, 2, 3), seen: true})
	if _, out := w.outSince[0]; out {
		t.Errorf("n1, a member again, is still out")
	}
}

// TestRolesShift: the role changes the observer saw between two shapes,
// as a shift the roles model accepts from the first shape: promotions
// first, a quarantined node restored before it is promoted, joins and
// leaves left to the operator's commands.
func TestRolesShift(t *testing.T) {
	id := func(n int) roles.NodeID { return sim.NodeKey("n" + string(rune('0'+n))) }
	shape := func(rs ...roles.Roles) roles.Shape {
		var ms []roles.Member
		for i, r := range rs {
			if r != 0 {
				ms = append(ms, roles.Member{Node: id(i + 1), Roles: r})
			}
		}
		s, err := roles.NewShape(ms)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	cp, wk, q := roles.ControlPlane, roles.Worker, roles.Quarantined
	prev := shape(cp, cp, wk, q, wk, wk)
	next := shape(0, wk, cp, cp, q, 0) // n1 and n6 left, n2 demoted, n3 promoted, n4 restored and promoted, n5 quarantined
	sh := rolesShift(prev, next)
	want := roles.Shift{
		{Kind: roles.Promote, Node: id(3), Roles: cp, Reason: roles.Rebalance},
		{Kind: roles.Restore, Node: id(4), Reason: roles.Rebalance},
		{Kind: roles.Promote, Node: id(4), Roles: cp, Reason: roles.Rebalance},
		{Kind: roles.Quarantine, Node: id(5), Reason: roles.Rebalance},
		{Kind: roles.Demote, Node: id(2), Roles: cp, Reason: roles.Rebalance},
	}
	sorted := func(sh roles.Shift) []string {
		var out []string
		for _, c := range sh {
			out = append(out, fmt.Sprint(c))
		}
		slices.Sort(out)
		return out
	}
	if !slices.Equal(sorted(sh), sorted(want)) {
		t.Fatalf("shift %v, want %v in some order", sh, want)
	}
	if k := slices.IndexFunc(sh, func(c roles.Command) bool { return c.Kind == roles.Demote }); k != len(sh)-1 {
		t.Errorf("shift %v: the demotion is not last", sh)
	}
	got := prev
	if _, rej := got.Apply(sh); rej != nil {
		t.Fatalf("the model refuses %v: %v", sh, rej)
	}
	for _, m := range next.Members() {
		if r, _ := got.Roles(m.Node); r != m.Roles {
			t.Errorf("%s holds %s after the shift, want %s", m.Node.Short(), r, m.Roles)
		}
	}
}

package world

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"revoada.dev/revoada/checkers"
	"revoada.dev/revoada/core/node"
	"revoada.dev/revoada/core/roles"
	"revoada.dev/revoada/sim"
)

// command is one of the plan's role commands as the operator carries it
// out.
type command struct {
	cmd      sim.Command
	attempts int
	done     bool   // a final result: committed or refused
	outcome  string // what the last attempt said
	roleOp   int    // its index in roleOps, once resolved; -1 before
}

// startCommands runs each command in its own goroutine from its time on,
// as the simulator's operator client does: it resolves the command's
// targets, submits the shift to a live node (or its To), and on no answer
// (a timeout, a node gone) submits it again OperatorRetryDelay later, up to
// OperatorAttemptsMax attempts in all.
func (w *world) startCommands(ctx context.Context, wg *sync.WaitGroup) {
	for _, c := range w.plan.Commands {
		op := &command{cmd: c, roleOp: -1}
		w.mu.Lock()
		w.commands = append(w.commands, op)
		client := len(w.commands) - 1
		w.mu.Unlock()
		wg.Go(func() {
			if w.wait(ctx, c.At) {
				w.operate(ctx, op, client)
			}
		})
	}
}

func (w *world) operate(ctx context.Context, op *command, client int) {
	var shift roles.Shift
	for _, c := range append([]sim.Command{op.cmd}, op.cmd.With...) {
		t := w.resolve(c.Target)
		if len(t) == 0 {
			w.finish(op, true, "no node matched "+string(c.Target))
			return
		}
		shift = append(shift, roles.Command{Kind: c.Kind, Node: w.c.nodes[t[0]].id, Roles: c.Roles, Reason: c.Reason})
	}
	w.mu.Lock()
	op.roleOp = len(w.roleOps)
	w.roleOps = append(w.roleOps, checkers.RoleOp{Client: client, Invoke: w.now(), Shift: shift, Outcome: checkers.RoleUnknown})
	w.mu.Unlock()
	w.logf("operator: %v", shift)
	for op.attempts < shiftAttempts {
		op.attempts++
		at := w.now()
		err := w.submit(ctx, op, shift)
		if ctx.Err() != nil {
			return
		}
		var code roles.RejectCode
		switch {
		case err == nil:
			w.finish(op, true, "applied")
			w.setRole(op, checkers.RoleAccepted, 0)
			return
		case errors.As(err, &code):
			w.finish(op, true, err.Error())
			w.setRole(op, checkers.RoleRejected, code)
			return
		}
		w.finish(op, false, err.Error())
		w.logf("operator: %v: attempt %d: %v", op.cmd.Kind, op.attempts, err)
		if !w.wait(ctx, at+sim.OperatorRetryDelay) {
			return
		}
	}
	w.finish(op, false, "gave up")
}

// shiftWait is how long the operator waits for one attempt's answer: the
// node's own request timeout (RequestTimeoutTicks × RequestRetriesMax
// ticks, after which it answers node.ErrTimeout itself) and a second more,
// as the simulator's operator waits for the node's answer.
func shiftWait() time.Duration {
	c := node.DefaultConfig(roles.NodeID{}, roles.Shape{}, nil)
	return time.Duration(c.RequestTimeoutTicks*c.RequestRetriesMax)*sim.TickInterval + time.Second
}

// submit sends the shift once to the command's To, or to a random live
// node, and waits shiftWait for its result.
func (w *world) submit(ctx context.Context, op *command, shift roles.Shift) error {
	var to []int
	if op.cmd.To != "" {
		to = w.resolve(op.cmd.To)
	} else {
		to = w.pick(w.c.live(), 1)
	}
	if len(to) == 0 {
		return errors.New("no live node to submit to")
	}
	ctx, cancel := context.WithTimeout(ctx, scaled(shiftWait(), w.cfg.TimeScale))
	defer cancel()
	name := w.c.nodes[to[0]].name
	conn, err := w.cfg.Dial(ctx, w.c.nodes[to[0]].dir)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	defer conn.Close()
	if err := conn.Shift(ctx, shift); err != nil {
		return fmt.Errorf("through %s: %w", name, err)
	}
	return nil
}

func (w *world) finish(op *command, done bool, outcome string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	op.done, op.outcome = done, outcome
	if done {
		w.logf("operator: %v: %s", op.cmd.Kind, outcome)
	}
}

func (w *world) setRole(op *command, outcome string, code roles.RejectCode) {
	w.mu.Lock()
	defer w.mu.Unlock()
	ro := &w.roleOps[op.roleOp]
	ro.Return, ro.Outcome, ro.Code = w.now(), outcome, code
}

package checkers

import (
	"fmt"
	"strings"
	"time"

	"github.com/anishathalye/porcupine"

	"revoada.dev/revoada/core/roles"
)

// The outcomes of a role command.
const (
	RoleAccepted = "accepted" // the shift committed
	RoleRejected = "rejected" // the shift was refused, with a RejectCode
	RoleUnknown  = "unknown"  // no answer: it may or may not have committed
)

// RoleOp is one role-shift command as a client saw it.
type RoleOp struct {
	Client         int // the issuing client, a visualisation lane
	Invoke, Return time.Duration
	Shift          roles.Shift
	Outcome        string           // RoleAccepted, RoleRejected or RoleUnknown
	Code           roles.RejectCode // for RoleRejected; 0 accepts any rejection
}

// roleCall is the input of a role-command porcupine operation; its output is
// unused.
type roleCall struct{ RoleOp }

// RolesLinearizable checks role-shift commands for linearizability against
// roles.Shape.Plan, starting from initial: an accepted shift is one Plan
// accepts in the shape it is linearized at, and changes the shape to Plan's;
// a rejected one is one Plan rejects (with the same code, when Code is set)
// and changes nothing. A stale rejection (roles.ErrStale) is about the
// proposer's view, which Plan does not model, so it is always legal. A shift
// with unknown outcome may commit at any time after its invocation, or
// never.
//
// The check is one partition: every shift reads and writes the whole shape.
// initial is not modified.
func RolesLinearizable(initial roles.Shape, ops []RoleOp, opts Options) Verdict {
	var end time.Duration
	for _, op := range ops {
		end = max(end, op.Invoke, op.Return)
	}
	v := Verdict{opts: opts, model: rolesModel(initial.Clone()), Parts: 1}
	for _, op := range ops {
		ret := int64(op.Return)
		if op.Outcome != RoleAccepted && op.Outcome != RoleRejected {
			ret = int64(end) + 1
			v.Ambiguous++
		}
		v.history = append(v.history, porcupine.Operation{
			ClientId: op.Client, Input: &roleCall{op}, Call: int64(op.Invoke), Return: ret,
		})
	}
	v.Ops = len(v.history)
	if v.Ops == 0 {
		v.Parts = 0
	}
	return v.check()
}

// rolesModel is the porcupine model of role shifts.
func rolesModel(initial roles.Shape) porcupine.Model {
	return porcupine.Model{
		Init: func() any { return initial },
		Step: func(state, input, _ any) (bool, any) {
			s, c := state.(roles.Shape), input.(*roleCall)
			next, _, rej := s.Plan(c.Shift)
			switch c.Outcome {
			case RoleAccepted:
				return rej == nil, next
			case RoleRejected:
				legal := rej != nil && (c.Code == 0 || rej.Code == c.Code) || c.Code == roles.ErrStale
				return legal, state
			}
			return true, next // unknown: Plan's shape if it applies, s if refused
		},
		Equal: func(a, b any) bool { return a.(roles.Shape).Equal(b.(roles.Shape)) },
		Hash: func(state any) uint64 {
			d := state.(roles.Shape).Digest()
			var h uint64
			for _, b := range d[:8] {
				h = h<<8 | uint64(b)
			}
			return h
		},
		DescribeOperation: func(input, _ any) string { return input.(*roleCall).describe() },
		DescribeState:     func(state any) string { return describeShape(state.(roles.Shape)) },
	}
}

func (c *roleCall) describe() string {
	cmds := make([]string, len(c.Shift))
	for i, cmd := range c.Shift {
		cmds[i] = cmd.String()
	}
	out := c.Outcome
	if c.Outcome == RoleRejected && c.Code != 0 {
		out += " " + c.Code.String()
	}
	return fmt.Sprintf("c%d [%s] → %s", c.Client, strings.Join(cmds, "; "), out)
}

// describeShape lists members as "short-id:roles".
func describeShape(s roles.Shape) string {
	ms := s.Members()
	parts := make([]string, len(ms))
	for i, m := range ms {
		parts[i] = m.Node.Short() + ":" + m.Roles.String()
	}
	return strings.Join(parts, " ")
}

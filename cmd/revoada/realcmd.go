package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"go.etcd.io/raft/v3"

	"revoada.dev/revoada/backend"
	"revoada.dev/revoada/core/roles"
	"revoada.dev/revoada/core/store"
	"revoada.dev/revoada/real/world"
	"revoada.dev/revoada/scenarios"
)

const realSynopsis = "real --scenario NAME|FILE [--time-scale F] [--seed N] [--bundles DIR] [--dir DIR] [--quiet]"

const realAbout = `Run a scenario in the real world (package real/world): its nodes as local
'revoada node' processes on loopback, its workload and operator commands
through their sockets, its faults injected for real (crash = SIGKILL,
restart from the same data directory, pause = SIGSTOP/SIGCONT, partitions
through a byte proxy per directed link, the network's latency as the
proxies' delay), and the recorded history judged with the simulator's
checkers. --time-scale shrinks the plan's times and the nodes' tick alike:
0.25 runs a 120 s scenario in 30 s. A plan asking for what the real world
does not do (a clock fault, message loss, ...) is refused before anything
starts, naming it. A failed check writes a bundle with the node logs in it
and exits 1; a pass prints the judgement and the wall time.`

// realFlags defines real's flags and returns the function that runs it.
func realFlags(e *env) (*flag.FlagSet, func() int) {
	fs := newFlagSet(e, "real")
	scenario := fs.String("scenario", "", "the built-in scenario `NAME` (see 'revoada scenarios') or a scenario FILE (required)")
	scale := fs.Float64("time-scale", 1, fmt.Sprintf("wall time per plan time, in [%v, %v]: 0.25 runs four times faster", world.TimeScaleMin, world.TimeScaleMax))
	seed := fs.Uint64("seed", 1, "the seed of the selectors', workload's and operator's choices")
	bundles := fs.String("bundles", "bundles", "write a failure bundle under `DIR` when a check fails (\"\" for none)")
	quiet := fs.Bool("quiet", false, "print no progress on stderr")
	dir := fs.String("dir", "", "keep the nodes' data directories and logs under `DIR` (short: unix sockets); \"\" for a temporary one, removed after")
	return fs, func() int {
		switch {
		case fs.NArg() > 0:
			return usageError(e, "real", "unexpected argument %q", fs.Arg(0))
		case *scenario == "":
			return usageError(e, "real", "--scenario is required")
		case !(*scale >= world.TimeScaleMin && *scale <= world.TimeScaleMax):
			return usageError(e, "real", "--time-scale %v: want a factor in [%v, %v]", *scale, world.TimeScaleMin, world.TimeScaleMax)
		}
		plan, err := scenarios.Resolve(*scenario)
		if err != nil {
			fmt.Fprintln(e.stderr, err)
			return exitUsage
		}
		bin, err := os.Executable()
		if err != nil {
			return clientError(e, "real", err)
		}
		ctx, stop := e.interruptible()
		defer stop()
		cfg := world.Config{Binary: bin, Dir: *dir, TimeScale: *scale, Seed: *seed, Dial: dialWorld}
		if !*quiet {
			cfg.Log = e.stderr
		}
		return runReal(ctx, e, plan.Name, func() (*world.Outcome, error) { return world.Run(ctx, plan, cfg) }, *bundles)
	}
}

// runReal runs one real-world scenario and reports it: exit 0 on a pass,
// 1 on a failed check (with its bundle), 2 for a plan the real world
// cannot run, 130 when interrupted.
func runReal(ctx context.Context, e *env, name string, run func() (*world.Outcome, error), bundles string) int {
	o, err := run()
	var unsupported *world.UnsupportedError
	switch {
	case errors.As(err, &unsupported):
		fmt.Fprintf(e.stderr, "revoada real: %v\n", err)
		return exitUsage
	case ctx.Err() != nil:
		fmt.Fprintln(e.stderr, "revoada real: interrupted")
		return exitInterrupted
	case err != nil:
		return clientError(e, "real", err)
	}
	r := o.Result
	fmt.Fprintf(e.stdout, "%s real seed %d: %s in %v wall (%v of plan time); %d commands done of %d, %d of %d operations ok\n",
		name, r.Seed, r.Summary(), o.Wall.Round(time.Millisecond), r.SimTime, r.Stats.CommandsDone, r.Stats.CommandsTotal, r.Stats.OpsOK, r.Stats.Ops)
	if r.OK() {
		return exitOK
	}
	for _, v := range r.Violations {
		fmt.Fprintf(e.stdout, "  %s\n", v)
	}
	if bundles != "" {
		dir, err := o.WriteBundle(bundles)
		if err != nil {
			fmt.Fprintf(e.stderr, "revoada real: %v\n", err)
		} else {
			fmt.Fprintf(e.stdout, "  bundle: %s\n", dir)
		}
	}
	return exitFailed
}

// dialWorld connects a real run to a node's socket.
func dialWorld(ctx context.Context, dir string) (world.Conn, error) {
	rn, err := dialNode(ctx, filepath.Join(dir, socketName))
	if err != nil {
		return nil, err
	}
	return worldConn{rn}, nil
}

// worldConn is world.Conn over the node socket protocol.
type worldConn struct{ rn *remoteNode }

var _ world.Conn = worldConn{}

func (c worldConn) Apply(ctx context.Context, faceName, file string, format store.Format, data []byte, exp store.Expect) (store.Revision, error) {
	in := applyInput{File: file, Face: faceName, Format: format, Data: data}
	if exp.Set {
		in.Expect = &exp
	}
	var docs []docResult
	if err := c.rn.ApplyFile(ctx, in, func(d docResult) { docs = append(docs, d) }); err != nil {
		return 0, err
	}
	if len(docs) != 1 {
		return 0, fmt.Errorf("revoada real: an apply of one document answered %d", len(docs))
	}
	return docs[0].Revision, docs[0].Err
}

func (c worldConn) Delete(ctx context.Context, ref store.Ref, exp store.Expect) (store.Revision, error) {
	r, err := c.rn.Delete(ctx, ref, exp)
	return r.ModRevision, err
}

func (c worldConn) Get(ctx context.Context, ref store.Ref) (store.Resource, store.Revision, error) {
	return c.rn.Get(ctx, ref)
}

func (c worldConn) List(ctx context.Context, kind, namespace string) (backend.List, error) {
	return c.rn.List(ctx, kind, namespace)
}

func (c worldConn) Watch(ctx context.Context, kind string, from store.Revision) (backend.Watch, error) {
	return c.rn.Watch(ctx, kind, from)
}

func (c worldConn) Shift(ctx context.Context, sh roles.Shift) error { return c.rn.Shift(ctx, sh) }

func (c worldConn) SetClockRate(ctx context.Context, rate float64) error {
	return c.rn.SetClockRate(ctx, rate)
}

func (c worldConn) SetNetFaults(ctx context.Context, loss, duplicate float64) error {
	return c.rn.SetNetFaults(ctx, loss, duplicate)
}

func (c worldConn) Close() error { return c.rn.Close() }

// Status reads the node's mesh status into the world's terms.
func (c worldConn) Status(ctx context.Context) (world.Status, error) {
	st, err := c.rn.MeshStatus(ctx)
	if err != nil {
		return world.Status{}, err
	}
	out := world.Status{Term: st.Term, Leading: st.State == raft.StateLeader.String(), Applied: st.Applied}
	if st.Leader != "" {
		if out.Leader, err = roles.ParseNodeID(st.Leader); err != nil {
			return world.Status{}, err
		}
	}
	for _, n := range st.Nodes {
		id, err := roles.ParseNodeID(n.ID)
		if err != nil {
			return world.Status{}, err
		}
		r, err := roles.ParseRoles(n.Roles)
		if err != nil {
			return world.Status{}, err
		}
		out.Shape = append(out.Shape, roles.Member{Node: id, Roles: r})
		if n.Health == "healthy" {
			out.Healthy = append(out.Healthy, id)
		}
	}
	return out, nil
}

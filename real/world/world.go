// Package world runs a simulator scenario in the real world: the plan's
// nodes as local 'revoada node' processes on loopback, its workload and
// operator commands through their sockets, its faults injected for real —
// crash = SIGKILL, restart = the same command on the same data directory,
// pause = SIGSTOP and SIGCONT, a partition (one-way too) = blackholing
// the byte proxies of the links it cuts (one per directed link: real/tcp's
// messages flow only from dialer to listener, so a proxy's connections are
// one direction of one link), the network's latency = each proxy's delay,
// the network's loss and duplication = the nodes' transports
// (transport.Faulty, set through their sockets), a clock's rate = the
// node's tick interval. A plan's outside nodes start with --joining,
// outside the mesh, every node knowing where to reach them through its
// proxies (--joiner); a join or leave command is a role shift through a
// live node's socket, as any other; a node that left keeps running,
// silent, as in the simulator (one that stops by itself with status 0
// after it left is no failure), and a crash or restart of it is carried
// out as of any node. It records a history with the monotonic clock and
// judges it with the simulator's checkers: porcupine per key, watches,
// lists and revisions (sim.BlackBox), the role commands against the roles
// model, the liveness monitors, convergence, progress, commands complete,
// and a node that serves clients after it left (left-serves); the
// membership monitor and the selectors count the shape's members only, as
// the simulator's do.
//
// Time: a plan's times are simulated time. Config.TimeScale shrinks all of
// them and the nodes' tick by one factor, so a run at 0.25 takes a quarter
// of the plan's duration and the nodes, whose every timeout is ticks, see
// the same plan in the same number of ticks. Results report plan time
// (wall time over the scale).
//
// What the real world cannot do fails loudly before anything starts: Run
// returns an *UnsupportedError naming it (a fault kind, a network shape, a
// workload option), never a run that skipped it. Lost in real runs, as
// research §6 says: fingerprints, replay and shrinking; a failure still
// writes a bundle (the node logs inside), whose scenario replays in the
// simulator.
//
// The package starts processes and servers on loopback only, and reads the
// wall clock; it is for 'revoada real' and tests, never for the core.
package world

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"sync"
	"time"

	"revoada.dev/revoada/backend"
	"revoada.dev/revoada/checkers"
	"revoada.dev/revoada/checkers/bundle"
	"revoada.dev/revoada/core/roles"
	"revoada.dev/revoada/core/store"
	"revoada.dev/revoada/sim"
)

// Conn is one connection to a node's socket, as the world needs it; the
// command (cmd/revoada) implements it over the socket protocol. Its calls
// go one after another. Errors wrap the store's sentinels
// (store.ErrNotFound, ...), node.ErrTimeout, or a shift's
// roles.RejectCode; any other error leaves an operation's outcome
// unknown.
type Conn interface {
	// Apply decodes the input file with the face, as a client tool's
	// apply would, and applies its one resource if exp holds; it returns
	// the write's revision.
	Apply(ctx context.Context, face, file string, format store.Format, data []byte, exp store.Expect) (store.Revision, error)
	Delete(ctx context.Context, ref store.Ref, exp store.Expect) (store.Revision, error)
	// Get is a linearizable read, and the revision it was served at (also
	// when not found).
	Get(ctx context.Context, ref store.Ref) (store.Resource, store.Revision, error)
	List(ctx context.Context, kind, namespace string) (backend.List, error)
	// Watch takes the connection over.
	Watch(ctx context.Context, kind string, from store.Revision) (backend.Watch, error)
	Shift(ctx context.Context, sh roles.Shift) error
	// SetNetFaults sets the probabilities that the node loses and
	// duplicates each message it sends a peer.
	SetNetFaults(ctx context.Context, loss, duplicate float64) error
	// SetClockRate makes the node's clock run at rate times its speed.
	SetClockRate(ctx context.Context, rate float64) error
	Status(ctx context.Context) (Status, error)
	Close() error
}

// Dialer connects to the socket of the node running on a data directory.
type Dialer func(ctx context.Context, dir string) (Conn, error)

// Status is a node's view of its mesh.
type Status struct {
	Term    uint64
	Leading bool         // this node is the raft leader
	Leader  roles.NodeID // the leader it knows; zero for none
	Applied uint64
	Shape   []roles.Member // the shape as of its applied index
	Healthy []roles.NodeID // the nodes its gossip holds healthy (self-healing only)
}

// Config is how to run a plan in the real world.
type Config struct {
	Binary string // the revoada executable
	// Dir holds the nodes' data directories; it must be short, for their
	// unix sockets ("" for a new temporary directory, removed after).
	Dir string
	// TimeScale is wall time per plan time: 0.25 runs four times faster.
	// 0 is 1.
	TimeScale float64
	Dial      Dialer
	// Seed draws the dynamic selectors, the workload's choices and the
	// operator's contacts.
	Seed uint64
	// Log, if set, receives a line per fault, command and phase.
	Log io.Writer
}

// Scale limits: faster, the nodes' ticks get shorter than a loaded
// machine keeps; slower is a waste.
const (
	TimeScaleMin = 0.1
	TimeScaleMax = 1
)

// Timing of the harness, in wall time.
const (
	sampleEvery  = 100 * time.Millisecond // the monitors' and selectors' view
	statusWait   = 500 * time.Millisecond // a status poll's bound (a paused node never answers)
	startWaitMax = 30 * time.Second       // for every node to serve its socket
	finalWait    = 2 * time.Second        // after the end, for a running node to answer its status
)

// shiftAttempts bounds the submissions of one role command, as the
// simulator's operator's.
const shiftAttempts = sim.OperatorAttemptsMax

// UnsupportedError is what Run returns for a plan that asks for something
// the real world does not do (yet), before it starts anything.
type UnsupportedError struct {
	Scenario string
	What     string // e.g. "fault clock", "network loss 0.01"
}

func (e *UnsupportedError) Error() string {
	return fmt.Sprintf("world: %s: not supported in the real world: %s", e.Scenario, e.What)
}

// PropNodeExited is the violation of a node process that ended without
// being killed (a panic, a refused start).
const PropNodeExited = "node-exited"

// Outcome is a real run's result.
type Outcome struct {
	Plan   *sim.Plan
	Result *sim.Result // judged; Seed is Config.Seed, no fingerprint
	Wall   time.Duration
	Logs   map[string][]byte // each node's log ("n1.log", ...), kept when a check failed
}

// WriteBundle writes a failure bundle of the run under root (package
// checkers/bundle), the node logs in it, and returns its directory.
func (o *Outcome) WriteBundle(root string) (string, error) {
	return bundle.WriteResult(root, o.Plan, o.Result, sim.Hooks{}, o.Logs)
}

// Run runs the plan in the real world and judges it. The error is for a
// run that could not happen (an *UnsupportedError, a node that could not
// start, ctx ended); a run that happened returns its outcome, violations
// included.
func Run(ctx context.Context, p *sim.Plan, cfg Config) (*Outcome, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	if err := Supported(p); err != nil {
		return nil, err
	}
	if cfg.TimeScale == 0 {
		cfg.TimeScale = 1
	}
	if cfg.TimeScale < TimeScaleMin || cfg.TimeScale > TimeScaleMax {
		return nil, fmt.Errorf("world: time scale %v out of range [%v, %v]", cfg.TimeScale, TimeScaleMin, TimeScaleMax)
	}
	if cfg.Dir == "" {
		dir, err := os.MkdirTemp("", "rw")
		if err != nil {
			return nil, fmt.Errorf("world: %w", err)
		}
		defer os.RemoveAll(dir)
		cfg.Dir = dir
	} else if err := emptyDir(cfg.Dir); err != nil {
		return nil, err
	}
	began := time.Now()
	w, err := newWorld(p, cfg)
	if err != nil {
		return nil, err
	}
	defer w.c.close()
	if err := w.boot(ctx); err != nil {
		return nil, err
	}
	w.run(ctx)
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	o := &Outcome{Plan: p, Result: w.judge()}
	o.Result.Seed = cfg.Seed
	w.logf("judged: %s", o.Result.Summary())
	if !o.Result.OK() {
		o.Logs = w.c.logs()
	}
	o.Wall = time.Since(began)
	return o, nil
}

// emptyDir makes dir if absent and refuses one that holds anything: the
// nodes' data directories are made fresh in it.
func emptyDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("world: %w", err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("world: %w", err)
	}
	if len(entries) > 0 {
		return fmt.Errorf("world: %s is not empty: the nodes' data directories are made fresh in it", dir)
	}
	return nil
}

// world is one run.
type world struct {
	plan  *sim.Plan
	cfg   Config
	c     *cluster
	start time.Time // the plan's time 0, on the monotonic clock

	mu      sync.Mutex
	rng     *rand.Rand
	marks   []checkers.Mark
	history []checkers.Op
	roleOps []checkers.RoleOp
	// seenShifts are the role changes the observer saw, for the roles
	// model beside the operator's roleOps (see rolesShift).
	seenShifts []checkers.RoleOp
	commands   []*command
	view       view // the latest statuses
	settle     settle
	final      []*Status // each node's status after the end; nil for one down or silent
	live       liveness
	clients    []*realClient
	loss       float64 // the message loss and duplication every node runs with now
	dup        float64
	clock      []float64 // each node's clock rate now
	// wasMember holds the nodes some observed shape held; outSince, when
	// the observed shape last lost each of them (a node that left), as the
	// simulator's leftAt. leftServes are the left-serves violations.
	wasMember  map[int]bool
	outSince   map[int]time.Duration
	leftServes []sim.Violation

	logMu sync.Mutex // Config.Log's writes
}

func newWorld(p *sim.Plan, cfg Config) (*world, error) {
	target, heal := p.Target, p.Target != ""
	if target == "" {
		target = defaultTarget
	}
	spec := nodeSpec{tick: scaled(sim.TickInterval, cfg.TimeScale), target: target, heal: heal, mesh: "real-" + p.Name,
		latMin: scaled(p.Network.LatencyMin, cfg.TimeScale), latMax: scaled(p.Network.LatencyMax, cfg.TimeScale), seed: cfg.Seed}
	c, err := newCluster(cfg.Binary, cfg.Dir, p.Nodes, p.Outside, spec)
	if err != nil {
		return nil, err
	}
	return &world{plan: p, cfg: cfg, c: c, rng: rand.New(rand.NewPCG(cfg.Seed, 0x3e41d)), loss: p.Network.Loss, dup: p.Network.Duplicate, clock: ones(p.Nodes),
		wasMember: map[int]bool{}, outSince: map[int]time.Duration{}}, nil
}

func ones(n int) []float64 {
	out := make([]float64, n)
	for i := range out {
		out[i] = 1
	}
	return out
}

// scaled is a plan duration in wall time.
func scaled(d time.Duration, scale float64) time.Duration {
	return time.Duration(float64(d) * scale)
}

// now is the plan time elapsed, read from the monotonic clock.
func (w *world) now() time.Duration {
	return time.Duration(float64(time.Since(w.start)) / w.cfg.TimeScale)
}

// wait sleeps until plan time at, or until ctx ends (false then).
func (w *world) wait(ctx context.Context, at time.Duration) bool {
	t := time.NewTimer(time.Until(w.start.Add(scaled(at, w.cfg.TimeScale))))
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

func (w *world) logf(format string, args ...any) {
	if w.cfg.Log == nil {
		return
	}
	line := fmt.Sprintf("%8.3fs  %s\n", w.now().Seconds(), fmt.Sprintf(format, args...))
	w.logMu.Lock()
	defer w.logMu.Unlock()
	io.WriteString(w.cfg.Log, line)
}

// mark records a point on the run's timeline.
func (w *world) mark(node, kind, detail string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.marks = append(w.marks, checkers.Mark{At: w.now(), Node: node, Kind: kind, Detail: detail})
}

// boot starts every node and waits until each serves its socket; the
// plan's clock starts then, as the simulator's starts with its nodes.
func (w *world) boot(ctx context.Context) error {
	for i := range w.c.nodes {
		if err := w.c.start(i); err != nil {
			return err
		}
	}
	deadline := time.Now().Add(startWaitMax)
	for i, p := range w.c.nodes {
		for {
			if _, err := w.status(ctx, i); err == nil {
				break
			}
			if exits := w.c.exits(); len(exits) > 0 {
				return fmt.Errorf("world: a node did not start: %v (its log is %s in its data directory)", exits[0], logName)
			}
			if time.Now().After(deadline) || ctx.Err() != nil {
				return fmt.Errorf("world: %s did not serve its socket within %v (see %s/%s)", p.name, startWaitMax, p.dir, logName)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	for i := range w.c.nodes {
		if err := w.setFaults(ctx, i); err != nil {
			return err
		}
	}
	w.start = time.Now()
	for _, p := range w.c.nodes {
		w.mark(p.name, checkers.MarkStart, "incarnation 1")
	}
	w.logf("%d nodes up (tick %v, time scale %v)", len(w.c.nodes), scaled(sim.TickInterval, w.cfg.TimeScale), w.cfg.TimeScale)
	return nil
}

// setFaults gives node i the faults it runs with now: the network's loss
// and duplication, and its clock's rate.
func (w *world) setFaults(ctx context.Context, i int) error {
	w.mu.Lock()
	loss, dup, rate := w.loss, w.dup, w.clock[i]
	w.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, statusWait)
	defer cancel()
	conn, err := w.cfg.Dial(ctx, w.c.nodes[i].dir)
	if err != nil {
		return err
	}
	defer conn.Close()
	if err := conn.SetNetFaults(ctx, loss, dup); err != nil {
		return fmt.Errorf("world: %s: setting loss %v, duplicate %v: %w", w.c.nodes[i].name, loss, dup, err)
	}
	if err := conn.SetClockRate(ctx, rate); err != nil {
		return fmt.Errorf("world: %s: setting its clock's rate to %v: %w", w.c.nodes[i].name, rate, err)
	}
	return nil
}

// status asks node i for its status, within statusWait.
func (w *world) status(ctx context.Context, i int) (Status, error) {
	ctx, cancel := context.WithTimeout(ctx, statusWait)
	defer cancel()
	conn, err := w.cfg.Dial(ctx, w.c.nodes[i].dir)
	if err != nil {
		return Status{}, err
	}
	defer conn.Close()
	return conn.Status(ctx)
}

// run carries the plan out: faults and commands at their times, the
// workload and the observer throughout, until the plan's duration.
func (w *world) run(parent context.Context) {
	ctx, cancel := context.WithCancel(parent)
	defer cancel()
	var wg sync.WaitGroup
	observed := make(chan struct{})
	wg.Go(func() { w.observe(ctx, observed) })
	<-observed // selectors need a first view
	w.startCommands(ctx, &wg)
	w.startWorkload(ctx, &wg)
	w.runFaults(ctx, &wg)
	w.wait(ctx, w.plan.Duration)
	w.logf("the plan's %v are over", w.plan.Duration)
	cancel()
	wg.Wait()
	w.endWorkload()
	w.finalStatuses(parent)
}

// finalStatuses asks every running node for its status once the plan is
// over, each for at most finalWait.
func (w *world) finalStatuses(ctx context.Context) {
	w.final = make([]*Status, len(w.c.nodes))
	var wg sync.WaitGroup
	for i := range w.c.nodes {
		if running, paused := w.c.up(i); !running || paused {
			continue
		}
		wg.Go(func() {
			for deadline := time.Now().Add(finalWait); time.Now().Before(deadline) && ctx.Err() == nil; time.Sleep(20 * time.Millisecond) {
				if st, err := w.status(ctx, i); err == nil {
					w.final[i] = &st
					return
				}
			}
		})
	}
	wg.Wait()
}

// bootShape is the shape every member bootstraps: the first ControlPlane
// nodes (by ID, so n1..nK) hold the control plane; the last Outside nodes
// are no members.
func (w *world) bootShape() roles.Shape {
	members := make([]roles.Member, len(w.c.nodes)-w.plan.Outside)
	for i, p := range w.c.nodes[:len(members)] {
		members[i] = roles.Member{Node: p.id, Roles: roles.Worker}
		if i < w.plan.ControlPlane {
			members[i].Roles = roles.ControlPlane
		}
	}
	shape, err := roles.NewShape(members)
	if err != nil {
		panic(fmt.Sprintf("world: bootstrap shape: %v", err)) // distinct keys always make one
	}
	return shape
}

package main

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"revoada.dev/revoada/core/roles"
	"revoada.dev/revoada/core/topology"
	"revoada.dev/revoada/net/transport"
	"revoada.dev/revoada/real/host"
	"revoada.dev/revoada/real/tcp"
)

const nodeSynopsis = "node --listen HOST:PORT [--peer ID@HOST:PORT ...] [--target STRATEGY] [--data DIR]"

const nodeAbout = `Run one node of a mesh until SIGTERM or Ctrl-C, logging JSON lines
(log/slog) to stderr. The node talks to its peers over TCP with mutual TLS
1.3, each side authenticated by its node key (package real/tcp), listening
on --listen. Every node of a mesh is started with the same set of nodes:
itself and one --peer ID@HOST:PORT for each other (an ID is what
'revoada id' prints for that node's data directory). From that set every
node computes the same bootstrap shape: the first nodes by ID, as many as
the target wants for the mesh's size, hold the control plane, the others
are workers; and with more than one node, self-healing runs towards the
target (gossip membership beside raft, the leader's policy audit every
second). Start them again with the same flags: the mesh is named by its
bootstrap shape, and a node of another mesh is refused.

While it runs, the node serves the client verbs (apply, get, list, delete,
watch with --data DIR) on DIR/revoada.sock, as they serve one another: a
write through any node of the mesh is replicated, and a read is
linearizable, and 'revoada mesh status --data DIR' shows the mesh as the
node sees it. Joining a running mesh by address alone comes with the
production mesh's next steps (issue 12).`

// nodeFlags defines node's flags and returns the function that runs it.
func nodeFlags(e *env) (*flag.FlagSet, func() int) {
	fs := newFlagSet(e, "node")
	data := dataFlag(fs)
	listen := fs.String("listen", "", "the `HOST:PORT` to listen on for peers (required)")
	var peers peerFlags
	fs.Var(&peers, "peer", "another node of the mesh, as `ID@HOST:PORT` (repeat for each)")
	target := fs.String("target", "quorum-3m", "the topology `STRATEGY` self-healing restores: "+strategyNames())
	tick := fs.Duration("tick", host.DefaultTickInterval, "the length of one node tick")
	return fs, func() int {
		if fs.NArg() > 0 {
			return usageError(e, "node", "unexpected argument %q", fs.Arg(0))
		}
		if *listen == "" {
			return usageError(e, "node", "--listen HOST:PORT is required")
		}
		if _, _, err := net.SplitHostPort(*listen); err != nil {
			return usageError(e, "node", "--listen %q: %v", *listen, err)
		}
		strategy, err := topology.ByName(*target)
		if err != nil {
			return usageError(e, "node", "--target: %v", err)
		}
		if *tick <= 0 {
			return usageError(e, "node", "--tick %v: must be positive", *tick)
		}
		return runNode(e, nodeSpec{dir: *data, listen: *listen, peers: peers, target: strategy, tick: *tick})
	}
}

// nodeSpec is a parsed node command line.
type nodeSpec struct {
	dir, listen string
	peers       peerFlags
	target      topology.Strategy
	tick        time.Duration
}

// peer is one --peer.
type peer struct {
	id   roles.NodeID
	addr string
}

// peerFlags collects --peer ID@HOST:PORT.
type peerFlags []peer

func (p *peerFlags) String() string { return fmt.Sprint(len(*p), " peers") }

func (p *peerFlags) Set(s string) error {
	idText, addr, ok := strings.Cut(s, "@")
	if !ok {
		return fmt.Errorf("%q is not ID@HOST:PORT", s)
	}
	id, err := roles.ParseNodeID(idText)
	if err != nil {
		return fmt.Errorf("%q: %w", s, err)
	}
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return fmt.Errorf("%q: %w", s, err)
	}
	if slices.ContainsFunc(*p, func(q peer) bool { return q.id == id }) {
		return fmt.Errorf("%s given twice", id.Short())
	}
	*p = append(*p, peer{id: id, addr: addr})
	return nil
}

func strategyNames() string {
	var names []string
	for _, s := range topology.Builtin() {
		names = append(names, s.Name())
	}
	return strings.Join(names, ", ")
}

// bootstrapShape is the shape every node of the mesh computes from the same
// set of node IDs: sorted, the first target.ControlPlane of them hold the
// control plane, the rest are workers.
func bootstrapShape(ids []roles.NodeID, strategy topology.Strategy) (roles.Shape, error) {
	ids = slices.SortedFunc(slices.Values(ids), roles.NodeID.Compare)
	t, err := strategy.Target(len(ids))
	if err != nil {
		return roles.Shape{}, err
	}
	members := make([]roles.Member, len(ids))
	for i, id := range ids {
		members[i] = roles.Member{Node: id, Roles: roles.Worker}
		if i < t.ControlPlane {
			members[i].Roles = roles.ControlPlane
		}
	}
	return roles.NewShape(members)
}

// runNode runs the node until the context ends.
func runNode(e *env, spec nodeSpec) int {
	ctx, stop := e.interruptible()
	defer stop()
	log := slog.New(slog.NewJSONHandler(e.stderr, nil))
	self, err := host.Identity(spec.dir)
	if err != nil {
		return clientError(e, "node", err)
	}
	ids := []roles.NodeID{self}
	addrs := map[roles.NodeID]string{self: spec.listen}
	for _, p := range spec.peers {
		if p.id == self {
			return usageError(e, "node", "--peer %s is this node (%s)", p.id.Short(), spec.dir)
		}
		ids, addrs[p.id] = append(ids, p.id), p.addr
	}
	shape, err := bootstrapShape(ids, spec.target)
	if err != nil {
		return usageError(e, "node", "--target %s for %d nodes: %v", spec.target.Name(), len(ids), err)
	}
	cfg := host.Config{Dir: spec.dir, TickInterval: spec.tick, Bootstrap: shape, Peers: addrs, Logger: log,
		Transport: func(key ed25519.PrivateKey, hd transport.Handler) (transport.Transport, error) {
			return tcp.New(tcp.Config{Key: key, Mesh: shape.Digest(), Listen: spec.listen, Handler: hd, Logger: log})
		}}
	if len(ids) > 1 {
		cfg.Target = spec.target
	}
	h, err := host.Start(cfg)
	if err != nil {
		return clientError(e, "node", err)
	}
	srv, err := listen(filepath.Join(spec.dir, socketName), localNode{b: h.Backend(), h: h})
	if err != nil {
		log.Warn("the client verbs cannot use this data directory while the node runs", "err", err)
	}
	log.Info("node running", "id", self.String(), "listen", spec.listen, "nodes", len(ids), "mesh", shape.Digest().String())
	watchLeader(ctx, h, log)
	if srv != nil {
		srv.Close()
	}
	if err := h.Close(); err != nil {
		return clientError(e, "node", err)
	}
	log.Info("node stopped", "id", self.String())
	return exitOK
}

// watchLeader logs the node's view of raft whenever the leader or the term
// changes, and the policy's decisions as they come, until ctx ends.
func watchLeader(ctx context.Context, h *host.Node, log *slog.Logger) {
	var last host.Status
	var lastDecision string
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		st, err := h.Status(ctx)
		if errors.Is(err, context.Canceled) || ctx.Err() != nil {
			return
		}
		if err != nil {
			log.Error("node stopped", "err", err)
			return
		}
		if st.Raft.Term != last.Raft.Term || st.Raft.Lead != last.Raft.Lead {
			log.Info("raft", "term", st.Raft.Term, "leader", fmt.Sprintf("%016x", st.Raft.Lead), "state", st.Raft.State.String(), "applied", st.Applied)
		}
		if d := st.Decision; d != nil && fmt.Sprint(d.Shift, d.Withheld) != lastDecision {
			lastDecision = fmt.Sprint(d.Shift, d.Withheld)
			log.Info("policy", "decision", d.String(), "reachable", d.Reachable, "voters", d.Voters)
		}
		last = st
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

const idSynopsis = "id [--data DIR]"

const idAbout = `Print the node ID of the data directory: its ed25519 public key, in hex.
The directory and the node's key are made if they do not exist yet, so a
mesh's nodes can be told one another's IDs before any starts ('revoada
node --peer ID@HOST:PORT').`

// idFlags defines id's flags and returns the function that runs it.
func idFlags(e *env) (*flag.FlagSet, func() int) {
	fs := newFlagSet(e, "id")
	data := dataFlag(fs)
	return fs, func() int {
		if fs.NArg() > 0 {
			return usageError(e, "id", "unexpected argument %q", fs.Arg(0))
		}
		id, err := host.Identity(*data)
		if err != nil {
			return clientError(e, "id", err)
		}
		fmt.Fprintln(e.stdout, id)
		return exitOK
	}
}

// meshStatus is a node's view of its mesh, as 'revoada mesh status' shows
// it and the socket carries it.
type meshStatus struct {
	ID       string       `json:"id"`
	Term     uint64       `json:"term"`
	State    string       `json:"state"`  // this node's raft state
	Leader   string       `json:"leader"` // the node ID of the leader it knows, "" for none
	Applied  uint64       `json:"applied"`
	Nodes    []nodeStatus `json:"nodes"`
	Decision string       `json:"decision,omitempty"` // its last audit as leader
}

// nodeStatus is one node of the shape, with its gossiped health.
type nodeStatus struct {
	ID     string `json:"id"`
	Roles  string `json:"roles"`
	Health string `json:"health"`
}

// errNoMesh answers a mesh status from a node that runs no mesh.
var errNoMesh = errors.New("this data directory's node runs no mesh: start it with 'revoada node'")

func (n localNode) MeshStatus(ctx context.Context) (meshStatus, error) {
	if n.h == nil {
		return meshStatus{}, errNoMesh
	}
	st, err := n.h.Status(ctx)
	if err != nil {
		return meshStatus{}, err
	}
	health := map[roles.NodeID]string{}
	for _, m := range st.Members {
		health[m.State.Node] = m.Health.String()
	}
	out := meshStatus{ID: st.ID.String(), Term: st.Raft.Term, State: st.Raft.State.String(), Applied: st.Applied}
	for _, m := range st.Shape.Members() {
		if m.Node.RaftID() == st.Raft.Lead {
			out.Leader = m.Node.String()
		}
		h := health[m.Node]
		if h == "" {
			h = "unknown"
		}
		out.Nodes = append(out.Nodes, nodeStatus{ID: m.Node.String(), Roles: m.Roles.String(), Health: h})
	}
	if d := st.Decision; d != nil {
		out.Decision = d.String()
	}
	return out, nil
}

const meshSynopsis = "mesh status [--json] [--data DIR]"

const meshAbout = `Show the mesh as the node running on the data directory sees it: its raft
term and state, the leader, the applied index, every node of the shape with
its roles and its health in the node's gossip view, and — on the leader —
the policy's last decision with its reason. The node must be running
('revoada node'); its socket answers.`

// meshFlags defines mesh's flags and returns the function that runs it.
func meshFlags(e *env) (*flag.FlagSet, func() int) {
	fs := newFlagSet(e, "mesh")
	data := dataFlag(fs)
	asJSON := fs.Bool("json", false, "print the status as one JSON object")
	return fs, func() int {
		pos, code := positionals(e, command{name: "mesh", synopsis: meshSynopsis, about: meshAbout}, fs)
		if code >= 0 {
			return code
		}
		if len(pos) != 1 || pos[0] != "status" {
			return usageError(e, "mesh", "want 'mesh status'")
		}
		ctx, stop := e.interruptible()
		defer stop()
		rn, err := dialPatiently(ctx, e, filepath.Join(*data, socketName))
		if errors.Is(err, errNotServed) {
			err = fmt.Errorf("no revoada node runs on %s: %w", *data, err)
		}
		if err != nil {
			return clientError(e, "mesh", err)
		}
		defer rn.Close()
		st, err := rn.MeshStatus(ctx)
		if err != nil {
			return clientError(e, "mesh", err)
		}
		if *asJSON {
			b, _ := json.Marshal(st)
			fmt.Fprintf(e.stdout, "%s\n", b)
			return exitOK
		}
		printMeshStatus(e.stdout, st)
		return exitOK
	}
}

func printMeshStatus(w io.Writer, st meshStatus) {
	short := func(id string) string { return id[:min(len(id), 12)] }
	leader := "none"
	if st.Leader != "" {
		leader = short(st.Leader)
	}
	fmt.Fprintf(w, "node %s  %s  term %d  leader %s  applied %d\n", short(st.ID), st.State, st.Term, leader, st.Applied)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tROLES\tHEALTH\t")
	for _, n := range st.Nodes {
		mark := ""
		if n.ID == st.Leader {
			mark = "leader"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", short(n.ID), n.Roles, n.Health, mark)
	}
	tw.Flush()
	if st.Decision != "" {
		fmt.Fprintf(w, "policy: %s\n", st.Decision)
	}
}

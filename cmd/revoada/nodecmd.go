package main

import (
	"context"
	"crypto/ed25519"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"maps"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"text/tabwriter"
	"time"
	"unicode"

	"lukechampine.com/blake3"

	"revoada.dev/revoada/core/node"
	"revoada.dev/revoada/core/roles"
	"revoada.dev/revoada/core/topology"
	"revoada.dev/revoada/internal/atomicfile"
	"revoada.dev/revoada/net/transport"
	"revoada.dev/revoada/real/api"
	"revoada.dev/revoada/real/host"
	"revoada.dev/revoada/real/metrics"
	"revoada.dev/revoada/real/tcp"
)

const nodeSynopsis = "node --listen HOST:PORT [--join HOST:PORT,...] [--peer ID@HOST:PORT ...] [--mesh NAME] [--target STRATEGY] [--heal=false] [--tick D] [--metrics HOST:PORT [--metrics-remote]] [--api HOST:PORT --api-access FILE [--api-client-ca FILE]] [--data DIR]"

const nodeAbout = `Run one node of a mesh until SIGTERM or Ctrl-C, logging JSON lines
(log/slog) to stderr. The node talks to its peers over TCP with mutual TLS
1.3, each side authenticated by its node key (package real/tcp), listening
on --listen; nodes of meshes of other names (--mesh) refuse each other.

A new mesh's nodes are each started with all the others: --join HOST:PORT
for a node the node asks who it is when it answers (its ID is proven by
its key, and trusted on first use), or --peer ID@HOST:PORT for one whose
ID is known ('revoada id' prints a data directory's). The node waits until
every --join address has answered, then keeps the set in DIR/mesh.json:
later starts use it, whichever peers are up (flags given then must agree
with it). From the set every node computes the same bootstrap shape: the
first nodes by ID, as many as the target wants for the mesh's size, hold
the control plane, the others are workers; and with more than one node,
self-healing runs towards the target (gossip membership beside raft, the
leader's policy audit every second at the default --tick) unless
--heal=false. Time in the node is ticks: a shorter --tick runs raft, gossip
and the policy that much faster.

While it runs, the node serves the client verbs (apply, get, list, delete,
watch with --data DIR) on DIR/revoada.sock, as they serve one another: a
write through any node of the mesh is replicated, and a read is
linearizable, and 'revoada mesh status --data DIR' shows the mesh as the
node sees it. A node joins a running mesh with --joining, once a member
admits it ('revoada mesh admit').

With --api HOST:PORT --api-access FILE the node serves its store over
HTTPS (TLS 1.3; package real/api): the client verbs, 'mesh status' and
curl reach it from anywhere with --server https://HOST:PORT (several
nodes' URLs, comma-separated, are tried in turn) and --ca DIR/api.crt,
the certificate the node writes there. Every request but /livez and
/readyz needs credentials: a bearer token (--token-file) or a client
certificate signed by --api-client-ca (its common name is the user). The
access file maps tokens to users and users to roles, and denies the rest:

  {"tokens": {"TOKEN (16 bytes or more)": "alice"},
   "roles": {"alice": "admin", "ci": "read-write", "bob": "read-only"}}

read-only may get, list and watch; read-write also apply and delete;
admin also read the mesh's status.

With --metrics HOST:PORT the node serves its Prometheus metrics (etcd's
names with revoada_ for etcd_: raft, disk fsync, per-peer network,
membership, policy audits, request latency per verb) at
http://HOST:PORT/metrics, in plain HTTP on a listener of its own, as etcd's
--listen-metrics-urls does; off by default. HOST must be a loopback
address (127.0.0.1, ::1, localhost) unless --metrics-remote is given too:
the endpoint has no TLS and no authentication. Scrape it with
'curl -s http://127.0.0.1:PORT/metrics'.`

// nodeFlags defines node's flags and returns the function that runs it.
func nodeFlags(e *env) (*flag.FlagSet, func() int) {
	fs := newFlagSet(e, "node")
	data := dataFlag(fs)
	listen := fs.String("listen", "", "the `HOST:PORT` to listen on for peers (required)")
	var peers peerFlags
	fs.Var(&peers, "peer", "another node of the mesh, as `ID@HOST:PORT` (repeat for each)")
	var joiners peerFlags
	fs.Var(&joiners, "joiner", "a node that is to join the mesh later (it starts with --joining), as `ID@HOST:PORT`: no part of the bootstrap shape, "+
		"reached there once admitted whatever address its Join carries (repeatable; 'revoada real' pins its proxies so)")
	var join joinFlags
	fs.Var(&join, "join", "other nodes of the mesh, as `HOST:PORT,...`, asked who they are (repeatable)")
	mesh := fs.String("mesh", "revoada", "the mesh's `NAME`: nodes of meshes of other names refuse each other")
	target := fs.String("target", "quorum-3m", "the topology `STRATEGY` self-healing restores: "+strategyNames())
	tick := fs.Duration("tick", host.DefaultTickInterval, "the length of one node tick")
	memberlist := fs.String("memberlist", "", "run membership over hashicorp/memberlist listening on `IP:PORT` (UDP and TCP) instead of the core's gossip through the peer connections")
	var mlJoin joinFlags
	fs.Var(&mlJoin, "memberlist-join", "other nodes' memberlist addresses, as `HOST:PORT,...` (with --memberlist)")
	joining := fs.Bool("joining", false, "join a running mesh, of which the --join and --peer nodes are members: stay outside, silent, until a member admits this node ('revoada mesh admit ID@HOST:PORT')")
	heal := fs.Bool("heal", true, "run self-healing towards --target; false: the target only sets the bootstrap shape")
	metricsAddr := fs.String("metrics", "", "serve Prometheus metrics at http://`HOST:PORT`/metrics (a loopback address unless --metrics-remote)")
	metricsRemote := fs.Bool("metrics-remote", false, "let --metrics listen on an address other hosts can reach (plain HTTP, no authentication)")
	var apiOpts apiSpec
	fs.StringVar(&apiOpts.listen, "api", "", "serve the store over HTTPS at `HOST:PORT` (needs --api-access); the certificate is written to DIR/"+apiCertFile)
	fs.StringVar(&apiOpts.access, "api-access", "", "the API's access `FILE`: bearer tokens and users' roles (JSON; see 'revoada help node')")
	fs.StringVar(&apiOpts.clientCA, "api-client-ca", "", "a `FILE` (PEM) of the CAs whose client certificates the API takes (the subject's common name is the user)")
	store := backendFlags(fs)
	advertise := fs.String("advertise", "", "the `HOST:PORT` peers are told to reach this node at (gossiped; default --listen); "+
		advertiseNone+": none, so peers keep the addresses they were given (a fault proxy per link, as 'revoada real' runs)")
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
		if *mesh == "" {
			return usageError(e, "node", "--mesh: an empty name")
		}
		if len(mlJoin) > 0 && *memberlist == "" {
			return usageError(e, "node", "--memberlist-join needs --memberlist IP:PORT")
		}
		if *joining && len(peers)+len(join) == 0 {
			return usageError(e, "node", "--joining needs a member of the mesh: --join HOST:PORT or --peer ID@HOST:PORT")
		}
		if *metricsAddr == "" && *metricsRemote {
			return usageError(e, "node", "--metrics-remote needs --metrics HOST:PORT")
		}
		if *metricsAddr != "" {
			if err := metrics.CheckAddr(*metricsAddr, *metricsRemote); err != nil {
				return usageError(e, "node", "--metrics: %v", err)
			}
		}
		if err := checkAPISpec(apiOpts); err != nil {
			return usageError(e, "node", "%v", err)
		}
		if err := store.checkNode(*data); err != nil {
			return usageError(e, "node", "%v", strings.TrimPrefix(err.Error(), "usage: "))
		}
		adv := *advertise
		switch {
		case adv == "":
			adv = *listen
		case adv == advertiseNone:
			adv = ""
		default:
			if _, _, err := net.SplitHostPort(adv); err != nil {
				return usageError(e, "node", "--advertise %q: %v", adv, err)
			}
		}
		return runNode(e, nodeSpec{dir: *data, listen: *listen, advertise: adv, peers: peers, joiners: joiners, join: join, joining: *joining, memberlist: *memberlist, mlJoin: mlJoin, mesh: *mesh, target: strategy, tick: *tick, heal: *heal,
			metrics: *metricsAddr, metricsRemote: *metricsRemote, api: apiOpts, store: store})
	}
}

// advertiseNone is --advertise's value for gossiping no address.
const advertiseNone = "none"

// nodeSpec is a parsed node command line.
type nodeSpec struct {
	dir, listen string
	advertise   string // gossiped as where peers reach it; "" for nothing
	peers       peerFlags
	joiners     peerFlags // nodes to join later: their addresses, not members
	join        joinFlags
	joining     bool      // joins a running mesh: peers and join are some of its members
	memberlist  string    // memberlist's HOST:PORT; "" for the core's gossip
	mlJoin      joinFlags // other nodes' memberlist addresses
	mesh        string
	target      topology.Strategy
	tick        time.Duration
	heal        bool // self-healing towards target
	// metrics is where /metrics is served ("" for nowhere); metricsRemote
	// allows a non-loopback address.
	metrics       string
	metricsRemote bool
	api           apiSpec // the HTTPS API; none without a listen address
	// store is the store the socket and the API serve: the node's own
	// (mesh), or a federation or audit in front of it and others.
	store *backendOpts
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
	id, addr, err := parsePeer(s)
	if err != nil {
		return err
	}
	if slices.ContainsFunc(*p, func(q peer) bool { return q.id == id }) {
		return fmt.Errorf("%s given twice", id.Short())
	}
	*p = append(*p, peer{id: id, addr: addr})
	return nil
}

// parsePeer parses ID@HOST:PORT.
func parsePeer(s string) (roles.NodeID, string, error) {
	idText, addr, ok := strings.Cut(s, "@")
	if !ok {
		return roles.NodeID{}, "", fmt.Errorf("%q is not ID@HOST:PORT", s)
	}
	id, err := roles.ParseNodeID(idText)
	if err != nil {
		return roles.NodeID{}, "", fmt.Errorf("%q: %w", s, err)
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return roles.NodeID{}, "", fmt.Errorf("%q: %w", s, err)
	}
	if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 || host == "" || strings.ContainsFunc(host, unicode.IsSpace) {
		return roles.NodeID{}, "", fmt.Errorf("%q: want HOST:PORT, a host name or IP and a port in 1..65535", s)
	}
	return id, addr, nil
}

// joinFlags collects --join HOST:PORT,...
type joinFlags []string

func (j *joinFlags) String() string { return strings.Join(*j, ",") }

func (j *joinFlags) Set(s string) error {
	for addr := range strings.SplitSeq(s, ",") {
		if _, _, err := net.SplitHostPort(addr); err != nil {
			return fmt.Errorf("%q: %w", addr, err)
		}
		if slices.Contains(*j, addr) {
			return fmt.Errorf("%s given twice", addr)
		}
		*j = append(*j, addr)
	}
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
	ctx, left := context.WithCancel(ctx)
	defer left()
	log := slog.New(slog.NewJSONHandler(e.stderr, nil))
	key, err := host.Key(spec.dir)
	if err != nil {
		return clientError(e, "node", err)
	}
	self := tcp.NodeID(key)
	// The transport first: it answers the others' Identify while this node
	// learns who its peers are; what peers send before the node runs is
	// dropped (raft and gossip send again).
	var late lateHandler
	tr, err := tcp.New(tcp.Config{Key: key, Mesh: meshDigest(spec.mesh), Listen: spec.listen, Handler: &late, Logger: log})
	if err != nil {
		return clientError(e, "node", err)
	}
	members, err := meshMembers(ctx, log, tr, spec, self)
	if err != nil {
		tr.Close()
		if errors.Is(err, errUsage) {
			return usageError(e, "node", "%v", err)
		}
		return clientError(e, "node", err)
	}
	ids := slices.Collect(maps.Keys(members))
	var shape roles.Shape
	if spec.joining {
		// A guess at the mesh: its members the node was told of, as
		// voters, without this node; the first leader's notice replaces it.
		var seeds []roles.Member
		for _, id := range ids {
			if id != self {
				seeds = append(seeds, roles.Member{Node: id, Roles: roles.ControlPlane})
			}
		}
		shape, err = roles.NewShape(seeds)
	} else {
		shape, err = bootstrapShape(ids, spec.target)
	}
	if err != nil {
		tr.Close()
		return usageError(e, "node", "--target %s for %d nodes: %v", spec.target.Name(), len(ids), err)
	}
	// The transport can lose and duplicate messages when told to through
	// the socket (opNetFaults): 'revoada real's fault injection. It starts
	// faultless.
	faulty := transport.NewFaulty(tr, seedOf(self))
	cfg := host.Config{Dir: spec.dir, TickInterval: spec.tick, Bootstrap: shape, Peers: withJoiners(members, spec.joiners, self), Logger: log, Advertise: spec.advertise,
		Join: spec.joining, Transport: func(ed25519.PrivateKey, transport.Handler) (transport.Transport, error) { return faulty, nil }}
	if len(ids) > 1 && spec.heal {
		cfg.Target = spec.target
	}
	if spec.memberlist != "" {
		cfg.Memberlist, cfg.Mesh = &host.Memberlist{Bind: spec.memberlist, Seeds: spec.mlJoin}, spec.mesh
	}
	var reg *metrics.Metrics
	var metricsSrv *metrics.Server
	if spec.metrics != "" {
		reg = metrics.New()
		if metricsSrv, err = metrics.Listen(spec.metrics, spec.metricsRemote, reg); err != nil {
			tr.Close()
			return clientError(e, "node", err)
		}
		defer metricsSrv.Close()
		cfg.Observer = reg
	}
	h, err := host.Start(cfg)
	if err != nil {
		tr.Close()
		return clientError(e, "node", err)
	}
	late.h.Store(h)
	if reg != nil {
		if err := reg.Watch(h, tr); err != nil {
			h.Close()
			return clientError(e, "node", err)
		}
		log.Info("metrics served", "url", metricsSrv.URL())
	}
	served, closeStore, err := spec.store.open(spec.dir, h.Backend())
	if err != nil {
		h.Close()
		return clientError(e, "node", err)
	}
	defer func() {
		if err := closeStore(); err != nil {
			log.Warn("closing the stores in front of the mesh", "err", err)
		}
	}()
	local := localNode{b: served, h: h, left: left, faults: faulty}
	srv, err := listen(filepath.Join(spec.dir, socketName), local)
	if err != nil {
		log.Warn("the client verbs cannot use this data directory while the node runs", "err", err)
	}
	apiSrv, err := startAPI(spec.api, spec.dir, key, local)
	if err != nil {
		if srv != nil {
			srv.Close()
		}
		h.Close()
		return clientError(e, "node", err)
	}
	if apiSrv != nil {
		defer apiSrv.Close()
		log.Info("api served", "url", "https://"+apiSrv.Addr(), "ca", filepath.Join(spec.dir, apiCertFile))
	}
	log.Info("node running", "id", self.String(), "listen", spec.listen, "nodes", len(ids), "mesh", spec.mesh)
	watchLeader(ctx, h, log)
	if apiSrv != nil {
		// Before the node: its watches end as a closing server's (the
		// client resumes them through the next), and the requests in
		// flight finish, rather than end in "host: node closed".
		apiSrv.Close()
	}
	if srv != nil {
		srv.Close()
	}
	if err := h.Close(); err != nil {
		return clientError(e, "node", err)
	}
	log.Info("node stopped", "id", self.String())
	return exitOK
}

// withJoiners is where the transport reaches each node: the members, and
// the nodes to join later that are no members (an address pinned so is
// one a Join of that node does not replace, as for a member).
func withJoiners(members map[roles.NodeID]string, joiners peerFlags, self roles.NodeID) map[roles.NodeID]string {
	out := maps.Clone(members)
	for _, j := range joiners {
		if _, member := out[j.id]; !member && j.id != self {
			out[j.id] = j.addr
		}
	}
	return out
}

// seedOf is a seed for the node's fault draws: its ID's first bytes and
// the start time, so restarts draw anew.
func seedOf(id roles.NodeID) uint64 {
	return binary.BigEndian.Uint64(id[:8]) ^ uint64(time.Now().UnixNano())
}

// meshDigest names a mesh in every connection's Hello: nodes of meshes
// named otherwise refuse one another.
func meshDigest(name string) roles.Digest {
	return roles.Digest(blake3.Sum256([]byte("revoada mesh name\x00" + name)))
}

// lateHandler hands what the transport delivers to the host once it runs,
// and drops it before.
type lateHandler struct{ h atomic.Pointer[host.Node] }

func (l *lateHandler) Receive(m node.Message) {
	if h := l.h.Load(); h != nil {
		h.Receive(m)
	}
}

func (l *lateHandler) Report(r transport.Report) {
	if h := l.h.Load(); h != nil {
		h.Report(r)
	}
}

// membersFile keeps a mesh's members in its nodes' data directories: the
// bootstrap shape is computed from them, so every later start of the node
// uses the same set, whichever of its peers are up.
const membersFile = "mesh.json"

// meshFile is membersFile's content.
type meshFile struct {
	Mesh  string            `json:"mesh"`
	Nodes map[string]string `json:"nodes"` // node ID (hex) → address
	// Joining: the node joined a running mesh (--joining), and Nodes are
	// the members it was told of, not a bootstrap set.
	Joining bool `json:"joining,omitempty"`
}

// errUsage marks a member set the command line got wrong.
var errUsage = errors.New("usage")

// meshMembers is the mesh's members and where they listen: from the data
// directory's membersFile when the node started before, else from the
// command line — --peer as given, and each --join address asked who it is
// (Identify) until every one has answered — written to membersFile then.
func meshMembers(ctx context.Context, log *slog.Logger, tr *tcp.Transport, spec nodeSpec, self roles.NodeID) (map[roles.NodeID]string, error) {
	path := filepath.Join(spec.dir, membersFile)
	if data, err := os.ReadFile(path); err == nil {
		return readMembers(data, spec, self)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	members := map[roles.NodeID]string{self: spec.listen}
	for _, p := range spec.peers {
		if p.id == self {
			return nil, fmt.Errorf("%w: --peer %s is this node (%s)", errUsage, p.id.Short(), spec.dir)
		}
		members[p.id] = p.addr
	}
	for _, addr := range spec.join {
		id, err := identifyPatiently(ctx, log, tr, addr)
		if err != nil {
			return nil, err
		}
		if _, dup := members[id]; dup {
			return nil, fmt.Errorf("%w: --join %s is node %s, given already", errUsage, addr, id.Short())
		}
		members[id] = addr
	}
	f := meshFile{Mesh: spec.mesh, Nodes: map[string]string{}, Joining: spec.joining}
	for id, addr := range members {
		f.Nodes[id.String()] = addr
	}
	data, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return nil, err
	}
	if err := atomicfile.Write(path, append(data, '\n')); err != nil {
		return nil, fmt.Errorf("keeping the mesh's members: %w", err)
	}
	return members, nil
}

// readMembers reads a membersFile; a mesh name or member set other than
// the command line's is refused, so a node never runs with a set its
// peers do not share.
func readMembers(data []byte, spec nodeSpec, self roles.NodeID) (map[roles.NodeID]string, error) {
	var f meshFile
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("%s: %w", membersFile, err)
	}
	members := map[roles.NodeID]string{}
	for idText, addr := range f.Nodes {
		id, err := roles.ParseNodeID(idText)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", membersFile, err)
		}
		members[id] = addr
	}
	switch {
	case f.Joining != spec.joining:
		return nil, fmt.Errorf("%w: this node %s (%s); start it with --joining=%v", errUsage,
			map[bool]string{true: "joined a running mesh", false: "bootstrapped its mesh"}[f.Joining], membersFile, f.Joining)
	case f.Mesh != spec.mesh:
		return nil, fmt.Errorf("%w: this node belongs to mesh %q (%s), not %q", errUsage, f.Mesh, membersFile, spec.mesh)
	case members[self] != spec.listen:
		return nil, fmt.Errorf("%w: this node listens on %s (%s), not %s", errUsage, members[self], membersFile, spec.listen)
	case len(spec.peers)+len(spec.join) > 0 && len(spec.peers)+len(spec.join) != len(members)-1:
		return nil, fmt.Errorf("%w: %d other nodes given, the mesh has %d (%s)", errUsage, len(spec.peers)+len(spec.join), len(members)-1, membersFile)
	}
	for _, p := range spec.peers {
		if members[p.id] != p.addr {
			return nil, fmt.Errorf("%w: --peer %s@%s is not a member at that address (%s)", errUsage, p.id.Short(), p.addr, membersFile)
		}
	}
	return members, nil
}

// identifyPatiently asks the node at addr who it is until it answers (the
// other nodes of a new mesh start when they start), or ctx ends.
func identifyPatiently(ctx context.Context, log *slog.Logger, tr *tcp.Transport, addr string) (roles.NodeID, error) {
	wait := 100 * time.Millisecond
	for logged := false; ; {
		id, err := tr.Identify(ctx, addr)
		if err == nil {
			log.Info("peer identified", "addr", addr, "id", id.String())
			return id, nil
		}
		if !logged {
			log.Info("waiting for a peer to answer", "addr", addr, "err", err.Error())
			logged = true
		}
		select {
		case <-ctx.Done():
			return roles.NodeID{}, fmt.Errorf("--join %s never answered: %w", addr, ctx.Err())
		case <-time.After(wait):
		}
		wait = min(2*wait, 2*time.Second)
	}
}

// watchLeader logs the node's view of raft whenever the leader or the term
// changes, and the policy's decisions as they come, until ctx ends.
func watchLeader(ctx context.Context, h *host.Node, log *slog.Logger) {
	var last host.Status
	var lastDecision string
	member := false // the node has been in the shape it knows, in this run
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
		if member && !st.InShape {
			// Removed by a Leave it did not send itself (mesh remove), as
			// etcd stops a member removed from its cluster. A node that
			// starts outside the shape (joining, or gone) keeps running.
			log.Info("removed from the mesh: the node stops", "applied", st.Applied)
			return
		}
		member = member || st.InShape
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
// it (real/api's).
type (
	meshStatus = api.MeshStatus
	nodeStatus = api.NodeStatus
)

// errNoMesh answers a mesh status from a node that runs no mesh.
var errNoMesh = errors.New("this data directory's node runs no mesh: start it with 'revoada node'")

func (n localNode) Admit(ctx context.Context, id roles.NodeID, addr string) (bool, error) {
	if n.h == nil {
		return false, errNoMesh
	}
	return n.h.Admit(ctx, id, addr)
}

func (n localNode) Leave(ctx context.Context) error {
	if n.h == nil {
		return errNoMesh
	}
	if err := n.h.Leave(ctx); err != nil {
		return err
	}
	if n.left != nil {
		n.left()
	}
	return nil
}

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

const meshSynopsis = "mesh status [--json] " + targetSynopsis + " | mesh admit ID@HOST:PORT [--data DIR] | mesh leave [--data DIR] | mesh remove ID [--data DIR]"

const meshAbout = `status shows the mesh as the node running on the data directory sees it:
its raft term and state, the leader, the applied index, every node of the
shape with its roles and its health in the node's gossip view, and — on the
leader — the policy's last decision with its reason.

admit makes the node ID, listening at HOST:PORT, a member of the mesh, a
worker the policy may promote: a Join command through the log, which
carries the address to every member. That node runs 'revoada node
--joining' and stays outside, silent, until then ('revoada id' on its
data directory prints its ID).

leave takes the node out of its mesh for good: a Leave command through the
log (an etcd holder leaves the raft voters by joint consensus; a leader
hands its leadership over first, and the policy replaces what it held). It
returns once the node knows it left, and the node then stops. The last etcd
holder cannot leave.

remove takes another node out of the mesh for good, through the node on the
data directory: a node that died and will not come back. A Leave command
through the log, as for leave; the leader holds it while the voters it would
leave lack a live majority, or while the policy can promote a replacement
first, and it times out if that never comes. A removed node that runs, or
runs again, stops once it learns it was removed (as etcd stops a removed
member); one that started outside the shape refuses clients ("not a
member") until it is stopped.

The node must be running ('revoada node'); its socket answers.`

// meshFlags defines mesh's flags and returns the function that runs it.
func meshFlags(e *env) (*flag.FlagSet, func() int) {
	fs := newFlagSet(e, "mesh")
	data, srv := dataFlag(fs), serverFlags(fs)
	asJSON := fs.Bool("json", false, "print the status as one JSON object")
	return fs, func() int {
		pos, code := positionals(e, command{name: "mesh", synopsis: meshSynopsis, about: meshAbout}, fs)
		if code >= 0 {
			return code
		}
		var admitID, removeID roles.NodeID
		var admitAddr string
		switch {
		case len(pos) == 2 && pos[0] == "admit":
			var err error
			if admitID, admitAddr, err = parsePeer(pos[1]); err != nil {
				return usageError(e, "mesh", "admit: %v", err)
			}
		case len(pos) == 2 && pos[0] == "remove":
			var err error
			if removeID, err = roles.ParseNodeID(pos[1]); err != nil {
				return usageError(e, "mesh", "remove: %q: %v", pos[1], err)
			}
		case len(pos) != 1 || pos[0] != "status" && pos[0] != "leave":
			return usageError(e, "mesh", "want 'mesh status', 'mesh admit ID@HOST:PORT', 'mesh leave' or 'mesh remove ID'")
		}
		if pos[0] == "status" && *srv.server != "" {
			return withTarget(e, "mesh", *data, srv, func(ctx context.Context, n nodeClient) int {
				return printStatus(ctx, e, n, *asJSON)
			})
		}
		if *srv.server != "" {
			return usageError(e, "mesh", "%s: not served over the HTTPS API (--server): run it with --data on the node's host", pos[0])
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
		if pos[0] == "admit" {
			changed, err := rn.Admit(ctx, admitID, admitAddr)
			if err != nil {
				return clientError(e, "mesh", err)
			}
			if !changed {
				fmt.Fprintf(e.stdout, "%s is a member already: nothing changed\n", admitID.Short())
				return exitOK
			}
			fmt.Fprintf(e.stdout, "admitted %s at %s\n", admitID.Short(), admitAddr)
			return exitOK
		}
		if pos[0] == "remove" {
			return meshRemove(ctx, e, rn, removeID)
		}
		if pos[0] == "leave" {
			if err := rn.Leave(ctx); err != nil {
				return clientError(e, "mesh", err)
			}
			fmt.Fprintln(e.stdout, "left the mesh; the node stops")
			return exitOK
		}
		return printStatus(ctx, e, rn, *asJSON)
	}
}

// printStatus prints the mesh status n reports, as a table or JSON.
func printStatus(ctx context.Context, e *env, n nodeClient, asJSON bool) int {
	st, err := n.MeshStatus(ctx)
	if err != nil {
		return clientError(e, "mesh", err)
	}
	if asJSON {
		b, _ := json.Marshal(st)
		fmt.Fprintf(e.stdout, "%s\n", b)
		return exitOK
	}
	printMeshStatus(e.stdout, st)
	return exitOK
}

// meshRemove submits a Leave of another node through rn.
func meshRemove(ctx context.Context, e *env, rn nodeClient, id roles.NodeID) int {
	st, err := rn.MeshStatus(ctx)
	if err != nil {
		return clientError(e, "mesh", err)
	}
	if st.ID == id.String() {
		return usageError(e, "mesh", "remove: %s is the node on this data directory: use 'mesh leave'", id.Short())
	}
	if !slices.ContainsFunc(st.Nodes, func(n nodeStatus) bool { return n.ID == id.String() }) {
		fmt.Fprintf(e.stdout, "%s is not a member: nothing changed\n", id.Short())
		return exitOK
	}
	if err := rn.Shift(ctx, roles.Shift{{Kind: roles.Leave, Node: id, Reason: roles.Operator}}); err != nil {
		return clientError(e, "mesh", err)
	}
	fmt.Fprintf(e.stdout, "removed %s\n", id.Short())
	return exitOK
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

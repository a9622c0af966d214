// Package scenarios turns YAML scenario files into *sim.Plan values and holds
// the named library of built-in scenarios.
//
// # Format
//
// A scenario file is one YAML document holding one mapping:
//
//	name: leader-kill            # required, [a-z0-9-]+, at most NameBytesMax bytes
//	description: free text       # optional
//	nodes: 5                     # required, 1..sim.NodesMax
//	control_plane: 3             # required, 1..nodes
//	outside: 1                   # optional, 0..nodes-control_plane: the last start outside the shape
//	duration: 120s               # required, Go duration syntax, in (0, sim.DurationMax]
//	target: quorum-3m            # optional; a topology strategy, or {voters: 3}
//	policy: {audit_every: 1s, grace: 3s, damper: 60s, stabilize: 5s, phi_threshold: 8}
//	network:                     # optional; every field has a default
//	  latency: {min: 1ms, max: 10ms, distribution: uniform}
//	  loss: 0.0                  # probabilities in [0, 1]
//	  duplicate: 0.0
//	  bandwidth: 10MB/s          # optional: what each node can send
//	  queue: 256KB               # optional, with bandwidth: bytes held unsent
//	  links:                     # optional; per-link latency, loss, bandwidth
//	    - {from: n1, to: [n2, n3], latency: {min: 50ms, max: 80ms}, loss: 0.05}
//	workload:                    # optional; resource traffic from simulated clients
//	  clients: 4                 # required, 1..sim.ClientsMax
//	  rate: 50/s                 # required, operations per second (/s) or minute (/m)
//	  keys: 20                   # required, 1..sim.KeysMax, and at least clients/sim.ClientsPerKeyMax
//	  face: kubernetes           # required: kubernetes, nomad, systemd, pureraft or baremetal
//	  mix: {apply: 5, get: 3, list: 1, delete: 1, watch: 1}
//	  cas: 0.3                   # shares in [0, 1]
//	  local: 0.1
//	  pacing: end                # optional: a client's pause counts from its operation's end,
//	                             # not its start (the old pacing; plans frozen before keep it)
//	faults:                      # optional; at most ItemsMax
//	  - {at: 20s, crash: leader, for: 25s}
//	  - {at: 10s, clock: n3, rate: 1.05, for: 60s}
//	  - {at: 50s, partition: [[leader], {not: [leader]}], for: 10s}
//	  - {at: 70s, clog: n2, for: 5s}
//	  - {at: 80s, link: {from: n4, latency: {min: 200ms, max: 2s, distribution: pareto}}, for: 20s}
//	commands:                    # optional; at most ItemsMax
//	  - {at: 30s, promote: n4, roles: control-plane, reason: scaling-up, to: n2}
//	  - at: 40s                  # one shift: several commands, all or nothing
//	    shift:
//	      - {promote: n5, reason: rebalance}
//	      - {demote: n1, reason: rebalance}
//	expect:                      # optional
//	  converge: {within: 30s, control_plane: 3}
//	  commands_complete: true
//	  progress: 0.5              # only with a workload
//
// A workload (sim.Workload) is the operations of `clients` clients over the
// resources key-0 .. key-<keys-1>, all of one kind of the face. `rate` is a
// decimal number, without exponent, followed by /s or /m: the clients
// together issue about that many operations per second or per minute. It
// must be positive and at most sim.RateMax per second; it is held per second,
// and Marshal writes it so ("10/m" comes back as "0.16666666666666666/s").
// `mix` weighs the verbs apply, get, list, delete and watch: integers in
// 0..WeightMax, not all zero, a verb left out weighing zero; without `mix`
// the weights are {apply: 5, get: 3, list: 1, delete: 1, watch: 0}. `cas` is
// the share of applies and deletes made with an expected revision, `local`
// the share of gets and lists asked as local reads; both default to 0.
//
// A target (sim.Plan.Target) turns on self-healing: gossip membership on
// every node and the policy on the leader, steering the mesh toward the
// target's shape. It is the name of a built-in topology strategy (solo, pair,
// quorum-3m, cluster-3m-nw, mesh-all-peers or phalanx; see topology.ByName,
// which also reads underscores as hyphens, and Parse keeps the canonical
// name), or a mapping `{voters: N}` of explicit counts, which becomes Target
// "explicit" with TargetVoters N (and N control-plane nodes). An explicit
// target is checked against the mesh with topology.Validate when the file is
// read: more voters than nodes, or an even count, is an error at the target
// line saying why, as no run could ever meet it. `policy` (sim.PolicyKnobs)
// tunes the policy: audit_every, grace, damper and stabilize are durations in
// (0, sim.DurationMax], phi_threshold a number in (0, PhiThresholdMax]; a
// field left out takes the policy's default (1s, 3s, 60s, 5s and 8).
//
// The network (sim.Network) draws each message's latency from
// `distribution` over [min, max]: uniform (the default), normal (mean in the
// middle, standard deviation a sixth of the span, clamped) or pareto, the
// long tail: half the messages take less than min plus 0.6% of the span,
// 2.7% more than a tenth of it, and one in a thousand reaches max (see
// sim.Pareto). `bandwidth` (bytes per second: an integer and a unit, B, KB,
// MB or GB, or KiB, MiB or GiB, then /s) makes each node send its messages
// one after the other, each taking its size (sim.MessageBytes) over the
// bandwidth; `queue` (a size, such as 64KB; it defaults to one second of
// the bandwidth and is valid only with one) is the most bytes a node holds
// unsent: a message that finds more than that waiting is dropped and
// counted (sim.Stats.QueueDrops), and one that finds room is taken whole,
// however large. `links` is a list of at most sim.LinksMax links,
// each `{from, to, one_way, latency, loss, bandwidth, queue}`: the messages
// from a node of `from` to a node of `to` (a node name, or a list of them;
// without `to`, every other node), and back unless `one_way: true`, take
// the link's latency (fields left out take the network's), are lost with
// its `loss` on top of the network's (independently: a message crosses with
// probability (1-network)(1-link)), and, with a bandwidth, go through a pipe
// of their own each way shared by every pair the link covers, after their
// sender's. Where two links cover the same pair, the later one in the list
// holds.
//
// A node selector (sim.Selector) is a node name (n1 .. n<nodes>) or one of
// leader, follower (a live voter other than the leader), random-voter,
// random-worker, random (any live node), minority and majority (a random
// minority or majority of the voters), picked when the fault or command
// fires. Where a fault takes a selector, `{not: [S, ...]}` (or `{not: S}`)
// also picks every node of the mesh, up or down, that none of the listed
// selectors picks (sim.Not); a not lists no not, and a command's target or
// a script operation's node cannot be one.
//
// Every fault has `at` (a duration from the start of the run, before its
// end) and exactly one kind key:
//
//   - crash, restart, pause, resume: a node selector or a not;
//   - partition: a selector or a not (one group of those nodes), a flat list
//     of selectors (one group) or a list of groups, each a non-empty list of
//     selectors or a not; nodes named in no group form one more group. A
//     named node (nN or leader) may appear in at most one group, at most one
//     group is a not, and it must list every named node another group
//     holds; a selector it lists that another group also names stands for
//     the nodes picked there, so [[random-voter], {not: [random-voter]}]
//     cuts one voter off from the rest. `one_way: true` cuts only the
//     messages from the first group to the rest;
//     `partition: n3` (or `[n3]`) isolates one node. `bridge` (a selector of
//     one node) takes a node out of its group (unless it is the group's only
//     node): it reaches every group and every group reaches it, while the
//     groups stay cut from each other (Jepsen's bridge:
//     [[n1, n2], [n4, n5]] with bridge n3). `traffic` (raft, gossip or
//     requests: forwarded client requests and their answers) cuts only that
//     class of messages, so that membership and consensus can disagree
//     about who is reachable;
//   - ring: a list of at least two node names, each once, or true for a
//     random order of every node: each node reaches only its two
//     neighbours in the ring, and a node not in it reaches no one (with
//     five nodes each sees a majority, none the same one: Jepsen's
//     majorities ring). `traffic` as for partition. A ring is a partition:
//     it replaces the one in force, and heal removes it;
//   - heal: true (remove every partition and ring);
//   - loss, duplicate, chaos: a rate in [0, 1];
//   - clock: a node selector or a not, with at least one of `rate`, the
//     speed of the node's clock relative to true time, in (0, ClockRateMax]
//     (1.05 runs 5% fast, 0.95 5% slow); `jitter`, the most each tick's
//     interval varies either way, as a share in (0, sim.JitterMax] (0.2: each
//     interval is drawn from ±20% of its length, from the node's own random
//     stream); and `jump`, a non-zero duration (negative steps back, at most
//     sim.ClockJumpMax either way) by which the node's wall clock steps. Time
//     in the core is ticks, counted as a production node's monotonic ticker
//     counts them, so a jump must change nothing a node decides; the trace
//     shows the stepped wall clock when the node starts;
//   - link: a link as under network (`from` and `to` may be any selectors
//     or nots, picked when the fault fires; fields left out take the
//     network's latency, no loss, no bandwidth), in force over the
//     network's links until the fault is undone;
//   - clog: a node selector or a not: every message to or from the nodes is
//     held, not dropped, until `for` (required) ends, then goes on with the
//     rest of its latency (FoundationDB's clogging);
//   - swizzle: true, or a selector or a not: the nodes it picks (with true,
//     a random subset of the mesh) are clogged one by one in a random order,
//     evenly over the first half of `for` (required), then unclogged in
//     reverse order over the second half (FoundationDB's swizzle clogging);
//     a run's materialized plan holds the clogs it made;
//   - disk: a node selector or a not, with `mode` (required): corrupt
//     (blocks of the disk are corrupted: checksums must catch them, so the
//     node never starts from that disk again; no `for`), tamper (a block of
//     the role history in the node's snapshot is altered and every checksum
//     made good, as by an attacker, and the node rebooted a second later:
//     it must refuse a history whose signatures do not verify; no `for`),
//     full (writes fail while it lasts) or read-errors (each read fails with
//     probability `rate`, required, in (0, 1]). See package sim's disk model;
//   - poison: a node selector or a not: the nodes turn hostile to content
//     sync (sim/poison.go): every blob part they send is corrupted, a blob
//     they lack is answered with made-up bytes, their own gossiped state
//     boasts the newest manifest or a made-up root (not while the node's own
//     state says it votes: the fault models a compromised worker), and
//     their gossip carries roots forged in voters' names; without `for`,
//     for the rest of the run.
//
// `rate` is valid only with clock and disk, `jitter` and `jump` only with
// clock, `bridge` and `one_way` only with partition, `traffic` only with
// partition and ring, `mode` only with disk.
//
// `for` (a duration) undoes the fault after that long: a crashed node is
// restarted (the same node, even when the selector was dynamic), a paused one
// resumed, a partition or ring healed, a loss or duplicate rate returned to
// the network's baseline, chaos stopped, a clock fault taken back (its rate
// to true speed, its jitter to none, its jump stepped back), a link fault's
// link removed, a clog unclogged, a full disk or its read errors ended, a
// poisoned node honest again. It is not valid with restart, resume or heal,
// which are themselves undo operations, nor with a corrupt or tampered
// disk, and required with chaos, clog and swizzle, which run for exactly
// that long.
//
// `outside` nodes, the last of the mesh, start outside the shape, as nodes
// joining a running mesh do (sim.Plan.Outside): silent, refusing clients,
// until a `join` command admits them. A `leave` command takes a node out
// for good; it stays up, silent once it knows it left.
//
// Every command has `at` and exactly one of promote, demote, quarantine,
// restore, join or leave naming a selector. `roles` (promote and demote only) is a
// comma-separated list of control-plane role names read by roles.ParseRoles
// ("control-plane" is all four); absent, it is zero, meaning every
// control-plane role. `reason` is read by roles.ParseReason and defaults to
// operator. `to` (optional, a node name) is the node the operator's client
// submits the command to, every attempt (sim.Command.To): an attempt that
// finds it crashed or paused fails at once and counts, and the client tries
// it again a second later, giving up after sim.OperatorAttemptsMax attempts.
// Without `to` each attempt goes to a random live node. A node outside the
// shape (one waiting to join) refuses it at once; that is no attempt.
//
// An item of commands may instead hold `at` and `shift`: a list of 1 to
// roles.ShiftCommandsMax commands submitted together as one shift and
// applied atomically, all or nothing (when several voters change, Raft moves
// through a joint configuration, Raft §4.3). Each command of a shift is
// written as above but without `at` and `to`, which the shift gives them
// all; a shift may not hold a shift, and `roles` and `reason` belong to its
// commands, not beside `shift`. The first command of the shift becomes the sim.Command,
// with the shift's At, and the rest its With, in order.
//
// Under expect, `converge` requires the committed shape to reach
// control_plane control-plane nodes within `within` of the last heal or
// command, `commands_complete: true` every command to reach a final result,
// and `progress` (a share in [0, 1], valid only with a workload) at least
// that share of the workload's operations to succeed. `liveness` declares
// the monitors armed when the last fault heals (sim.Liveness): `leader`
// (election timeouts), `shape` (a converge block), `membership` (gossip
// rounds) and `synced` (a positive duration: every live worker installs a
// state root at least as new as one the members published within it); the
// last two need a target.
//
// An optional field whose value is null (`faults:` with nothing after it) is
// the same as an absent one. Integers, numbers (probabilities, shares, clock
// rates, the phi threshold) and booleans must be YAML values of that type
// (`nodes: "5"` is an error); durations, workload rates, faces, strategies
// and names may be any scalar. Aliases are followed, but an alias inside the
// node it names, or aliases that expand the document beyond a bound
// proportional to FileBytesMax, are errors; merge keys (`<<`) are not
// supported. A file is UTF-8 text of at most FileBytesMax bytes.
//
// # Errors
//
// Every problem with a file's content — YAML syntax, a second document, an
// empty file, a wrong type, an unknown or duplicated field, a missing
// required field, a bad value — is an *Error naming the file, the line (0 if
// none applies) and the field path (`faults[1].at`,
// `commands[2].shift[1].demote`, indices from 0), and matches ErrInvalid
// under errors.Is. Parsing stops at the first problem; the fields are
// examined in a fixed order (the top-level keys, then name, description,
// nodes, control_plane, duration, target, policy, network, workload, faults,
// commands, expect), so the same file always gives the same error. After the
// plan is built, sim.Plan.Validate runs as a backstop and its error, if any,
// is reported the same way at the line of the target, workload, fault or
// command concerned. Failures to read a file are not ErrInvalid; they wrap the os
// error. Unknown scenario names match ErrUnknown.
//
// Parsing is deterministic and never panics; FuzzParse checks the latter and
// that every plan it accepts survives Marshal and Parse unchanged.
//
// Every function is safe for concurrent use. Each call returns a new Plan
// that the caller owns.
package scenarios

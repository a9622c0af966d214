package scenarios_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"revoada.dev/revoada/scenarios"
	"revoada.dev/revoada/sim"
)

// everyFault is a scenario using every network, clock and disk feature.
const everyFault = `name: every-fault
nodes: 5
control_plane: 3
duration: 120s
network:
  latency: {min: 1ms, max: 200ms, distribution: pareto}
  bandwidth: 10MB/s
  queue: 64KiB
  links:
    - {from: n1, to: [n2, n3], latency: {max: 40ms, distribution: normal}, loss: 0.05, bandwidth: 1MB/s}
    - {from: [n4], one_way: true, latency: {min: 5ms}}
faults:
  - {at: 5s, clock: n2, jitter: 0.3, for: 20s}
  - {at: 6s, clock: leader, jump: -30s}
  - {at: 7s, clock: {not: [n1]}, rate: 1.5, jump: 10m, jitter: 0.1, for: 5s}
  - {at: 10s, clog: n3, for: 5s}
  - {at: 20s, swizzle: true, for: 10s}
  - {at: 21s, swizzle: majority, for: 4s}
  - {at: 32s, partition: [[n1, n2], [n4, n5]], bridge: n3, for: 5s}
  - {at: 38s, ring: true, for: 5s}
  - {at: 39s, ring: [n5, n1, n3], traffic: raft}
  - {at: 44s, partition: [[leader], {not: [leader]}], traffic: gossip, for: 8s}
  - {at: 50s, link: {from: leader, to: {not: [leader]}, latency: {min: 100ms, max: 300ms}, loss: 0.2, bandwidth: 100KB/s, queue: 1500B}, for: 10s}
  - {at: 51s, link: {from: [n1, n2]}}
  - {at: 60s, disk: n4, mode: corrupt}
  - {at: 61s, disk: random, mode: full, for: 3s}
  - {at: 62s, disk: n5, mode: read-errors, rate: 0.25}
`

func TestParseEveryFault(t *testing.T) {
	p, err := scenarios.Parse("every-fault.yaml", []byte(everyFault))
	if err != nil {
		t.Fatal(err)
	}
	const ms = time.Millisecond
	nw := sim.Network{LatencyMin: ms, LatencyMax: 200 * ms, Distribution: sim.Pareto, Bandwidth: 10_000_000, Queue: 64 << 10,
		Links: []sim.Link{
			{From: []sim.Selector{"n1"}, To: []sim.Selector{"n2", "n3"}, LatencyMin: ms, LatencyMax: 40 * ms, Distribution: sim.Normal, Loss: 0.05, Bandwidth: 1_000_000, Queue: 1_000_000},
			{From: []sim.Selector{"n4"}, OneWay: true, LatencyMin: 5 * ms, LatencyMax: 200 * ms, Distribution: sim.Pareto},
		}}
	if !reflect.DeepEqual(p.Network, nw) {
		t.Errorf("network %+v\nwant %+v", p.Network, nw)
	}
	s := time.Second
	want := []sim.Fault{
		{At: 5 * s, Kind: sim.ClockSkew, Target: "n2", Jitter: 0.3, For: 20 * s},
		{At: 6 * s, Kind: sim.ClockSkew, Target: "leader", Jump: -30 * s},
		{At: 7 * s, Kind: sim.ClockSkew, Target: sim.Not("n1"), Rate: 1.5, Jump: 10 * time.Minute, Jitter: 0.1, For: 5 * s},
		{At: 10 * s, Kind: sim.Clog, Target: "n3", For: 5 * s},
		{At: 20 * s, Kind: sim.Swizzle, For: 10 * s},
		{At: 21 * s, Kind: sim.Swizzle, Target: "majority", For: 4 * s},
		{At: 32 * s, Kind: sim.Partition, Groups: [][]sim.Selector{{"n1", "n2"}, {"n4", "n5"}}, Bridge: "n3", For: 5 * s},
		{At: 38 * s, Kind: sim.Ring, For: 5 * s},
		{At: 39 * s, Kind: sim.Ring, Groups: [][]sim.Selector{{"n5", "n1", "n3"}}, Traffic: sim.RaftTraffic},
		{At: 44 * s, Kind: sim.Partition, Groups: [][]sim.Selector{{"leader"}, {sim.Not("leader")}}, Traffic: sim.GossipTraffic, For: 8 * s},
		{At: 50 * s, Kind: sim.LinkFault, For: 10 * s, Link: &sim.Link{From: []sim.Selector{"leader"}, To: []sim.Selector{sim.Not("leader")},
			LatencyMin: 100 * ms, LatencyMax: 300 * ms, Distribution: sim.Pareto, Loss: 0.2, Bandwidth: 100_000, Queue: 1500}},
		{At: 51 * s, Kind: sim.LinkFault, Link: &sim.Link{From: []sim.Selector{"n1", "n2"}, LatencyMin: ms, LatencyMax: 200 * ms, Distribution: sim.Pareto}},
		{At: 60 * s, Kind: sim.Disk, Target: "n4", Mode: sim.DiskCorrupt},
		{At: 61 * s, Kind: sim.Disk, Target: "random", Mode: sim.DiskFull, For: 3 * s},
		{At: 62 * s, Kind: sim.Disk, Target: "n5", Mode: sim.DiskReadErrors, Rate: 0.25},
	}
	for i := range max(len(want), len(p.Faults)) {
		if i >= len(want) || i >= len(p.Faults) || !reflect.DeepEqual(p.Faults[i], want[i]) {
			t.Fatalf("fault %d: %+v\nwant %+v", i, at(p.Faults, i), at(want, i))
		}
	}
	data, err := scenarios.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	back, err := scenarios.Parse("back.yaml", data)
	if err != nil || !reflect.DeepEqual(back, p) {
		t.Fatalf("round trip: %v\n%s", err, data)
	}
	for _, line := range []string{
		"  bandwidth: 10MB/s\n  queue: 64KiB\n",
		"  - {at: 6s, clock: leader, jump: -30s}\n",
		"  - {at: 20s, swizzle: true, for: 10s}\n",
		"  - {at: 32s, partition: [[n1, n2], [n4, n5]], bridge: n3, for: 5s}\n",
		"  - {at: 1m2s, disk: n5, mode: read-errors, rate: 0.25}\n",
	} {
		if !strings.Contains(string(data), line) {
			t.Errorf("Marshal wrote no %q:\n%s", line, data)
		}
	}
}

func at(fs []sim.Fault, i int) any {
	if i < len(fs) {
		return fs[i]
	}
	return "none"
}

// TestEveryFaultRuns: the scenario runs, with every fault, and its
// materialized plan (targets resolved, swizzles as clogs) writes as a
// scenario file that reads back the same.
func TestEveryFaultRuns(t *testing.T) {
	p, err := scenarios.Parse("every-fault.yaml", []byte(everyFault))
	if err != nil {
		t.Fatal(err)
	}
	res := sim.Run(p, 1, sim.Options{Choices: true})
	for _, v := range res.Violations {
		if v.Property == sim.PropPanic || v.Property == sim.PropInvalidPlan {
			t.Fatal(v)
		}
	}
	m := res.Materialized
	for _, f := range m.Faults {
		if f.Kind == sim.Swizzle {
			t.Errorf("swizzle left in %+v", f)
		}
		sels := append([]sim.Selector{f.Target, f.Bridge}, flat(f.Groups)...)
		if f.Link != nil {
			sels = append(sels, append(f.Link.From, f.Link.To...)...)
		}
		for _, sel := range sels {
			if sel != "" && !named(sel) {
				t.Errorf("dynamic selector %q left in %+v", sel, f)
			}
		}
	}
	data, err := scenarios.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	if back, err := scenarios.Parse("m.yaml", data); err != nil || !reflect.DeepEqual(back.Faults, m.Faults) {
		t.Fatalf("materialized plan: %v\n%s", err, data)
	}
}

func TestParseFaultErrors(t *testing.T) {
	const hdr = "name: t\nnodes: 5\ncontrol_plane: 3\nduration: 60s\n"
	for _, tc := range []struct {
		name, yaml string
		line       int
		field, msg string
	}{
		{"unknown distribution", hdr + "network: {latency: {distribution: cauchy}}\n", 5, "network.latency.distribution", `unknown distribution "cauchy" (want one of uniform, normal, pareto)`},
		{"bandwidth without unit", hdr + "network: {bandwidth: 1000}\n", 5, "network.bandwidth", `bad bandwidth "1000"`},
		{"bandwidth without per second", hdr + "network: {bandwidth: 1MB}\n", 5, "network.bandwidth", `bad bandwidth "1MB"`},
		{"zero bandwidth", hdr + "network: {bandwidth: 0B/s}\n", 5, "network.bandwidth", "not positive"},
		{"huge bandwidth", hdr + "network: {bandwidth: 9999999GB/s}\n", 5, "network.bandwidth", "more than"},
		{"overflowing size", hdr + "network: {bandwidth: 99999999999999999GiB/s}\n", 5, "network.bandwidth", "bad bandwidth"},
		{"queue without bandwidth", hdr + "network: {queue: 1KB}\n", 5, "network.queue", "a queue needs a bandwidth"},
		{"bad queue", hdr + "network: {bandwidth: 1MB/s, queue: lots}\n", 5, "network.queue", `bad size "lots"`},
		{"link without from", hdr + "network: {links: [{to: n2}]}\n", 5, "network.links[0].from", "missing required field"},
		{"dynamic selector in a network link", hdr + "network: {links: [{from: leader}]}\n", 5, "network.links[0].from", `"leader" is not a node name`},
		{"empty link end", hdr + "network: {links: [{from: []}]}\n", 5, "network.links[0].from", "empty list"},
		{"link node out of the mesh", hdr + "network: {links: [{from: n1, to: [n2, n9]}]}\n", 5, "network.links[0].to[1]", "not in a mesh of 5 nodes"},
		{"link latency reversed", hdr + "network: {links: [{from: n1, latency: {min: 1s}}]}\n", 5, "network.links[0].latency", "min 1s is more than max 10ms"},
		{"link loss", hdr + "network: {links: [{from: n1, loss: 2}]}\n", 5, "network.links[0].loss", "not within [0, 1]"},
		{"unknown link field", hdr + "network: {links: [{from: n1, jitter: 1}]}\n", 5, "network.links[0].jitter", `unknown field "jitter"`},
		{"jitter on a crash", hdr + "faults: [{at: 1s, crash: n1, jitter: 0.1}]\n", 5, "faults[0].jitter", "only valid with clock, not crash"},
		{"jitter too large", hdr + "faults: [{at: 1s, clock: n1, jitter: 0.95}]\n", 5, "faults[0].jitter", "jitter 0.95 is not within (0, 0.9]"},
		{"zero jump", hdr + "faults: [{at: 1s, clock: n1, jump: 0s}]\n", 5, "faults[0].jump", "a jump of zero does nothing"},
		{"bad jump", hdr + "faults: [{at: 1s, clock: n1, jump: back}]\n", 5, "faults[0].jump", `bad duration "back"`},
		{"huge jump", hdr + "faults: [{at: 1s, clock: n1, jump: -9000h}]\n", 5, "faults[0].jump", "beyond"},
		{"clog without for", hdr + "faults: [{at: 1s, clog: n1}]\n", 5, "faults[0].for", "clog needs a positive for"},
		{"swizzle false", hdr + "faults: [{at: 1s, swizzle: false, for: 2s}]\n", 5, "faults[0].swizzle", "want true"},
		{"swizzle without for", hdr + "faults: [{at: 1s, swizzle: n1}]\n", 5, "faults[0].for", "swizzle needs a positive for"},
		{"ring of one", hdr + "faults: [{at: 1s, ring: [n1]}]\n", 5, "faults[0].ring", "a ring of 1 nodes: want at least two"},
		{"ring twice", hdr + "faults: [{at: 1s, ring: [n1, n2, n1]}]\n", 5, "faults[0].ring[2]", "n1 appears twice in the ring"},
		{"ring of a selector", hdr + "faults: [{at: 1s, ring: [n1, leader]}]\n", 5, "faults[0].ring[1]", `"leader" is not a node name`},
		{"ring false", hdr + "faults: [{at: 1s, ring: false}]\n", 5, "faults[0].ring", "want true"},
		{"unknown traffic", hdr + "faults: [{at: 1s, partition: n1, traffic: dns}]\n", 5, "faults[0].traffic", `unknown traffic "dns" (want one of raft, gossip, requests`},
		{"traffic on a crash", hdr + "faults: [{at: 1s, crash: n1, traffic: raft}]\n", 5, "faults[0].traffic", "only valid with partition and ring, not crash"},
		{"bridge on a ring", hdr + "faults: [{at: 1s, ring: true, bridge: n1}]\n", 5, "faults[0].bridge", "only valid with partition, not ring"},
		{"bridge a not", hdr + "faults: [{at: 1s, partition: n1, bridge: {not: n2}}]\n", 5, "faults[0].bridge", "want a node selector"},
		{"link fault a string", hdr + "faults: [{at: 1s, link: n1}]\n", 5, "faults[0].link", "want a mapping"},
		{"link fault bad end", hdr + "faults: [{at: 1s, link: {from: boss}}]\n", 5, "faults[0].link.from", `unknown node selector "boss"`},
		{"disk without mode", hdr + "faults: [{at: 1s, disk: n1}]\n", 5, "faults[0].mode", "missing required field"},
		{"unknown disk mode", hdr + "faults: [{at: 1s, disk: n1, mode: slow}]\n", 5, "faults[0].mode", `unknown disk mode "slow" (want one of corrupt, tamper, full, read-errors)`},
		{"corrupt with for", hdr + "faults: [{at: 1s, disk: n1, mode: corrupt, for: 2s}]\n", 5, "faults[0].for", "not valid with mode corrupt"},
		{"read errors without rate", hdr + "faults: [{at: 1s, disk: n1, mode: read-errors}]\n", 5, "faults[0].rate", "read-errors needs a rate"},
		{"read errors rate zero", hdr + "faults: [{at: 1s, disk: n1, mode: read-errors, rate: 0}]\n", 5, "faults[0].rate", "rate 0 is not within (0, 1]"},
		{"rate on a full disk", hdr + "faults: [{at: 1s, disk: n1, mode: full, rate: 0.5}]\n", 5, "faults[0].rate", "only valid with mode read-errors, not full"},
		{"mode on a clock", hdr + "faults: [{at: 1s, clock: n1, rate: 2, mode: full}]\n", 5, "faults[0].mode", "only valid with disk, not clock"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := scenarios.Parse("t.yaml", []byte(tc.yaml))
			var e *scenarios.Error
			switch {
			case err == nil:
				t.Fatalf("Parse accepted it: %+v", p)
			case !errors.As(err, &e) || !errors.Is(err, scenarios.ErrInvalid):
				t.Fatalf("%v (%T) is not an *Error", err, err)
			case e.Line != tc.line || e.Field != tc.field || !strings.Contains(err.Error(), tc.msg):
				t.Errorf("got %v; want line %d field %q and %q", err, tc.line, tc.field, tc.msg)
			}
		})
	}
}

// TestValidateNamesTheField: sim.Plan.Validate, the backstop, refuses the
// same bad values with a *sim.FieldError naming the field.
func TestValidateNamesTheField(t *testing.T) {
	base := func() *sim.Plan {
		p, err := scenarios.Parse("t.yaml", []byte("name: t\nnodes: 5\ncontrol_plane: 3\nduration: 60s\n"))
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, tc := range []struct {
		field string
		edit  func(p *sim.Plan)
	}{
		{"latency.distribution", func(p *sim.Plan) { p.Network.Distribution = "cauchy" }},
		{"queue", func(p *sim.Plan) { p.Network.Queue = 10 }},
		{"bandwidth", func(p *sim.Plan) { p.Network.Bandwidth = -1 }},
		{"links[0].from", func(p *sim.Plan) { p.Network.Links = []sim.Link{{}} }},
		{"links[0].from[0]", func(p *sim.Plan) { p.Network.Links = []sim.Link{{From: []sim.Selector{"leader"}}} }},
		{"links[0].loss", func(p *sim.Plan) { p.Network.Links = []sim.Link{{From: []sim.Selector{"n1"}, Loss: 2}} }},
		{"jitter", func(p *sim.Plan) { p.Faults = []sim.Fault{{Kind: sim.ClockSkew, Target: "n1", Jitter: 1}} }},
		{"jump", func(p *sim.Plan) { p.Faults = []sim.Fault{{Kind: sim.ClockSkew, Target: "n1", Jump: 1 << 62}} }},
		{"link", func(p *sim.Plan) { p.Faults = []sim.Fault{{Kind: sim.LinkFault}} }},
		{"for", func(p *sim.Plan) { p.Faults = []sim.Fault{{Kind: sim.Clog, Target: "n1"}} }},
		{"ring[1]", func(p *sim.Plan) { p.Faults = []sim.Fault{{Kind: sim.Ring, Groups: [][]sim.Selector{{"n1", "n1"}}}} }},
		{"traffic", func(p *sim.Plan) {
			p.Faults = []sim.Fault{{Kind: sim.Partition, Groups: [][]sim.Selector{{"n1"}}, Traffic: "all"}}
		}},
		{"mode", func(p *sim.Plan) { p.Faults = []sim.Fault{{Kind: sim.Disk, Target: "n1"}} }},
		{"rate", func(p *sim.Plan) { p.Faults = []sim.Fault{{Kind: sim.Disk, Target: "n1", Mode: sim.DiskReadErrors}} }},
		{"for", func(p *sim.Plan) {
			p.Faults = []sim.Fault{{Kind: sim.Disk, Target: "n1", Mode: sim.DiskCorrupt, For: 1}}
		}},
	} {
		p := base()
		tc.edit(p)
		var fe *sim.FieldError
		var se *sim.SelectorError
		err := p.Validate()
		switch {
		case errors.As(err, &fe) && fe.Field == tc.field, errors.As(err, &se) && se.Field == tc.field:
		default:
			t.Errorf("%s: Validate gave %v", tc.field, err)
		}
	}
}

package scenarios_test

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"revoada.dev/revoada/core/roles"
	"revoada.dev/revoada/scenarios"
	"revoada.dev/revoada/sim"
)

func TestMarshalRoundTrip(t *testing.T) {
	plans := map[string]*sim.Plan{"everything": fullPlan}
	for _, name := range scenarios.Names() {
		p, err := scenarios.Builtin(name)
		if err != nil {
			t.Fatal(err)
		}
		plans[name] = p
	}
	for name, p := range plans {
		t.Run(name, func(t *testing.T) {
			out, err := scenarios.Marshal(p)
			if err != nil {
				t.Fatal(err)
			}
			back, err := scenarios.Parse(name+".yaml", out)
			if err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			if !reflect.DeepEqual(back, p) {
				t.Fatalf("round trip changed the plan:\n got %+v\nwant %+v\n%s", back, p, out)
			}
			again, err := scenarios.Marshal(back)
			if err != nil || string(again) != string(out) {
				t.Fatalf("Marshal is not stable (%v):\n%s\n---\n%s", err, out, again)
			}
		})
	}
}

func TestMarshalText(t *testing.T) {
	p := &sim.Plan{
		Name: "tiny", Description: "true", Nodes: 3, ControlPlane: 1, Duration: 90 * time.Second,
		Network: sim.Network{LatencyMin: time.Millisecond, LatencyMax: 10 * time.Millisecond, Loss: 0.05},
		Faults: []sim.Fault{
			{At: 10 * time.Second, Kind: sim.Partition, Groups: [][]sim.Selector{{"n1"}, {"n2", "n3"}}, OneWay: true, For: 5 * time.Second},
			{At: 20 * time.Second, Kind: sim.Loss, Rate: 0.5},
		},
		Commands: []sim.Command{
			{At: time.Second, Kind: roles.Promote, Target: "n2", Roles: roles.Etcd, Reason: roles.ScalingUp},
			{At: 40 * time.Second, Kind: roles.Demote, Target: "n1", Reason: roles.Rebalance, With: []sim.Command{
				{Kind: roles.Promote, Target: "n3", Roles: roles.ControlPlane, Reason: roles.Rebalance},
			}},
		},
		Expect: sim.Expect{CommandsComplete: true},
	}
	const want = `name: tiny
description: "true"
nodes: 3
control_plane: 1
duration: 1m30s
network: {latency: {min: 1ms, max: 10ms}, loss: 0.05, duplicate: 0}
faults:
  - {at: 10s, partition: [[n1], [n2, n3]], for: 5s, one_way: true}
  - {at: 20s, loss: 0.5}
commands:
  - {at: 1s, promote: n2, roles: etcd, reason: scaling-up}
  - at: 40s
    shift:
      - {demote: n1, reason: rebalance}
      - {promote: n3, roles: control-plane, reason: rebalance}
expect:
  commands_complete: true
`
	out, err := scenarios.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	if string(out) != want {
		t.Fatalf("got\n%s\nwant\n%s", out, want)
	}
}

// TestMarshalSelectors: a not is written {not: [...]}, as a fault's target
// and as a group of its own, and a command's to beside its kind, or beside
// shift for a shift.
func TestMarshalSelectors(t *testing.T) {
	p := &sim.Plan{
		Name: "sel", Nodes: 5, ControlPlane: 3, Duration: time.Minute,
		Network: sim.Network{LatencyMax: time.Millisecond},
		Faults: []sim.Fault{
			{At: 10 * time.Second, Kind: sim.Partition, Groups: [][]sim.Selector{{"random-voter"}, {sim.Not("random-voter", "n5")}}, For: 5 * time.Second},
			{At: 20 * time.Second, Kind: sim.Crash, Target: sim.Not("leader"), For: 5 * time.Second},
			{At: 30 * time.Second, Kind: sim.Pause, Target: "follower", For: 5 * time.Second},
		},
		Commands: []sim.Command{
			{At: time.Second, Kind: roles.Promote, Target: "n4", Reason: roles.Operator, To: "n2"},
			{At: 2 * time.Second, Kind: roles.Demote, Target: "follower", Reason: roles.Rebalance, To: "n3", With: []sim.Command{
				{Kind: roles.Promote, Target: "n5", Reason: roles.Rebalance},
			}},
		},
	}
	const want = `name: sel
nodes: 5
control_plane: 3
duration: 1m0s
network: {latency: {min: 0s, max: 1ms}, loss: 0, duplicate: 0}
faults:
  - {at: 10s, partition: [[random-voter], {not: [random-voter, n5]}], for: 5s}
  - {at: 20s, crash: {not: [leader]}, for: 5s}
  - {at: 30s, pause: follower, for: 5s}
commands:
  - {at: 1s, promote: n4, reason: operator, to: n2}
  - at: 2s
    to: n3
    shift:
      - {demote: follower, reason: rebalance}
      - {promote: n5, reason: rebalance}
`
	marshalsAs(t, p, want)
}

// marshalsAs checks that Marshal writes p as want and Parse reads that back
// as p.
func marshalsAs(t *testing.T, p *sim.Plan, want string) {
	t.Helper()
	out, err := scenarios.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	if string(out) != want {
		t.Fatalf("got\n%s\nwant\n%s", out, want)
	}
	back, err := scenarios.Parse(p.Name+".yaml", out)
	if err != nil || !reflect.DeepEqual(back, p) {
		t.Fatalf("read back %+v, %v", back, err)
	}
}

func TestMarshalWorkload(t *testing.T) {
	p := &sim.Plan{
		Name: "w", Nodes: 3, ControlPlane: 3, Duration: time.Minute,
		Network: sim.Network{LatencyMax: time.Millisecond},
		Workload: &sim.Workload{Clients: 2, Rate: 1.0 / 3, Keys: 7, Face: "systemd",
			Mix: sim.Mix{Get: 1}, CAS: 1e-5},
		Expect: sim.Expect{Progress: 0.25},
	}
	const want = `name: w
nodes: 3
control_plane: 3
duration: 1m0s
network: {latency: {min: 0s, max: 1ms}, loss: 0, duplicate: 0}
workload:
  clients: 2
  rate: 0.3333333333333333/s
  keys: 7
  face: systemd
  mix: {apply: 0, get: 1, list: 0, delete: 0, watch: 0}
  cas: 1e-05
  local: 0
expect:
  progress: 0.25
`
	marshalsAs(t, p, want)
	// The old pacing, which plans frozen before keep, survives.
	p.Workload.PaceFromEnd = true
	if out, err := scenarios.Marshal(p); err != nil || !strings.Contains(string(out), "  pacing: end\n") {
		t.Fatalf("pacing from the end: %v\n%s", err, out)
	} else if back, err := scenarios.Parse("w.yaml", out); err != nil || !reflect.DeepEqual(back, p) {
		t.Fatalf("pacing from the end read back %+v, %v", back, err)
	}
	p.Workload.PaceFromEnd = false
	// The smallest and largest rates, and one given per minute, survive.
	for _, rate := range []float64{5e-324, 0.1 / 60, sim.RateMax} {
		p.Workload.Rate = rate
		out, err := scenarios.Marshal(p)
		if err != nil {
			t.Fatalf("rate %v: %v", rate, err)
		}
		if back, err := scenarios.Parse("w.yaml", out); err != nil || back.Workload.Rate != rate {
			t.Fatalf("rate %v: read back %+v, %v", rate, back, err)
		}
	}
}

func TestMarshalSelfHealing(t *testing.T) {
	p := &sim.Plan{
		Name: "heal", Nodes: 5, ControlPlane: 3, Duration: 70 * time.Second, Target: "quorum_3m",
		Policy:  sim.PolicyKnobs{Grace: 2 * time.Second, Damper: 90 * time.Second, PhiThreshold: 9.5},
		Network: sim.Network{LatencyMin: time.Millisecond, LatencyMax: 10 * time.Millisecond},
		Faults: []sim.Fault{
			{At: 5 * time.Second, Kind: sim.ClockSkew, Target: "n3", Rate: 1.05, For: time.Minute - 10*time.Second},
			{At: 10 * time.Second, Kind: sim.ClockSkew, Target: "leader", Rate: 0.5},
			{At: 20 * time.Second, Kind: sim.Crash, Target: "leader"},
		},
	}
	const want = `name: heal
nodes: 5
control_plane: 3
duration: 1m10s
target: quorum-3m
policy: {grace: 2s, damper: 1m30s, phi_threshold: 9.5}
network: {latency: {min: 1ms, max: 10ms}, loss: 0, duplicate: 0}
faults:
  - {at: 5s, clock: n3, rate: 1.05, for: 50s}
  - {at: 10s, clock: leader, rate: 0.5}
  - {at: 20s, crash: leader}
`
	out, err := scenarios.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	if string(out) != want {
		t.Fatalf("got\n%s\nwant\n%s", out, want)
	}
	back, err := scenarios.Parse("heal.yaml", out)
	if err != nil || back.Target != "quorum-3m" || back.Policy != p.Policy || !reflect.DeepEqual(back.Faults, p.Faults) {
		t.Fatalf("read back %+v, %v", back, err)
	}
	if p.Target != "quorum_3m" {
		t.Fatal("Marshal changed its argument")
	}

	p = &sim.Plan{Name: "x", Nodes: 3, ControlPlane: 1, Duration: time.Minute, Target: "explicit", TargetVoters: 3}
	out, err = scenarios.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), "\ntarget: {voters: 3}\n") || strings.Contains(string(out), "policy") {
		t.Fatalf("explicit target written as\n%s", out)
	}
}

// TestMarshalLineBreaks checks strings that yaml.v3 would write as block
// scalars reading back differently, such as a leading line break (found by
// FuzzParse).
func TestMarshalLineBreaks(t *testing.T) {
	for _, d := range []string{"\n0", "\n", "a\n", "a\n\nb", "\t\n0", "x\r\ny", "a \n b", "\u0085z", "a\u2028b"} {
		p := &sim.Plan{Name: "d", Description: d, Nodes: 1, ControlPlane: 1, Duration: 10 * time.Second}
		out, err := scenarios.Marshal(p)
		if err != nil {
			t.Errorf("%q: %v", d, err)
			continue
		}
		if back, err := scenarios.Parse("d.yaml", out); err != nil || back.Description != d {
			t.Errorf("%q: read back %q, %v\n%s", d, back.Description, err, out)
		}
	}
}

func TestMarshalZeroReason(t *testing.T) {
	p := &sim.Plan{
		Name: "z", Nodes: 2, ControlPlane: 1, Duration: time.Minute,
		Commands: []sim.Command{{At: time.Second, Kind: roles.Demote, Target: "n1"}},
	}
	out, err := scenarios.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	back, err := scenarios.Parse("z.yaml", out)
	if err != nil || back.Commands[0].Reason != roles.Operator {
		t.Fatalf("got %+v, %v; want reason operator", back, err)
	}
}

// TestMarshalShiftNormal checks the With fields Parse cannot give back: an
// At, which the simulator ignores, and a zero reason are normalized, and an
// empty With is the same as none.
func TestMarshalShiftNormal(t *testing.T) {
	p := &sim.Plan{
		Name: "s", Nodes: 3, ControlPlane: 2, Duration: time.Minute,
		Commands: []sim.Command{
			{At: time.Second, Kind: roles.Promote, Target: "n3", With: []sim.Command{{At: time.Second, Kind: roles.Demote, Target: "n1"}}},
			{At: 2 * time.Second, Kind: roles.Restore, Target: "n2", With: []sim.Command{}},
		},
	}
	out, err := scenarios.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	back, err := scenarios.Parse("s.yaml", out)
	if err != nil {
		t.Fatal(err)
	}
	want := []sim.Command{
		{At: time.Second, Kind: roles.Promote, Target: "n3", Reason: roles.Operator, With: []sim.Command{{Kind: roles.Demote, Target: "n1", Reason: roles.Operator}}},
		{At: 2 * time.Second, Kind: roles.Restore, Target: "n2", Reason: roles.Operator},
	}
	if !reflect.DeepEqual(back.Commands, want) {
		t.Fatalf("got %+v, want %+v\n%s", back.Commands, want, out)
	}
	if p.Commands[0].With[0].At != time.Second || p.Commands[1].With == nil {
		t.Fatal("Marshal changed its argument")
	}
}

func TestMarshalRefuses(t *testing.T) {
	base := func() *sim.Plan {
		return &sim.Plan{Name: "r", Nodes: 3, ControlPlane: 3, Duration: time.Minute,
			Network: sim.Network{LatencyMax: time.Millisecond}}
	}
	for _, tc := range []struct {
		name   string
		change func(*sim.Plan)
		msg    string
	}{
		{"invalid plan", func(p *sim.Plan) { p.Nodes = 0 }, "sim: nodes 0 out of range"},
		{"bad name", func(p *sim.Plan) { p.Name = "Not Kebab" }, "bad name"},
		{"rate on a crash", func(p *sim.Plan) {
			p.Faults = []sim.Fault{{Kind: sim.Crash, Target: "n1", Rate: 0.5}}
		}, "fault 0 would read back differently"},
		{"for on a restart", func(p *sim.Plan) {
			p.Faults = []sim.Fault{{Kind: sim.Restart, Target: "n1", For: time.Second}}
		}, "not valid with restart"},
		{"roles on a quarantine", func(p *sim.Plan) {
			p.Commands = []sim.Command{{Kind: roles.Quarantine, Target: "n1", Roles: roles.Etcd}}
		}, "only valid with promote and demote"},
		{"nested shift", func(p *sim.Plan) {
			p.Commands = []sim.Command{{Kind: roles.Demote, Target: "n1", With: []sim.Command{
				{Kind: roles.Demote, Target: "n2", With: []sim.Command{{Kind: roles.Promote, Target: "n3"}}},
			}}}
		}, "nested shifts"},
		{"shift too long", func(p *sim.Plan) {
			p.Commands = []sim.Command{{Kind: roles.Demote, Target: "n1", With: make([]sim.Command, roles.ShiftCommandsMax)}}
		}, "a shift takes at most 64 commands"},
		{"roles on a quarantine in a shift", func(p *sim.Plan) {
			p.Commands = []sim.Command{{Kind: roles.Demote, Target: "n1", With: []sim.Command{{Kind: roles.Quarantine, Target: "n2", Roles: roles.Etcd}}}}
		}, "commands[0].shift[1].roles: only valid with promote and demote"},
		{"invalid workload", func(p *sim.Plan) {
			p.Workload = &sim.Workload{Clients: 1, Rate: 1, Keys: 0, Face: "nomad", Mix: sim.Mix{Get: 1}}
		}, "sim: workload: keys 0 out of range"},
		{"weight beyond the format", func(p *sim.Plan) {
			p.Workload = &sim.Workload{Clients: 1, Rate: 1, Keys: 1, Face: "nomad", Mix: sim.Mix{Get: scenarios.WeightMax + 1}}
		}, "workload.mix.get: 10001 out of range 0..10000"},
		{"progress without workload", func(p *sim.Plan) { p.Expect.Progress = 0.5 }, "expect progress is a share of the workload's operations: it needs a workload"},
		{"unknown strategy", func(p *sim.Plan) { p.Target = "pentagon" }, "sim: target: topology: unknown strategy"},
		{"voters without explicit", func(p *sim.Plan) { p.Target, p.TargetVoters = "solo", 1 }, "target_voters goes with target explicit"},
		{"even explicit target", func(p *sim.Plan) { p.Target, p.TargetVoters = "explicit", 2 }, "2 voters is even"},
		{"explicit target beyond the mesh", func(p *sim.Plan) { p.Target, p.TargetVoters = "explicit", 5 }, "needs 5 eligible nodes"},
		{"negative policy duration", func(p *sim.Plan) { p.Policy.Grace = -time.Second }, "policy.grace: negative duration"},
		{"policy duration too long", func(p *sim.Plan) { p.Policy.AuditEvery = 25 * time.Hour }, "policy.audit_every: 25h0m0s out of range"},
		{"negative phi threshold", func(p *sim.Plan) { p.Policy.PhiThreshold = -8 }, "policy.phi_threshold: threshold -8 is not within"},
		{"clock rate zero", func(p *sim.Plan) {
			p.Faults = []sim.Fault{{Kind: sim.ClockSkew, Target: "n1"}}
		}, "a clock fault needs a rate, a jitter or a jump"},
		{"named node in a group and the not", func(p *sim.Plan) {
			p.Faults = []sim.Fault{{Kind: sim.Partition, Groups: [][]sim.Selector{{"n1"}, {sim.Not("leader")}}}}
		}, "n1 is in a group and, not listed in the not, in the not group too"},
		{"empty not", func(p *sim.Plan) {
			p.Faults = []sim.Fault{{Kind: sim.Crash, Target: sim.Not()}}
		}, "target: not needs at least one selector"},
		{"to a dynamic selector", func(p *sim.Plan) {
			p.Commands = []sim.Command{{Kind: roles.Demote, Target: "n1", To: "random"}}
		}, `to: "random" is not a node name`},
		{"after the end", func(p *sim.Plan) {
			p.Commands = []sim.Command{{At: time.Hour, Kind: roles.Demote, Target: "n1"}}
		}, "not before the end of the run"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := base()
			tc.change(p)
			out, err := scenarios.Marshal(p)
			if err == nil || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("Marshal: got %v (%s), want an error containing %q", err, out, tc.msg)
			}
		})
	}
}

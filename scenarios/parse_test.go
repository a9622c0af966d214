package scenarios_test

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"revoada.dev/revoada/core/roles"
	"revoada.dev/revoada/scenarios"
	"revoada.dev/revoada/sim"
)

// full uses every field and every form of the format.
const full = `name: everything
description: every field of the format
nodes: 5
control_plane: 3
duration: 120s
target:
  voters: 3
policy: {audit_every: 500ms, grace: 4s, damper: 1m, stabilize: 10s, phi_threshold: 12.5}
network:
  latency: {min: 2ms, max: 20ms}
  loss: 0.01
  duplicate: 0.02
workload:
  clients: 4
  rate: 90/m
  keys: 50
  face: nomad
  mix: {apply: 5, get: 3, list: 1, delete: 1, watch: 1}
  cas: 0.3
  local: 1
faults:
  - {at: 20s, crash: leader, for: 25s}
  - {at: 45s, restart: n1}
  - {at: 30s, pause: n2, for: 5s}
  - {at: 36s, resume: n2}
  - {at: 30s, partition: [[n1, n2], [n3, n4, n5]], for: 10s}
  - {at: 30s, partition: [[n1], [n2]], one_way: true}
  - {at: 30s, partition: minority, for: 10s}
  - {at: 30s, partition: [leader, n5], for: 10s}
  - {at: 50s, heal: true}
  - {at: 10s, loss: 0.2, for: 30s}
  - {at: 10s, duplicate: 0.05}
  - {at: 10s, chaos: 0.02, for: 1m}
  - {at: 5s, clock: n3, rate: 1.05, for: 60s}
  - {at: 6s, rate: 0.5, clock: random}
  - at: 1m30s
    crash: random-worker
  - {at: 31s, crash: follower, for: 5s}
  - {at: 32s, partition: [[leader], {not: [leader, n5]}], for: 5s}
  - {at: 33s, partition: {not: minority}, one_way: true}
  - {at: 34s, pause: {not: [follower, n1]}, for: 2s}
commands:
  - {at: 10s, promote: n4, roles: control-plane, reason: operator}
  - {at: 11s, promote: n5, roles: "etcd, api-server"}
  - {at: 30s, demote: n1, reason: scaling-down}
  - {at: 31s, quarantine: random-voter, reason: health-degraded}
  - {at: 40s, restore: n3, to: n2}
  - at: 50s
    to: n3
    shift:
      - {promote: n4, reason: rebalance}
      - {demote: n1, roles: etcd}
      - {quarantine: random-worker, reason: health-degraded}
expect:
  converge: {within: 30s, control_plane: 3}
  commands_complete: true
  progress: 0.5
`

var fullPlan = &sim.Plan{
	Name:         "everything",
	Description:  "every field of the format",
	Nodes:        5,
	ControlPlane: 3,
	Duration:     120 * time.Second,
	Target:       "explicit",
	TargetVoters: 3,
	Policy: sim.PolicyKnobs{AuditEvery: 500 * time.Millisecond, Grace: 4 * time.Second, Damper: time.Minute,
		Stabilize: 10 * time.Second, PhiThreshold: 12.5},
	Network: sim.Network{LatencyMin: 2 * time.Millisecond, LatencyMax: 20 * time.Millisecond, Loss: 0.01, Duplicate: 0.02},
	Workload: &sim.Workload{Clients: 4, Rate: 1.5, Keys: 50, Face: "nomad",
		Mix: sim.Mix{Apply: 5, Get: 3, List: 1, Delete: 1, Watch: 1}, CAS: 0.3, Local: 1},
	Faults: []sim.Fault{
		{At: 20 * time.Second, Kind: sim.Crash, Target: "leader", For: 25 * time.Second},
		{At: 45 * time.Second, Kind: sim.Restart, Target: "n1"},
		{At: 30 * time.Second, Kind: sim.Pause, Target: "n2", For: 5 * time.Second},
		{At: 36 * time.Second, Kind: sim.Resume, Target: "n2"},
		{At: 30 * time.Second, Kind: sim.Partition, Groups: [][]sim.Selector{{"n1", "n2"}, {"n3", "n4", "n5"}}, For: 10 * time.Second},
		{At: 30 * time.Second, Kind: sim.Partition, Groups: [][]sim.Selector{{"n1"}, {"n2"}}, OneWay: true},
		{At: 30 * time.Second, Kind: sim.Partition, Groups: [][]sim.Selector{{"minority"}}, For: 10 * time.Second},
		{At: 30 * time.Second, Kind: sim.Partition, Groups: [][]sim.Selector{{"leader", "n5"}}, For: 10 * time.Second},
		{At: 50 * time.Second, Kind: sim.Heal},
		{At: 10 * time.Second, Kind: sim.Loss, Rate: 0.2, For: 30 * time.Second},
		{At: 10 * time.Second, Kind: sim.Duplicate, Rate: 0.05},
		{At: 10 * time.Second, Kind: sim.Chaos, Rate: 0.02, For: time.Minute},
		{At: 5 * time.Second, Kind: sim.ClockSkew, Target: "n3", Rate: 1.05, For: time.Minute},
		{At: 6 * time.Second, Kind: sim.ClockSkew, Target: "random", Rate: 0.5},
		{At: 90 * time.Second, Kind: sim.Crash, Target: "random-worker"},
		{At: 31 * time.Second, Kind: sim.Crash, Target: "follower", For: 5 * time.Second},
		{At: 32 * time.Second, Kind: sim.Partition, Groups: [][]sim.Selector{{"leader"}, {sim.Not("leader", "n5")}}, For: 5 * time.Second},
		{At: 33 * time.Second, Kind: sim.Partition, Groups: [][]sim.Selector{{sim.Not("minority")}}, OneWay: true},
		{At: 34 * time.Second, Kind: sim.Pause, Target: sim.Not("follower", "n1"), For: 2 * time.Second},
	},
	Commands: []sim.Command{
		{At: 10 * time.Second, Kind: roles.Promote, Target: "n4", Roles: roles.ControlPlane, Reason: roles.Operator},
		{At: 11 * time.Second, Kind: roles.Promote, Target: "n5", Roles: roles.Etcd | roles.APIServer, Reason: roles.Operator},
		{At: 30 * time.Second, Kind: roles.Demote, Target: "n1", Reason: roles.ScalingDown},
		{At: 31 * time.Second, Kind: roles.Quarantine, Target: "random-voter", Reason: roles.HealthDegraded},
		{At: 40 * time.Second, Kind: roles.Restore, Target: "n3", Reason: roles.Operator, To: "n2"},
		{At: 50 * time.Second, Kind: roles.Promote, Target: "n4", Reason: roles.Rebalance, To: "n3", With: []sim.Command{
			{Kind: roles.Demote, Target: "n1", Roles: roles.Etcd, Reason: roles.Operator},
			{Kind: roles.Quarantine, Target: "random-worker", Reason: roles.HealthDegraded},
		}},
	},
	Expect: sim.Expect{Converge: &sim.Converge{Within: 30 * time.Second, ControlPlane: 3}, CommandsComplete: true, Progress: 0.5},
}

func TestParseFull(t *testing.T) {
	p, err := scenarios.Parse("everything.yaml", []byte(full))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(p, fullPlan) {
		t.Fatalf("Parse(full):\n got %+v\nwant %+v", p, fullPlan)
	}
}

func TestParseDefaults(t *testing.T) {
	p, err := scenarios.Parse("min.yaml", []byte("name: min\nnodes: 1\ncontrol_plane: 1\nduration: 10s\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := &sim.Plan{
		Name: "min", Nodes: 1, ControlPlane: 1, Duration: 10 * time.Second,
		Network: sim.Network{LatencyMin: time.Millisecond, LatencyMax: 10 * time.Millisecond},
	}
	if !reflect.DeepEqual(p, want) {
		t.Fatalf("got %+v, want %+v", p, want)
	}
}

func TestParseAccepts(t *testing.T) {
	const hdr = "name: t\nnodes: 5\ncontrol_plane: 3\nduration: 60s\n"
	for _, tc := range []struct {
		name, yaml string
		check      func(*sim.Plan) bool
	}{
		{"null lists are empty", hdr + "faults:\ncommands:\nexpect:\nnetwork:\n", func(p *sim.Plan) bool {
			return p.Faults == nil && p.Commands == nil && p.Network.LatencyMax == 10*time.Millisecond
		}},
		{"latency max only", hdr + "network: {latency: {max: 50ms}}\n", func(p *sim.Plan) bool {
			return p.Network.LatencyMin == time.Millisecond && p.Network.LatencyMax == 50*time.Millisecond
		}},
		{"integer rate", hdr + "network: {loss: 1}\n", func(p *sim.Plan) bool { return p.Network.Loss == 1 }},
		{"zero at", hdr + "faults: [{at: 0, crash: n1}]\n", func(p *sim.Plan) bool { return p.Faults[0].At == 0 }},
		{"aliases", hdr + "faults:\n  - &f {at: 1s, crash: n1}\n  - *f\n", func(p *sim.Plan) bool {
			return len(p.Faults) == 2 && p.Faults[1].Target == "n1"
		}},
		{"one way false", hdr + "faults: [{at: 1s, partition: n1, one_way: false}]\n", func(p *sim.Plan) bool {
			return !p.Faults[0].OneWay
		}},
		{"shift of one command", hdr + "commands: [{at: 1s, shift: [{promote: n4}]}]\n", func(p *sim.Plan) bool {
			return reflect.DeepEqual(p.Commands, []sim.Command{{At: time.Second, Kind: roles.Promote, Target: "n4", Reason: roles.Operator}})
		}},
		{"shift of the most commands", hdr + "commands: [{at: 1s, shift: [" + strings.Repeat("{restore: random}, ", roles.ShiftCommandsMax) + "]}]\n", func(p *sim.Plan) bool {
			return len(p.Commands) == 1 && len(p.Commands[0].With) == roles.ShiftCommandsMax-1 && p.Commands[0].With[0].At == 0
		}},
		{"null fields in a shift", hdr + "commands: [{at: 1s, roles: , shift: [{at: , demote: n1, shift: }]}]\n", func(p *sim.Plan) bool {
			return len(p.Commands) == 1 && p.Commands[0].Target == "n1" && p.Commands[0].With == nil
		}},
		{"null workload", hdr + "workload:\n", func(p *sim.Plan) bool { return p.Workload == nil }},
		{"workload defaults", hdr + "workload: {clients: 1, rate: 1/s, keys: 1, face: pureraft}\n", func(p *sim.Plan) bool {
			return reflect.DeepEqual(p.Workload, &sim.Workload{Clients: 1, Rate: 1, Keys: 1, Face: "pureraft",
				Mix: sim.Mix{Apply: 5, Get: 3, List: 1, Delete: 1}})
		}},
		{"null mix and shares", hdr + "workload: {clients: 1, rate: 1/s, keys: 1, face: systemd, mix: , cas: , local: }\n", func(p *sim.Plan) bool {
			return p.Workload.Mix == sim.Mix{Apply: 5, Get: 3, List: 1, Delete: 1} && p.Workload.CAS == 0
		}},
		{"partial mix", hdr + "workload: {clients: 1, rate: 1/s, keys: 1, face: baremetal, mix: {watch: 2, get: 0}}\n", func(p *sim.Plan) bool {
			return p.Workload.Mix == sim.Mix{Watch: 2}
		}},
		{"workload limits", hdr + fmt.Sprintf("workload: {clients: %d, rate: %d/s, keys: %d, face: kubernetes}\n", sim.ClientsMax, sim.RateMax, sim.KeysMax), func(p *sim.Plan) bool {
			return p.Workload.Clients == sim.ClientsMax && p.Workload.Rate == sim.RateMax && p.Workload.Keys == sim.KeysMax
		}},
		{"rate per minute at the limit", hdr + fmt.Sprintf("workload: {clients: 1, rate: %d/m, keys: 1, face: kubernetes}\n", 60*sim.RateMax), func(p *sim.Plan) bool {
			return p.Workload.Rate == sim.RateMax
		}},
		{"fractional rates", hdr + "workload: {clients: 1, rate: .5/s, keys: 1, face: kubernetes}\n", func(p *sim.Plan) bool {
			return p.Workload.Rate == 0.5
		}},
		{"rate with a trailing point", hdr + "workload: {clients: 1, rate: \"3./m\", keys: 1, face: kubernetes}\n", func(p *sim.Plan) bool {
			return p.Workload.Rate == 0.05
		}},
		{"progress zero", hdr + "workload: {clients: 1, rate: 1/s, keys: 1, face: kubernetes}\nexpect: {progress: 0}\n", func(p *sim.Plan) bool {
			return p.Expect.Progress == 0 && p.Workload != nil
		}},
		{"strategy target", hdr + "target: quorum-3m\n", func(p *sim.Plan) bool {
			return p.Target == "quorum-3m" && p.TargetVoters == 0
		}},
		{"strategy target with underscores", hdr + "target: cluster_3m_nw\n", func(p *sim.Plan) bool { return p.Target == "cluster-3m-nw" }},
		{"every strategy", hdr + "target: mesh-all-peers\n", func(p *sim.Plan) bool { return p.Target == "mesh-all-peers" }},
		{"explicit target of every node", hdr + "target: {voters: 5}\n", func(p *sim.Plan) bool {
			return p.Target == "explicit" && p.TargetVoters == 5
		}},
		{"explicit target of one", "name: t\nnodes: 1\ncontrol_plane: 1\nduration: 60s\ntarget: {voters: 1}\n", func(p *sim.Plan) bool {
			return p.Target == "explicit" && p.TargetVoters == 1
		}},
		{"null target and policy", hdr + "target:\npolicy:\n", func(p *sim.Plan) bool {
			return p.Target == "" && p.Policy == sim.PolicyKnobs{}
		}},
		{"partial policy", hdr + "policy: {grace: 2s, phi_threshold: 10}\n", func(p *sim.Plan) bool {
			return p.Policy == sim.PolicyKnobs{Grace: 2 * time.Second, PhiThreshold: 10}
		}},
		{"policy without target", hdr + "policy: {damper: 30s}\n", func(p *sim.Plan) bool {
			return p.Target == "" && p.Policy.Damper == 30*time.Second
		}},
		{"phi threshold at the limit", hdr + fmt.Sprintf("policy: {phi_threshold: %d}\n", scenarios.PhiThresholdMax), func(p *sim.Plan) bool {
			return p.Policy.PhiThreshold == scenarios.PhiThresholdMax
		}},
		{"clock rate limits", hdr + fmt.Sprintf("faults: [{at: 1s, clock: n1, rate: %d}, {at: 1s, clock: leader, rate: 1e-9}]\n", scenarios.ClockRateMax), func(p *sim.Plan) bool {
			return p.Faults[0].Rate == scenarios.ClockRateMax && p.Faults[1].Rate == 1e-9 && p.Faults[1].For == 0
		}},
		{"dynamic selectors may repeat", hdr + "faults: [{at: 1s, partition: [[random-voter], [random-voter]]}]\n", func(p *sim.Plan) bool {
			return len(p.Faults[0].Groups) == 2
		}},
		{"follower", hdr + "faults: [{at: 1s, crash: follower}]\ncommands: [{at: 2s, demote: follower}]\n", func(p *sim.Plan) bool {
			return p.Faults[0].Target == "follower" && p.Commands[0].Target == "follower"
		}},
		{"not group alone", hdr + "faults: [{at: 1s, partition: {not: [leader]}}]\n", func(p *sim.Plan) bool {
			return reflect.DeepEqual(p.Faults[0].Groups, [][]sim.Selector{{"not:leader"}})
		}},
		{"not group in a list", hdr + "faults: [{at: 1s, partition: [{not: leader}]}]\n", func(p *sim.Plan) bool {
			return reflect.DeepEqual(p.Faults[0].Groups, [][]sim.Selector{{"not:leader"}})
		}},
		{"not group first", hdr + "faults: [{at: 1s, partition: [{not: [n1, random]}, [n1]], one_way: true}]\n", func(p *sim.Plan) bool {
			return reflect.DeepEqual(p.Faults[0].Groups, [][]sim.Selector{{sim.Not("n1", "random")}, {"n1"}})
		}},
		{"not lists a dynamic selector another group names", hdr + "faults: [{at: 1s, partition: [[random-voter], {not: [random-voter]}]}]\n", func(p *sim.Plan) bool {
			return len(p.Faults[0].Groups) == 2
		}},
		{"not as a clock target", hdr + "faults: [{at: 1s, clock: {not: [leader]}, rate: 2}]\n", func(p *sim.Plan) bool {
			return p.Faults[0].Target == sim.Not("leader")
		}},
		{"to beside a shift", hdr + "commands: [{at: 1s, to: n5, shift: [{promote: n4}]}]\n", func(p *sim.Plan) bool {
			return p.Commands[0].To == "n5" && p.Commands[0].With == nil
		}},
		{"null to", hdr + "commands: [{at: 1s, promote: n4, to: }]\n", func(p *sim.Plan) bool { return p.Commands[0].To == "" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := scenarios.Parse("t.yaml", []byte(tc.yaml))
			if err != nil {
				t.Fatal(err)
			}
			if !tc.check(p) {
				t.Fatalf("unexpected plan %+v", p)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	// hdr is lines 1 to 4 of every case that uses it.
	const hdr = "name: t\nnodes: 5\ncontrol_plane: 3\nduration: 60s\n"
	for _, tc := range []struct {
		name  string
		yaml  string
		line  int
		field string
		msg   string // a substring of the Error's text
	}{
		// Structure.
		{"empty file", "", 1, "", "file is empty"},
		{"comments only", "# nothing here\n", 1, "", "file is empty"},
		{"null document", "---\n", 1, "", "file is empty"},
		{"null document after comments", "# a\n# b\n---\n", 3, "", "file is empty"},
		{"two documents", hdr + "---\nname: u\n", 6, "", "a second YAML document"},
		{"unclosed flow mapping", hdr + "faults: [{at: 1s\n", 5, "", "invalid YAML: did not find expected ',' or '}'"},
		{"tab indentation", hdr + "network:\n\tloss: 0\n", 6, "", "invalid YAML: found character that cannot start any token"},
		{"bad indentation", hdr + "network:\n  loss: 0\n duplicate: 0\n", 7, "", "invalid YAML: did not find expected key"},
		{"mapping in a scalar", hdr + "description: a: b\n", 5, "", "invalid YAML: mapping values are not allowed"},
		{"syntax error on line 1", "name: a: b\nnodes: 5\n", 1, "", "invalid YAML: mapping values are not allowed"},
		{"unclosed at the end", "name: [\n", 2, "", "invalid YAML: did not find expected node content"},
		{"unknown anchor", hdr + "faults: *f\n", 0, "", "invalid YAML: unknown anchor 'f' referenced"},
		{"syntax error in second document", hdr + "---\n- [\n", 7, "", "invalid YAML"},
		{"not UTF-8", hdr + "description: \xff\n", 5, "", "not UTF-8"},
		// Runs too short to judge.
		{"ends before the leader monitor judges", "name: t\nnodes: 5\ncontrol_plane: 3\nduration: 15s\nfaults:\n  - {at: 10s, crash: n1}\n", 4, "duration",
			"duration 15s is too short to judge leader-after-heal (the last fault heals at 10s): it needs 10s after 10s, so at least 20s"},
		{"ends before convergence is judged", hdr + "faults:\n  - {at: 10s, crash: n1, for: 20s}\nexpect:\n  converge: {within: 40s, control_plane: 3}\n", 8, "expect.converge.within",
			"too short to judge converge (timed from 30s): it needs 40s after 30s, so at least 1m10s: lengthen duration or shorten expect.converge.within"},
		{"control character", hdr + "\n\x01\n", 6, "", "control character U+0001"},
		{"control character after CR", "name: t\r\r\x01", 3, "", "control character U+0001"},
		{"root is a list", "- name: t\n", 1, "", "want a mapping, got a list"},
		{"root is a string", "leader-kill\n", 1, "", `want a mapping, got string "leader-kill"`},
		{"alias inside its node", hdr + "faults: &a [*a]\n", 5, "", "alias *a is inside the node it names"},
		{"alias bomb", hdr + "x0: &x0 [n1, n1, n1, n1, n1, n1, n1, n1, n1, n1]\n" + aliasBomb(8), 11, "", "aliases expand the document to more than"},
		{"too large", hdr + "description: " + strings.Repeat("x", scenarios.FileBytesMax) + "\n", 0, "", "larger than"},

		// Fields.
		{"unknown field", hdr + "workloads: {clients: 4}\n", 5, "workloads", `unknown field "workloads"`},
		{"unknown nested field", hdr + "expect:\n  linearizable: true\n", 6, "expect.linearizable", `unknown field "linearizable"`},
		{"unknown fault field", hdr + "faults:\n  - {at: 1s, crash: n1, wobble: n2}\n", 6, "faults[0].wobble", `unknown field "wobble"`},
		{"unknown latency field", hdr + "network: {latency: {mean: 3ms}}\n", 5, "network.latency.mean", `unknown field "mean"`},
		{"merge key", hdr + "base: &b {at: 1s}\n", 5, "base", `unknown field "base"`},
		{"merge key in item", hdr + "faults:\n  - {<<: {at: 1s}, crash: n1}\n", 6, "faults[0].<<", `unknown field "<<"`},
		{"duplicate field", hdr + "nodes: 4\n", 5, "nodes", `duplicate field "nodes" (first at line 2)`},
		{"duplicate fault field", hdr + "faults:\n  - {at: 1s, at: 2s, crash: n1}\n", 6, "faults[0].at", `duplicate field "at"`},
		{"non-scalar key", hdr + "? [a]\n: 1\n", 5, "", "want a field name, got a list"},
		{"missing name", "nodes: 5\ncontrol_plane: 3\nduration: 60s\n", 1, "name", "missing required field"},
		{"missing nodes", "name: t\ncontrol_plane: 3\nduration: 60s\n", 1, "nodes", "missing required field"},
		{"missing control_plane", "name: t\nnodes: 3\nduration: 60s\n", 1, "control_plane", "missing required field"},
		{"missing duration", "name: t\nnodes: 3\ncontrol_plane: 3\n", 1, "duration", "missing required field"},
		{"null required", "name: t\nnodes:\ncontrol_plane: 3\nduration: 60s\n", 2, "nodes", "missing value"},
		{"missing at", hdr + "faults:\n  - {crash: n1}\n", 6, "faults[0].at", "missing required field"},
		{"missing converge field", hdr + "expect:\n  converge: {within: 5s}\n", 6, "expect.converge.control_plane", "missing required field"},

		// Types.
		{"list for a mapping", hdr + "network: [1, 2]\n", 5, "network", "want a mapping, got a list"},
		{"mapping for a list", hdr + "faults: {at: 1s, crash: n1}\n", 5, "faults", "want a list, got a mapping"},
		{"scalar fault", hdr + "faults:\n  - crash n1\n", 6, "faults[0]", `want a mapping, got string "crash n1"`},
		{"quoted integer", "name: t\nnodes: \"5\"\ncontrol_plane: 3\nduration: 60s\n", 2, "nodes", `want an integer in 1..128, got string "5"`},
		{"float nodes", "name: t\nnodes: 5.5\ncontrol_plane: 3\nduration: 60s\n", 2, "nodes", "want an integer"},
		{"list for a selector", hdr + "faults: [{at: 1s, crash: [n1]}]\n", 5, "faults[0].crash", "want a node selector such as n1 or leader, got a list"},
		{"string for a boolean", hdr + "expect: {commands_complete: yes}\n", 5, "expect.commands_complete", `want true or false, got string "yes"`},
		{"mapping for a duration", hdr + "faults: [{at: {s: 1}, crash: n1}]\n", 5, "faults[0].at", "want a duration such as 20s, got a mapping"},

		// Header values.
		{"bad name", "name: Leader_Kill\nnodes: 5\ncontrol_plane: 3\nduration: 60s\n", 1, "name", `bad name "Leader_Kill"`},
		{"long name", "name: " + strings.Repeat("a", scenarios.NameBytesMax+1) + "\nnodes: 5\ncontrol_plane: 3\nduration: 60s\n", 1, "name", "bad name"},
		{"zero nodes", "name: t\nnodes: 0\ncontrol_plane: 3\nduration: 60s\n", 2, "nodes", "0 out of range 1..128"},
		{"too many nodes", "name: t\nnodes: 129\ncontrol_plane: 3\nduration: 60s\n", 2, "nodes", "129 out of range 1..128"},
		{"control plane above nodes", "name: t\nnodes: 5\ncontrol_plane: 6\nduration: 60s\n", 3, "control_plane", "6 out of range 1..5"},
		{"duration without unit", "name: t\nnodes: 5\ncontrol_plane: 3\nduration: 60\n", 4, "duration", `bad duration "60": time: missing unit`},
		{"zero duration", "name: t\nnodes: 5\ncontrol_plane: 3\nduration: 0s\n", 4, "duration", "out of range (0, 24h0m0s]"},
		{"duration too long", "name: t\nnodes: 5\ncontrol_plane: 3\nduration: 25h\n", 4, "duration", "out of range"},
		{"negative duration", "name: t\nnodes: 5\ncontrol_plane: 3\nduration: -1s\n", 4, "duration", "negative duration -1s"},

		// Network.
		{"latency reversed", hdr + "network:\n  latency: {min: 20ms, max: 10ms}\n", 6, "network.latency", "min 20ms is more than max 10ms"},
		{"latency default max", hdr + "network: {latency: {min: 20ms}}\n", 5, "network.latency", "min 20ms is more than max 10ms"},
		{"bad latency", hdr + "network: {latency: {min: fast}}\n", 5, "network.latency.min", `bad duration "fast"`},
		{"network loss range", hdr + "network: {loss: -0.1}\n", 5, "network.loss", "rate -0.1 is not within [0, 1]"},
		{"network duplicate nan", hdr + "network: {duplicate: .nan}\n", 5, "network.duplicate", "rate .nan is not within [0, 1]"},

		// Workload.
		{"workload is a list", hdr + "workload: [4, 50/s]\n", 5, "workload", "want a mapping, got a list"},
		{"unknown workload field", hdr + "workload:\n  clients: 4\n  threads: 2\n", 7, "workload.threads", `unknown field "threads" (want one of clients, rate, keys, face, mix, cas, local, resume, retain, pacing, script)`},
		{"workload without clients", hdr + "workload: {rate: 5/s, keys: 1, face: nomad}\n", 5, "workload.clients", "missing required field"},
		{"workload without rate", hdr + "workload:\n  clients: 1\n  keys: 1\n  face: nomad\n", 6, "workload.rate", "missing required field"},
		{"workload without keys", hdr + "workload: {clients: 1, rate: 5/s, face: nomad}\n", 5, "workload.keys", "missing required field"},
		{"workload without face", hdr + "workload: {clients: 1, rate: 5/s, keys: 1}\n", 5, "workload.face", "missing required field"},
		{"empty workload", hdr + "workload: {}\n", 5, "workload.clients", "missing required field"},
		{"null clients", hdr + "workload:\n  clients:\n", 6, "workload.clients", "missing value"},
		{"zero clients", hdr + "workload: {clients: 0, rate: 5/s, keys: 1, face: nomad}\n", 5, "workload.clients", "0 out of range 1..64"},
		{"too many clients", hdr + "workload: {clients: 65, rate: 5/s, keys: 1, face: nomad}\n", 5, "workload.clients", "65 out of range 1..64"},
		{"quoted clients", hdr + "workload: {clients: \"4\", rate: 5/s, keys: 1, face: nomad}\n", 5, "workload.clients", `want an integer in 1..64, got string "4"`},
		{"zero keys", hdr + "workload: {clients: 1, rate: 5/s, keys: 0, face: nomad}\n", 5, "workload.keys", "0 out of range 1..10000"},
		{"too many keys", hdr + "workload: {clients: 1, rate: 5/s, keys: 10001, face: nomad}\n", 5, "workload.keys", "10001 out of range 1..10000"},
		{"unknown pacing", hdr + "workload: {clients: 1, rate: 5/s, keys: 1, face: nomad, pacing: middle}\n", 5, "workload.pacing", `unknown pacing "middle" (want start or end)`},
		{"pacing of a script", hdr + "workload:\n  face: nomad\n  pacing: end\n  script: [{at: 1s, client: 0, node: n1, verb: get, key: k}]\n", 7, "workload.pacing", "goes with random clients, not a script"},
		{"keys too few for the clients", hdr + "workload: {clients: 64, rate: 5/s, keys: 5, face: nomad}\n", 5, "workload.keys", "5 too few for 64 clients: at most 8 clients write one key, so at least 8"},
		{"rate without unit", hdr + "workload: {clients: 1, rate: 50, keys: 1, face: nomad}\n", 5, "workload.rate", `bad rate "50": want operations per second or per minute, such as 50/s or 600/m`},
		{"rate per hour", hdr + "workload: {clients: 1, rate: 50/h, keys: 1, face: nomad}\n", 5, "workload.rate", `bad rate "50/h"`},
		{"rate with a space", hdr + "workload: {clients: 1, rate: 50 /s, keys: 1, face: nomad}\n", 5, "workload.rate", `bad rate "50 /s"`},
		{"negative rate", hdr + "workload: {clients: 1, rate: -5/s, keys: 1, face: nomad}\n", 5, "workload.rate", `bad rate "-5/s"`},
		{"rate with exponent", hdr + "workload: {clients: 1, rate: 1e3/s, keys: 1, face: nomad}\n", 5, "workload.rate", `bad rate "1e3/s"`},
		{"rate nan", hdr + "workload: {clients: 1, rate: NaN/s, keys: 1, face: nomad}\n", 5, "workload.rate", `bad rate "NaN/s"`},
		{"rate as a list", hdr + "workload: {clients: 1, rate: [50, s], keys: 1, face: nomad}\n", 5, "workload.rate", "want operations per second or per minute, such as 50/s or 600/m, got a list"},
		{"zero rate", hdr + "workload: {clients: 1, rate: 0.0/m, keys: 1, face: nomad}\n", 5, "workload.rate", "rate 0.0/m is not positive"},
		{"rate underflows", hdr + "workload: {clients: 1, rate: 0." + strings.Repeat("0", 400) + "1/s, keys: 1, face: nomad}\n", 5, "workload.rate", "is not positive"},
		{"rate too high", hdr + "workload: {clients: 1, rate: 10000.5/s, keys: 1, face: nomad}\n", 5, "workload.rate", "rate 10000.5/s is more than 10000/s"},
		{"rate per minute too high", hdr + "workload: {clients: 1, rate: 600001/m, keys: 1, face: nomad}\n", 5, "workload.rate", "rate 600001/m is more than 10000/s"},
		{"rate overflows", hdr + "workload: {clients: 1, rate: 1" + strings.Repeat("0", 400) + "/s, keys: 1, face: nomad}\n", 5, "workload.rate", "is more than 10000/s"},
		{"unknown face", hdr + "workload: {clients: 1, rate: 5/s, keys: 1, face: docker}\n", 5, "workload.face", `unknown face "docker" (want one of kubernetes, nomad, systemd, pureraft, baremetal)`},
		{"face as a list", hdr + "workload: {clients: 1, rate: 5/s, keys: 1, face: [nomad]}\n", 5, "workload.face", "want a face, got a list"},
		{"mix is a list", hdr + "workload: {clients: 1, rate: 5/s, keys: 1, face: nomad, mix: [1, 2]}\n", 5, "workload.mix", "want a mapping, got a list"},
		{"unknown verb", hdr + "workload: {clients: 1, rate: 5/s, keys: 1, face: nomad, mix: {put: 1}}\n", 5, "workload.mix.put", `unknown field "put" (want one of apply, get, list, delete, watch)`},
		{"negative weight", hdr + "workload: {clients: 1, rate: 5/s, keys: 1, face: nomad, mix: {apply: -1, get: 2}}\n", 5, "workload.mix.apply", "-1 out of range 0..10000"},
		{"weight too large", hdr + "workload: {clients: 1, rate: 5/s, keys: 1, face: nomad, mix: {get: 10001}}\n", 5, "workload.mix.get", "10001 out of range 0..10000"},
		{"fractional weight", hdr + "workload: {clients: 1, rate: 5/s, keys: 1, face: nomad, mix: {list: 0.5}}\n", 5, "workload.mix.list", "want an integer in 0..10000, got number 0.5"},
		{"all weights zero", hdr + "workload:\n  clients: 1\n  rate: 5/s\n  keys: 1\n  face: nomad\n  mix:\n    apply: 0\n    watch: 0\n", 11, "workload.mix", "every weight is zero"},
		{"empty mix", hdr + "workload: {clients: 1, rate: 5/s, keys: 1, face: nomad, mix: {}}\n", 5, "workload.mix", "every weight is zero"},
		{"cas above one", hdr + "workload: {clients: 1, rate: 5/s, keys: 1, face: nomad, cas: 1.5}\n", 5, "workload.cas", "share 1.5 is not within [0, 1]"},
		{"quoted local", hdr + "workload: {clients: 1, rate: 5/s, keys: 1, face: nomad, local: \"0.1\"}\n", 5, "workload.local", `bad share: want a number in [0, 1], got string "0.1"`},
		{"local negative", hdr + "workload: {clients: 1, rate: 5/s, keys: 1, face: nomad, local: -0.1}\n", 5, "workload.local", "share -0.1 is not within [0, 1]"},

		// Faults.
		{"fault without kind", hdr + "faults:\n  - {at: 1s, for: 2s}\n", 6, "faults[0]", "fault has no kind: want exactly one of crash, restart, pause, resume, partition, heal, loss, duplicate, chaos, clock"},
		{"fault with two kinds", hdr + "faults:\n  - {at: 1s, crash: n1, pause: n2}\n", 6, "faults[0].pause", "fault has two kinds, crash and pause: want exactly one"},
		{"fault with two kinds, block", hdr + "faults:\n  - at: 1s\n    crash: n1\n    pause: n2\n", 8, "faults[0].pause", "two kinds"},
		{"bad fault duration", hdr + "faults:\n  - {at: 1s, crash: n1}\n  - {at: 2x, crash: n1}\n", 7, "faults[1].at", `bad duration "2x": time: unknown unit "x" in duration "2x"`},
		{"negative for", hdr + "faults:\n  - {at: 1s, pause: n1, for: -5s}\n", 6, "faults[0].for", "negative duration -5s"},
		{"at after end", hdr + "faults:\n  - {at: 60s, crash: n1}\n", 6, "faults[0].at", "1m0s is not before the end of the run (duration 1m0s)"},
		{"non-numeric rate", hdr + "faults:\n  - {at: 1s, loss: high}\n", 6, "faults[0].loss", `bad rate: want a number in [0, 1], got string "high"`},
		{"quoted rate", hdr + "faults:\n  - {at: 1s, chaos: \"0.1\"}\n", 6, "faults[0].chaos", "bad rate"},
		{"rate above one", hdr + "faults:\n  - {at: 1s, duplicate: 1.5}\n", 6, "faults[0].duplicate", "rate 1.5 is not within [0, 1]"},
		{"unknown selector", hdr + "faults:\n  - {at: 1s, crash: boss}\n", 6, "faults[0].crash", `unknown node selector "boss"`},
		{"node out of range", hdr + "faults:\n  - {at: 1s, crash: n9}\n", 6, "faults[0].crash", `node "n9" is not in a mesh of 5 nodes`},
		{"node zero", hdr + "faults:\n  - {at: 1s, restart: n0}\n", 6, "faults[0].restart", `node "n0" is not in a mesh of 5 nodes`},
		{"padded node", hdr + "faults:\n  - {at: 1s, pause: n01}\n", 6, "faults[0].pause", `unknown node selector "n01"`},
		{"missing selector", hdr + "faults:\n  - {at: 1s, crash: }\n", 6, "faults[0].crash", "missing value"},
		{"node out of range in group", hdr + "faults:\n  - {at: 1s, partition: [[n1], [n9]]}\n", 6, "faults[0].partition[1][0]", `node "n9" is not in a mesh of 5 nodes`},
		{"node out of range in flat group", hdr + "faults:\n  - {at: 1s, partition: [n1, n6]}\n", 6, "faults[0].partition[1]", `node "n6" is not in a mesh of 5 nodes`},
		{"node in two groups", hdr + "faults:\n  - {at: 1s, partition: [[n1, n2], [n2]]}\n", 6, "faults[0].partition", "n2 appears more than once"},
		{"empty partition", hdr + "faults:\n  - {at: 1s, partition: []}\n", 6, "faults[0].partition", "empty partition"},
		{"empty group", hdr + "faults:\n  - {at: 1s, partition: [[n1], []]}\n", 6, "faults[0].partition[1]", "empty group"},
		{"mixed groups", hdr + "faults:\n  - {at: 1s, partition: [[n1], n2]}\n", 6, "faults[0].partition[1]", "want a group (a list of selectors, or {not: [selectors]}), got string \"n2\""},
		{"mapping partition", hdr + "faults:\n  - {at: 1s, partition: {a: n1}}\n", 6, "faults[0].partition.a", `unknown field "a" (want one of not)`},
		{"unknown selector in a not", hdr + "faults:\n  - {at: 1s, crash: {not: [leader, boss]}}\n", 6, "faults[0].crash.not[1]", `unknown node selector "boss"`},
		{"node out of range in a not", hdr + "faults:\n  - {at: 1s, partition: [[n1], {not: [n1, n6]}]}\n", 6, "faults[0].partition[1].not[1]", `node "n6" is not in a mesh of 5 nodes`},
		{"empty not", hdr + "faults:\n  - {at: 1s, crash: {not: []}}\n", 6, "faults[0].crash.not", "empty not: want at least one selector"},
		{"null not", hdr + "faults:\n  - {at: 1s, pause: {not: }}\n", 6, "faults[0].pause.not", "missing value"},
		{"not without not", hdr + "faults:\n  - {at: 1s, crash: {}}\n", 6, "faults[0].crash.not", "missing required field"},
		{"unknown field beside not", hdr + "faults:\n  - {at: 1s, crash: {not: n1, but: n2}}\n", 6, "faults[0].crash.but", `unknown field "but" (want one of not)`},
		{"not inside a not", hdr + "faults:\n  - {at: 1s, crash: {not: [{not: [n1]}]}}\n", 6, "faults[0].crash.not[0]", "want a node selector such as n1 or leader, got a mapping"},
		{"not in its string form", hdr + "faults:\n  - {at: 1s, crash: \"not:n1\"}\n", 6, "faults[0].crash", "write a not as {not: [selectors]}"},
		{"not in a group", hdr + "faults:\n  - {at: 1s, partition: [[n1, {not: [n1]}]]}\n", 6, "faults[0].partition[0][1]", "a not is a group of its own"},
		{"not in a flat group", hdr + "faults:\n  - {at: 1s, partition: [n1, {not: [n1]}]}\n", 6, "faults[0].partition[1]", "a not is a group of its own"},
		{"two not groups", hdr + "faults:\n  - {at: 1s, partition: [{not: [n1]}, {not: [n2]}]}\n", 6, "faults[0].partition", "2 not groups: a partition holds at most one"},
		{"named node in a group and the not", hdr + "faults:\n  - {at: 1s, partition: [[n1, leader], {not: [leader]}]}\n", 6, "faults[0].partition", "n1 is in a group and, not listed in the not, in the not group too"},
		{"not as a command target", hdr + "commands:\n  - {at: 1s, demote: {not: [n1]}}\n", 6, "commands[0].demote", "want a node selector such as n1 or leader, got a mapping"},
		{"one_way without partition", hdr + "faults:\n  - {at: 1s, crash: n1, one_way: true}\n", 6, "faults[0].one_way", "only valid with partition, not crash"},
		{"one_way not boolean", hdr + "faults:\n  - {at: 1s, partition: n1, one_way: 1}\n", 6, "faults[0].one_way", "want true or false, got number 1"},
		{"for on heal", hdr + "faults:\n  - {at: 1s, heal: true, for: 2s}\n", 6, "faults[0].for", "not valid with heal"},
		{"for on restart", hdr + "faults:\n  - {at: 1s, restart: n1, for: 2s}\n", 6, "faults[0].for", "not valid with restart"},
		{"chaos without for", hdr + "faults:\n  - {at: 1s, chaos: 0.1}\n", 6, "faults[0].for", "chaos needs a positive for"},
		{"chaos with zero for", hdr + "faults:\n  - {at: 1s, chaos: 0.1, for: 0s}\n", 6, "faults[0].for", "chaos needs a positive for"},
		{"heal false", hdr + "faults:\n  - {at: 1s, heal: false}\n", 6, "faults[0].heal", "want true"},
		{"too many faults", hdr + "faults:\n" + strings.Repeat("  - {at: 1s, heal: true}\n", scenarios.ItemsMax+1), 6, "faults", "more than the 4096 allowed"},

		// Target and policy.
		{"unknown strategy", hdr + "target: quorum-5m\n", 5, "target", `topology: unknown strategy "quorum-5m" (want one of solo, pair, quorum-3m, cluster-3m-nw, mesh-all-peers, phalanx), or {voters: N}`},
		{"number for a strategy", hdr + "target: 3\n", 5, "target", `unknown strategy "3"`},
		{"explicit by name", hdr + "target: explicit\n", 5, "target", "an explicit target is given by its counts: write target: {voters: N}"},
		{"target is a list", hdr + "target: [quorum-3m]\n", 5, "target", "want a topology strategy or {voters: N}, got a list"},
		{"more voters than nodes", hdr + "target: {voters: 7}\n", 5, "target", "a mesh of 5 nodes cannot meet 7 voters: topology: unsatisfiable: target 7 voters, 7 control-plane, ≥0 workers with 5 nodes: needs 7 eligible nodes (7 voters + 0 workers), have 5"},
		{"even voters", hdr + "target:\n  voters: 4\n", 5, "target", "a mesh of 5 nodes cannot meet 4 voters: topology: unsatisfiable: target 4 voters, 4 control-plane, ≥0 workers with 5 nodes: 4 voters is even"},
		{"zero voters", hdr + "target: {voters: 0}\n", 5, "target.voters", "0 out of range 1..128"},
		{"quoted voters", hdr + "target: {voters: \"3\"}\n", 5, "target.voters", `want an integer in 1..128, got string "3"`},
		{"target without voters", hdr + "target: {}\n", 5, "target.voters", "missing required field"},
		{"unknown target field", hdr + "target: {voters: 3, workers: 2}\n", 5, "target.workers", `unknown field "workers" (want one of voters)`},
		{"policy is a list", hdr + "policy: [1s]\n", 5, "policy", "want a mapping, got a list"},
		{"unknown policy field", hdr + "policy:\n  grace: 1s\n  audit: 1s\n", 7, "policy.audit", `unknown field "audit" (want one of audit_every, grace, damper, stabilize, phi_threshold)`},
		{"zero policy duration", hdr + "policy: {grace: 0s}\n", 5, "policy.grace", "0s out of range (0, 24h0m0s]; leave the field out for the default"},
		{"negative policy duration", hdr + "policy: {damper: -1s}\n", 5, "policy.damper", "negative duration -1s"},
		{"policy duration too long", hdr + "policy:\n  stabilize: 25h\n", 6, "policy.stabilize", "25h0m0s out of range"},
		{"bad policy duration", hdr + "policy: {audit_every: often}\n", 5, "policy.audit_every", `bad duration "often"`},
		{"zero phi threshold", hdr + "policy: {phi_threshold: 0}\n", 5, "policy.phi_threshold", "threshold 0 is not within (0, 100]"},
		{"phi threshold too high", hdr + "policy: {phi_threshold: 100.5}\n", 5, "policy.phi_threshold", "threshold 100.5 is not within (0, 100]"},
		{"phi threshold nan", hdr + "policy: {phi_threshold: .nan}\n", 5, "policy.phi_threshold", "threshold .nan is not within (0, 100]"},
		{"quoted phi threshold", hdr + "policy: {phi_threshold: \"8\"}\n", 5, "policy.phi_threshold", `bad threshold: want a number in (0, 100], got string "8"`},
		{"target checked before policy", hdr + "policy: {grace: 0s}\ntarget: pentagon\n", 6, "target", "unknown strategy"},

		// Clock faults.
		{"clock without rate", hdr + "faults:\n  - {at: 1s, clock: n3}\n", 6, "faults[0].rate", "clock needs a rate (the speed of the node's clock, such as 1.05 for 5% fast), a jitter or a jump"},
		{"clock with null rate", hdr + "faults:\n  - at: 1s\n    clock: n3\n    rate:\n", 8, "faults[0].rate", "clock needs a rate"},
		{"clock rate zero", hdr + "faults:\n  - {at: 1s, clock: n3, rate: 0}\n", 6, "faults[0].rate", "rate 0 is not within (0, 10]"},
		{"clock rate negative", hdr + "faults:\n  - {at: 1s, clock: n3, rate: -1.05}\n", 6, "faults[0].rate", "rate -1.05 is not within (0, 10]"},
		{"clock rate too high", hdr + "faults:\n  - {at: 1s, clock: n3, rate: 10.5}\n", 6, "faults[0].rate", "rate 10.5 is not within (0, 10]"},
		{"clock rate infinite", hdr + "faults:\n  - {at: 1s, clock: n3, rate: .inf}\n", 6, "faults[0].rate", "rate .inf is not within (0, 10]"},
		{"clock rate quoted", hdr + "faults:\n  - {at: 1s, clock: n3, rate: \"1.05\"}\n", 6, "faults[0].rate", `bad rate: want a number in (0, 10], got string "1.05"`},
		{"clock rate as a percentage", hdr + "faults:\n  - {at: 1s, clock: n3, rate: 5%}\n", 6, "faults[0].rate", `got string "5%"`},
		{"clock node out of range", hdr + "faults:\n  - {at: 1s, clock: n6, rate: 1.05}\n", 6, "faults[0].clock", `node "n6" is not in a mesh of 5 nodes`},
		{"clock without selector", hdr + "faults:\n  - {at: 1s, clock: , rate: 1.05}\n", 6, "faults[0].clock", "missing value"},
		{"clock negative for", hdr + "faults:\n  - {at: 1s, clock: n1, rate: 1.05, for: -1s}\n", 6, "faults[0].for", "negative duration -1s"},
		{"clock and crash", hdr + "faults:\n  - {at: 1s, crash: n1, clock: n1, rate: 2}\n", 6, "faults[0].clock", "fault has two kinds, crash and clock"},
		{"rate on a crash", hdr + "faults:\n  - {at: 1s, crash: n1, rate: 2}\n", 6, "faults[0].rate", "only valid with clock and disk, not crash"},
		{"rate on a loss", hdr + "faults:\n  - at: 1s\n    loss: 0.1\n    rate: 0.2\n", 8, "faults[0].rate", "only valid with clock and disk, not loss"},

		// Commands.
		{"command without kind", hdr + "commands:\n  - {at: 1s, reason: operator}\n", 6, "commands[0]", "command has no kind: want exactly one of promote, demote, quarantine, restore"},
		{"command with two kinds", hdr + "commands:\n  - {at: 1s, promote: n4, demote: n5}\n", 6, "commands[0].demote", "command has two kinds, promote and demote"},
		{"command node out of range", hdr + "commands:\n  - {at: 1s, promote: n9}\n", 6, "commands[0].promote", `node "n9" is not in a mesh of 5 nodes`},
		{"unknown role", hdr + "commands:\n  - {at: 1s, promote: n4, roles: wizard}\n", 6, "commands[0].roles", `roles: unknown role "wizard"`},
		{"empty role", hdr + "commands:\n  - {at: 1s, promote: n4, roles: \"etcd,\"}\n", 6, "commands[0].roles", `roles: unknown role ""`},
		{"worker role", hdr + "commands:\n  - {at: 1s, promote: n4, roles: \"etcd,worker\"}\n", 6, "commands[0].roles", "worker: want control-plane roles only"},
		{"roles on quarantine", hdr + "commands:\n  - {at: 1s, quarantine: n4, roles: etcd}\n", 6, "commands[0].roles", "only valid with promote and demote, not quarantine"},
		{"unknown reason", hdr + "commands:\n  - {at: 1s, demote: n1, reason: boredom}\n", 6, "commands[0].reason", `roles: unknown reason "boredom"`},
		{"to out of range", hdr + "commands:\n  - {at: 1s, promote: n4, to: n6}\n", 6, "commands[0].to", `node "n6" is not in a mesh of 5 nodes`},
		{"to a dynamic selector", hdr + "commands:\n  - {at: 1s, promote: n4, to: leader}\n", 6, "commands[0].to", `"leader" is not a node name (want n1..n5)`},
		{"to a list", hdr + "commands:\n  - {at: 1s, promote: n4, to: [n1]}\n", 6, "commands[0].to", "want a node name such as n3, got a list"},
		{"to out of range beside a shift", hdr + "commands:\n  - at: 1s\n    to: n0\n    shift: [{promote: n4}]\n", 7, "commands[0].to", `node "n0" is not in a mesh of 5 nodes`},
		{"to inside a shift", hdr + "commands:\n  - at: 1s\n    shift:\n      - {promote: n4, to: n2}\n", 8, "commands[0].shift[0].to", "not valid inside a shift: its commands are all submitted to the shift's to"},
		{"command at after end", hdr + "commands:\n  - {at: 2m, demote: n1}\n", 6, "commands[0].at", "not before the end of the run"},

		// Shifts.
		{"empty shift", hdr + "commands:\n  - {at: 1s, shift: []}\n", 6, "commands[0].shift", "empty shift: want a list of 1 to 64 commands"},
		{"null shift", hdr + "commands:\n  - {at: 1s, shift: }\n", 6, "commands[0].shift", "missing value: want a list of 1 to 64 commands"},
		{"mapping shift", hdr + "commands:\n  - {at: 1s, shift: {promote: n4}}\n", 6, "commands[0].shift", "want a list of 1 to 64 commands, got a mapping"},
		{"shift too long", hdr + "commands:\n  - {at: 1s, shift: [" + strings.Repeat("{restore: n1}, ", roles.ShiftCommandsMax+1) + "]}\n", 6, "commands[0].shift", "65 commands, more than the 64 a shift takes"},
		{"shift and a kind", hdr + "commands:\n  - {at: 1s, promote: n4, shift: [{demote: n1}]}\n", 6, "commands[0].shift", "command has two kinds, promote and shift: want exactly one"},
		{"shift without at", hdr + "commands:\n  - shift: [{demote: n1}]\n", 6, "commands[0].at", "missing required field"},
		{"shift at after end", hdr + "commands:\n  - {at: 1m, shift: [{demote: n1}]}\n", 6, "commands[0].at", "not before the end of the run"},
		{"reason beside shift", hdr + "commands:\n  - at: 1s\n    reason: rebalance\n    shift: [{demote: n1}]\n", 7, "commands[0].reason", "not valid beside shift"},
		{"roles beside shift", hdr + "commands:\n  - {at: 1s, shift: [{demote: n1}], roles: etcd}\n", 6, "commands[0].roles", "not valid beside shift"},
		{"at inside a shift", hdr + "commands:\n  - at: 1s\n    shift:\n      - {demote: n1}\n      - {at: 2s, demote: n2}\n", 9, "commands[0].shift[1].at", "not valid inside a shift"},
		{"nested shift", hdr + "commands:\n  - at: 1s\n    shift:\n      - {demote: n1}\n      - shift: [{demote: n2}]\n", 9, "commands[0].shift[1].shift", "nested shift"},
		{"shift item without kind", hdr + "commands:\n  - {at: 1s, shift: [{reason: rebalance}]}\n", 6, "commands[0].shift[0]", "command has no kind: want exactly one of promote, demote, quarantine, restore"},
		{"shift item with two kinds", hdr + "commands:\n  - {at: 1s, shift: [{promote: n4, demote: n5}]}\n", 6, "commands[0].shift[0].demote", "command has two kinds, promote and demote"},
		{"shift item is a string", hdr + "commands:\n  - {at: 1s, shift: [promote n4]}\n", 6, "commands[0].shift[0]", `want a mapping, got string "promote n4"`},
		{"unknown field in a shift", hdr + "commands:\n  - {at: 1s, shift: [{promote: n4, why: x}]}\n", 6, "commands[0].shift[0].why", `unknown field "why"`},
		{"node out of range in a shift", hdr + "commands:\n  - {at: 1s, promote: n4}\n  - at: 2s\n    shift:\n      - {promote: n5}\n      - {demote: n9}\n", 10, "commands[1].shift[1].demote", `node "n9" is not in a mesh of 5 nodes`},
		{"roles on quarantine in a shift", hdr + "commands:\n  - {at: 1s, shift: [{promote: n4}, {quarantine: n1, roles: etcd}]}\n", 6, "commands[0].shift[1].roles", "only valid with promote and demote, not quarantine"},
		{"unknown reason in a shift", hdr + "commands:\n  - {at: 1s, shift: [{promote: n4, reason: whim}]}\n", 6, "commands[0].shift[0].reason", `roles: unknown reason "whim"`},

		// Expect.
		{"converge within zero", hdr + "expect:\n  converge: {within: 0s, control_plane: 3}\n", 6, "expect.converge.within", "want a positive duration"},
		{"converge control plane range", hdr + "expect:\n  converge: {within: 5s, control_plane: 6}\n", 6, "expect.converge.control_plane", "6 out of range 1..5"},
		{"converge is a list", hdr + "expect:\n  converge: [5s, 3]\n", 6, "expect.converge", "want a mapping, got a list"},
		{"progress without workload", hdr + "expect:\n  commands_complete: true\n  progress: 0.5\n", 7, "expect.progress", "only valid with a workload"},
		{"progress above one", hdr + "workload: {clients: 1, rate: 5/s, keys: 1, face: nomad}\nexpect:\n  progress: 2\n", 7, "expect.progress", "share 2 is not within [0, 1]"},
		{"progress not a number", hdr + "workload: {clients: 1, rate: 5/s, keys: 1, face: nomad}\nexpect: {progress: half}\n", 6, "expect.progress", `bad share: want a number in [0, 1], got string "half"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := scenarios.Parse("t.yaml", []byte(tc.yaml))
			if err == nil {
				t.Fatalf("Parse accepted it: %+v", p)
			}
			if !errors.Is(err, scenarios.ErrInvalid) {
				t.Errorf("errors.Is(%v, ErrInvalid) is false", err)
			}
			var e *scenarios.Error
			if !errors.As(err, &e) {
				t.Fatalf("%v (%T) is not an *Error", err, err)
			}
			if e.File != "t.yaml" || e.Line != tc.line || e.Field != tc.field {
				t.Errorf("got file %q line %d field %q, want t.yaml line %d field %q (%v)", e.File, e.Line, e.Field, tc.line, tc.field, err)
			}
			if !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("%q does not contain %q", err, tc.msg)
			}
		})
	}
}

// aliasBomb gives n lines, each a list of ten aliases to the line above:
// 10^(n+1) nodes in all.
func aliasBomb(n int) string {
	var b strings.Builder
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&b, "x%d: &x%d [%s]\n", i, i, strings.Repeat(fmt.Sprintf("*x%d, ", i-1), 10))
	}
	return b.String()
}

func TestErrorText(t *testing.T) {
	for _, tc := range []struct {
		e    scenarios.Error
		want string
	}{
		{scenarios.Error{File: "leader-kill.yaml", Line: 7, Field: "faults[1].at", Msg: `bad duration "2x"`}, `leader-kill.yaml:7: faults[1].at: bad duration "2x"`},
		{scenarios.Error{File: "a.yaml", Line: 1, Msg: "file is empty"}, "a.yaml:1: file is empty"},
		{scenarios.Error{File: "a.yaml", Field: "faults[0]", Msg: "sim: bad"}, "a.yaml: faults[0]: sim: bad"},
	} {
		if got := tc.e.Error(); got != tc.want {
			t.Errorf("got %q, want %q", got, tc.want)
		}
	}
}

func TestLoadFile(t *testing.T) {
	dir := t.TempDir()
	path := dir + "/bad.yaml"
	if err := writeFile(path, "name: bad\nnodes: 5\ncontrol_plane: 3\nduration: 60s\nworkload: {}\n"); err != nil {
		t.Fatal(err)
	}
	_, err := scenarios.LoadFile(path)
	var e *scenarios.Error
	if !errors.As(err, &e) || e.File != path || e.Line != 5 {
		t.Fatalf("LoadFile: got %v, want an *Error at %s:5", err, path)
	}
	if _, err := scenarios.LoadFile(dir + "/missing.yaml"); err == nil || errors.Is(err, scenarios.ErrInvalid) {
		t.Fatalf("LoadFile of a missing file: got %v, want a non-ErrInvalid error", err)
	}
}

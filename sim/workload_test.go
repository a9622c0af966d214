package sim

import (
	"strings"
	"testing"
	"time"

	"revoada.dev/revoada/core/roles"
)

func storePlan(faults ...Fault) *Plan {
	return &Plan{Name: "store", Nodes: 5, ControlPlane: 3, Duration: 60 * time.Second, Network: lossy,
		Workload: &Workload{Clients: 4, Rate: 50, Keys: 10, Face: "kubernetes", Mix: Mix{Apply: 5, Get: 3, List: 1, Delete: 1, Watch: 1}, CAS: 0.3, Local: 0.1},
		Commands: []Command{{At: 10 * time.Second, Kind: roles.Promote, Target: "n4", Reason: roles.ScalingUp}},
		Faults:   faults,
		Expect:   Expect{CommandsComplete: true, Progress: 0.5}}
}

func TestWorkloadHistory(t *testing.T) {
	p := storePlan(Fault{At: 15 * time.Second, Kind: Crash, Target: "leader", For: 5 * time.Second},
		Fault{At: 25 * time.Second, Kind: Partition, Groups: [][]Selector{{"minority"}}, For: 8 * time.Second})
	for seed := uint64(1); seed <= 10; seed++ {
		r := Run(p, seed, Options{})
		if !r.OK() {
			t.Fatalf("seed %d: %v", seed, r.Violations)
		}
		counts := map[string]int{}
		for _, op := range r.History {
			counts[op.Verb+"/"+op.Outcome]++
		}
		if seed == 1 {
			t.Logf("%d ops: %v", len(r.History), counts)
		}
		if counts["apply/ok"] == 0 || counts["get/ok"] == 0 || counts["list/ok"] == 0 || counts["watch/ok"] == 0 {
			t.Fatalf("seed %d: a verb never succeeded: %v", seed, counts)
		}
	}
}

// TestStaleReadsAreCaught plants reads served from the local replica but
// reported as linearizable; a partition that strands the leader must make
// the history check report a stale read.
func TestStaleReadsAreCaught(t *testing.T) {
	p := storePlan(Fault{At: 15 * time.Second, Kind: Partition, Groups: [][]Selector{{"leader"}}, For: 10 * time.Second})
	for seed := uint64(1); seed <= 50; seed++ {
		r := Run(p, seed, Options{Hooks: Hooks{StaleReads: true}})
		for _, v := range r.Violations {
			if v.Property == PropHistory && strings.Contains(v.Detail, "stale") {
				t.Logf("caught at seed %d: %v", seed, v)
				return
			}
		}
	}
	t.Fatal("no seed in 1..50 caught stale reads")
}

// TestWorkloadEveryFace drives each face's resources through the mesh.
func TestWorkloadEveryFace(t *testing.T) {
	for _, f := range []string{"kubernetes", "nomad", "systemd", "pureraft", "baremetal"} {
		p := storePlan()
		p.Workload.Face = f
		p.Duration = 30 * time.Second
		r := Run(p, 1, Options{})
		if !r.OK() || r.Stats.OpsOK < 100 {
			t.Errorf("%s: %d ops ok, %v", f, r.Stats.OpsOK, r.Violations)
		}
	}
}

// With more clients than ClientsPerKeyMax, each key is written and read by
// at most that many clients, so porcupine's per-key search stays small.
func TestClientsPerKeyCapped(t *testing.T) {
	p := &Plan{Name: "many-clients", Nodes: 3, ControlPlane: 3, Duration: 20 * time.Second,
		Network:  Network{LatencyMin: time.Millisecond, LatencyMax: 5 * time.Millisecond},
		Workload: &Workload{Clients: 40, Rate: 400, Keys: 50, Face: "kubernetes", Mix: Mix{Apply: 1, Get: 1, Delete: 1}}}
	r := Run(p, 1, Options{})
	if !r.OK() {
		t.Fatal(r.Violations)
	}
	clients := map[string]map[int]bool{}
	for _, op := range r.History {
		if clients[op.Key] == nil {
			clients[op.Key] = map[int]bool{}
		}
		clients[op.Key][op.Client] = true
	}
	if len(clients) < 40 {
		t.Errorf("only %d keys used", len(clients))
	}
	for key, cs := range clients {
		if len(cs) > ClientsPerKeyMax {
			t.Errorf("%s used by %d clients, more than %d", key, len(cs), ClientsPerKeyMax)
		}
	}
}

// TestWorkloadKeepsItsRate: clients whose operations take a good part of
// their pause (100–150ms links: an apply is a few round trips, against a
// 2s mean pause) still issue the plan's Rate, because each pause counts
// from an operation's start. Counted from its end, as before, these
// clients issued 15 to 16 of the 20 a second.
func TestWorkloadKeepsItsRate(t *testing.T) {
	p := &Plan{Name: "rate", Nodes: 5, ControlPlane: 3, Duration: 60 * time.Second,
		Network:  Network{LatencyMin: 100 * time.Millisecond, LatencyMax: 150 * time.Millisecond},
		Workload: &Workload{Clients: 40, Rate: 20, Keys: 40, Face: "kubernetes", Mix: Mix{Apply: 1}}}
	for seed := uint64(1); seed <= 3; seed++ {
		r := Run(p, seed, Options{})
		if !r.OK() {
			t.Fatalf("seed %d: %v", seed, r.Violations)
		}
		if got := r.Stats.OpsPerSecond; got < 0.9*p.Workload.Rate || got > 1.1*p.Workload.Rate {
			t.Errorf("seed %d: %.1f operations a second, the plan asks %g", seed, got, p.Workload.Rate)
		}
	}
}

// A plan whose clients would put more than ClientsPerKeyMax writers on a
// key is refused: with 64 clients on 5 keys the linearizability check ran
// out of memory.
func TestWorkloadKeysForClients(t *testing.T) {
	p := storePlan()
	p.Workload.Clients, p.Workload.Keys = 64, 7
	if err := p.Validate(); err == nil || !strings.Contains(err.Error(), "keys 7 too few for 64 clients") {
		t.Fatalf("64 clients on 7 keys: %v", err)
	}
	p.Workload.Keys = 8
	if err := p.Validate(); err != nil {
		t.Fatalf("64 clients on 8 keys: %v", err)
	}
}

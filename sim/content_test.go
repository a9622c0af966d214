package sim_test

import (
	"strings"
	"testing"

	"revoada.dev/revoada/scenarios"
	"revoada.dev/revoada/sim"
)

// TestPoisonedPeerRefused: with two workers serving corrupt parts and
// forging roots, the honest workers refuse hundreds of parts, keep
// installing roots and serve local reads from them, and every check holds.
func TestPoisonedPeerRefused(t *testing.T) {
	r := sim.Run(builtin(t, "poisoned-peer"), 1, sim.Options{})
	if !r.OK() {
		t.Fatalf("violations: %v", r.Violations)
	}
	st := r.Stats
	if st.PartsRejected < 50 || st.RootsInstalled < 100 {
		t.Fatalf("parts rejected %d, roots installed %d: the poison did not reach the fetchers, or the workers did not sync", st.PartsRejected, st.RootsInstalled)
	}
	if r.Coverage["worker served a local read from its synced state"] == 0 {
		t.Fatalf("no worker served a local read from its synced state: %v", r.Coverage)
	}
}

// TestSyncCatchesEarlyInstall: a worker that serves a root before it holds
// every resource it lists (the early-install plant) answers local reads
// with state that was never committed, which the history check catches.
func TestSyncCatchesEarlyInstall(t *testing.T) {
	hooks, err := sim.ParsePlants("early-install")
	if err != nil {
		t.Fatal(err)
	}
	r := sim.Run(builtin(t, "worker-sync-under-churn"), 1, sim.Options{Hooks: hooks})
	if r.OK() || r.Violations[0].Property != sim.PropHistory {
		t.Fatalf("the early-install plant was not caught as %s: %v", sim.PropHistory, r.Violations)
	}
}

// TestChainTamperRefused: a node rebooted on a role history altered on its
// disk refuses to start, and the mesh goes on.
func TestChainTamperRefused(t *testing.T) {
	r := sim.Run(builtin(t, "chain-tamper"), 1, sim.Options{})
	if !r.OK() {
		t.Fatalf("violations: %v", r.Violations)
	}
	if got := r.Coverage[sim.CoverStateRefused]; got != 2 {
		t.Fatalf("%d nodes refused their state at start, want the 2 tampered", got)
	}
}

// TestWorkersSyncOverSlowLinks: over links slower than the roots come, a
// worker that started over at every newer root (cancelling its fetch) or
// asked only the nodes gossiping its target's manifest (none, once the
// voters moved on) installed no root while the writes went on; every seed
// must hold workers-synced.
func TestWorkersSyncOverSlowLinks(t *testing.T) {
	p := builtin(t, "worker-sync-slow-links")
	for seed := uint64(1); seed <= 8; seed++ {
		r := sim.Run(p, seed, sim.Options{})
		if !r.OK() {
			t.Fatalf("seed %d: violations: %v", seed, r.Violations)
		}
		if r.Stats.RootsInstalled < 50 {
			t.Fatalf("seed %d: %d roots installed: the workers did not sync", seed, r.Stats.RootsInstalled)
		}
	}
}

// poisonedVoter is a plan whose voter n2 is poisoned for 10s: it boasts
// roots far ahead of the log, which the workers take (it is a voter) and
// give up when no peer serves them.
const poisonedVoter = `name: poisoned-voter
description: a voter boasts roots far ahead of the log for a while, then is honest again; the workers must stop counting their local reads behind the boasted roots.
nodes: 6
control_plane: 3
duration: 70s
target: quorum-3m
network: {latency: {min: 1ms, max: 10ms}, loss: 0, duplicate: 0}
workload: {clients: 4, rate: 30/s, keys: 40, face: kubernetes, local: 0.5}
faults:
  - {at: 10s, poison: n2, for: 10s}
commands:
  - {at: 2s, promote: n1, roles: scheduler, reason: operator}
expect:
  progress: 0.3
`

// TestBehindForgetsABoastedRoot: a worker counted its local reads behind
// (Result.Behind, the API's Revoada-Behind) the highest root index it had
// ever seen, so one root a poisoned voter boasted 2^40 entries ahead made
// every later local read report itself 2^40 entries behind, for good.
// roots-agree judges a worker's newest root against the members' from
// PoisonSettle after the poison ends.
func TestBehindForgetsABoastedRoot(t *testing.T) {
	p, err := scenarios.Parse("poisoned-voter.yaml", []byte(poisonedVoter))
	if err != nil {
		t.Fatal(err)
	}
	for seed := uint64(1); seed <= 4; seed++ {
		r := sim.Run(p, seed, sim.Options{})
		for _, v := range r.Violations {
			if strings.Contains(v.Detail, "counts its local reads behind") {
				t.Fatalf("seed %d: %s", seed, v)
			}
		}
	}
}

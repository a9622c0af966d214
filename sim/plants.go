package sim

import (
	"fmt"
	"sort"
	"strings"
)

// slowElections is how many times too long the slow-elections plant makes
// raft's election timeout.
const slowElections = 30

// plants names each planted bug of Hooks, as the CLI's --plant flag and
// failure bundles spell it.
var plants = []struct {
	name string
	set  func(*Hooks) *bool
	what string
}{
	{"forget-vote", func(h *Hooks) *bool { return &h.ForgetVote }, "disks drop the vote: two leaders in one term"},
	{"corrupt-entries", func(h *Hooks) *bool { return &h.CorruptEntries }, "the network corrupts entries: the core panics"},
	{"crash-after-snapshot", func(h *Hooks) *bool { return &h.CrashAfterSnapshot }, "a node crashes right after installing a snapshot (not a bug)"},
	{"stale-reads", func(h *Hooks) *bool { return &h.StaleReads }, "local reads recorded as linearizable"},
	{"no-quorum-guard", func(h *Hooks) *bool { return &h.NoQuorumGuard }, "the policy acts from a minority"},
	{"no-damper", func(h *Hooks) *bool { return &h.NoDamper }, "the policy shifts a node again and again"},
	{"no-dedup", func(h *Hooks) *bool { return &h.NoDedup }, "a retried write is applied twice"},
	{"ack-timed-out-writes", func(h *Hooks) *bool { return &h.AckTimedOutWrites }, "a write whose proposal was lost is acknowledged"},
	{"no-conf-sync", func(h *Hooks) *bool { return &h.NoConfSync }, "a conf change's snapshot and commit index are not synced"},
	{"lax-catch-up", func(h *Hooks) *bool { return &h.LaxCatchUp }, "a learner that acknowledged nothing is promoted while the log is short"},
	{"stay-joint", func(h *Hooks) *bool { return &h.StayJoint }, "joint configurations are never left"},
	{"no-stabilize", func(h *Hooks) *bool { return &h.NoStabilize }, "the policy promotes a node that has just started"},
	{"hasty-detector", func(h *Hooks) *bool { return &h.HastyDetector }, "membership suspects at φ > 1: live peers on slow links are suspected"},
	{"slow-elections", func(h *Hooks) *bool { return &h.SlowElections }, "raft's election timeout is 30 times too long: a lost leader is replaced late"},
	{"ack-before-sync", func(h *Hooks) *bool { return &h.AckBeforeSync }, "writes are acknowledged before they are synced: a crash loses them"},
	{"watch-skip-compacted", func(h *Hooks) *bool { return &h.WatchSkipCompacted }, "a watch resuming from a compacted revision skips events"},
	{"early-install", func(h *Hooks) *bool { return &h.EarlyInstall }, "workers serve a state root before they hold every resource it lists"},
}

// Plants lists the planted bugs' names with what each does.
func Plants() map[string]string {
	out := map[string]string{}
	for _, p := range plants {
		out[p.name] = p.what
	}
	return out
}

// ParsePlants reads a comma-separated list of planted bug names ("" for
// none) into Hooks.
func ParsePlants(s string) (Hooks, error) {
	var h Hooks
	if s == "" {
		return h, nil
	}
	for _, name := range strings.Split(s, ",") {
		found := false
		for _, p := range plants {
			if p.name == strings.TrimSpace(name) {
				*p.set(&h) = true
				found = true
			}
		}
		if !found {
			names := make([]string, len(plants))
			for i, p := range plants {
				names[i] = p.name
			}
			sort.Strings(names)
			return Hooks{}, fmt.Errorf("sim: unknown planted bug %q (want one of %s)", name, strings.Join(names, ", "))
		}
	}
	return h, nil
}

// String names the planted bugs, comma-separated; "" for none.
func (h Hooks) String() string {
	var names []string
	for _, p := range plants {
		if *p.set(&h) {
			names = append(names, p.name)
		}
	}
	return strings.Join(names, ",")
}

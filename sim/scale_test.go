package sim_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"revoada.dev/revoada/sim"
)

// TestSyncAtScale: 25 workers sync a manifest of 1,000 resources written in
// a burst. Every worker installs the root holding the whole burst within
// three gossip rounds and two seconds of its first publication, and the
// leader serves less than a third of the blob bytes (among peers as near,
// workers ask the root's publisher, most often the leader, last). go test ./sim -run TestSyncAtScale -v prints the
// figures.
func TestSyncAtScale(t *testing.T) {
	if testing.Short() {
		t.Skip("28 nodes for 40 simulated seconds")
	}
	const workers, resources, clients = 25, 1000, 20
	p := &sim.Plan{Name: "sync-at-scale", Nodes: 3 + workers, ControlPlane: 3, Duration: 40 * time.Second, Target: "quorum-3m",
		Network:  sim.Network{LatencyMin: time.Millisecond, LatencyMax: 10 * time.Millisecond},
		Workload: &sim.Workload{Face: "kubernetes", Keys: resources}}
	for k := range resources {
		p.Workload.Script = append(p.Workload.Script, sim.ScriptOp{At: 10 * time.Second, Client: k % clients,
			Node: sim.Selector(fmt.Sprintf("n%d", 1+k%3)), Verb: "apply", Key: fmt.Sprintf("key-%d", k)})
	}
	var trace bytes.Buffer
	r := sim.Run(p, 1, sim.Options{Trace: &trace})
	if !r.OK() {
		t.Fatalf("violations: %v", r.Violations)
	}
	if r.Stats.OpsOK != resources {
		t.Fatalf("%d of %d writes succeeded", r.Stats.OpsOK, resources)
	}
	// The burst's root: the first published after the last write.
	type line struct {
		T  int64  `json:"t"`
		N  string `json:"n"`
		Ev string `json:"ev"`
		D  string `json:"d"`
	}
	var lastWrite, published time.Duration
	var index uint64
	installed := map[string]time.Duration{}
	sc := bufio.NewScanner(&trace)
	sc.Buffer(nil, 1<<20)
	var lines []line
	for sc.Scan() {
		var l line
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatal(err)
		}
		lines = append(lines, l)
	}
	for _, op := range r.History {
		lastWrite = max(lastWrite, op.Return)
	}
	leader := ""
	for _, l := range lines {
		at := time.Duration(l.T) * time.Microsecond
		if l.Ev == "status" && strings.HasPrefix(l.D, "StateLeader") && (published == 0 || at < published) {
			leader = l.N
		}
		var idx uint64
		var man string
		if l.Ev != "root" && l.Ev != "install" {
			continue
		}
		fmt.Sscanf(l.D, "index %d manifest %s", &idx, &man)
		switch {
		case l.Ev == "root" && index == 0 && at > lastWrite:
			index, published = idx, at
		case l.Ev == "install" && index != 0 && idx >= index && installed[l.N] == 0:
			installed[l.N] = at - published
		}
	}
	if len(installed) != workers {
		t.Fatalf("%d of %d workers installed the burst's root (index %d, published at %v)", len(installed), workers, index, published)
	}
	var lags []time.Duration
	for _, d := range installed {
		lags = append(lags, d)
	}
	slices.Sort(lags)
	var total, voters uint64
	var per []string
	for name, b := range r.Stats.BytesServed {
		total += b
		if name == "n1" || name == "n2" || name == "n3" {
			voters += b
		}
	}
	for i := 1; i <= 3+workers; i++ {
		per = append(per, fmt.Sprintf("n%d %d", i, r.Stats.BytesServed[fmt.Sprintf("n%d", i)]))
	}
	t.Logf("burst written by %v; its root (index %d) published at %v; installed by every worker %v (p50) / %v (max) later",
		lastWrite, index, published, lags[len(lags)/2], lags[len(lags)-1])
	t.Logf("blob bytes served: %d in all, the leader (%s) %d (%.1f%%), the voters %d (%.1f%%); per node: %s", total, leader, r.Stats.BytesServed[leader],
		100*float64(r.Stats.BytesServed[leader])/float64(total), voters, 100*float64(voters)/float64(total), strings.Join(per, ", "))
	if bound := 3*sim.GossipRound + 2*time.Second; lags[len(lags)-1] > bound {
		t.Errorf("the last worker installed the burst's root %v after it was published, more than %v", lags[len(lags)-1], bound)
	}
	if leader == "" || 3*r.Stats.BytesServed[leader] >= total {
		t.Errorf("the leader (%q) served %d of %d bytes, not less than a third", leader, r.Stats.BytesServed[leader], total)
	}
}

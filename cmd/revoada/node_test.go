package main

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"revoada.dev/revoada/core/roles"
	"revoada.dev/revoada/core/topology"
	"revoada.dev/revoada/real/metrics/metricstest"
)

// freeAddr is a loopback address nothing listens on now.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// awaitMeshStatus polls 'mesh status --json' on dir until done holds of
// it, and returns that status; it fails the test with what after a minute.
func awaitMeshStatus(t *testing.T, dir, what string, done func(meshStatus) bool) meshStatus {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(50 * time.Millisecond) {
		var st meshStatus
		if err := json.Unmarshal([]byte(client(t, dir, exitOK, "mesh", "status", "--json").stdout), &st); err != nil {
			t.Fatal(err)
		}
		if done(st) {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %+v", what, st)
		}
	}
}

// loopbackMesh starts n 'revoada node' in this process, each told only the
// others' addresses, and waits until each serves its data directory.
func loopbackMesh(t *testing.T, n int, extra ...func(i int) []string) (dirs, ids, addrs []string, nodes []*inProcess) {
	t.Helper()
	for range n {
		dir := t.TempDir()
		dirs = append(dirs, dir)
		ids = append(ids, strings.TrimSpace(client(t, dir, exitOK, "id").stdout))
		addrs = append(addrs, freeAddr(t))
	}
	for i := range dirs {
		var others []string
		for j := range dirs {
			if j != i {
				others = append(others, addrs[j])
			}
		}
		args := []string{"node", "--data", dirs[i], "--listen", addrs[i], "--tick", "20ms"}
		if len(others) > 0 {
			args = append(args, "--join", strings.Join(others, ","))
		}
		for _, e := range extra {
			args = append(args, e(i)...)
		}
		nodes = append(nodes, runInProcess(t, args...))
	}
	for _, dir := range dirs {
		for deadline := time.Now().Add(time.Minute); ; time.Sleep(20 * time.Millisecond) {
			if _, err := os.Stat(filepath.Join(dir, socketName)); err == nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("no node serves %s", dir)
			}
		}
	}
	return dirs, ids, addrs, nodes
}

// TestMeshLeave: 'revoada mesh leave' takes a voter of a three-node mesh
// out for good; its node stops by itself, and the others' shape no longer
// holds it while they still take writes.
func TestMeshLeave(t *testing.T) {
	if testing.Short() {
		t.Skip("real time and real sockets")
	}
	dirs, ids, _, nodes := loopbackMesh(t, 3)
	wantLines(t, client(t, dirs[0], exitOK, "apply", "-f", writeFile(t, "live.yaml", strings.Replace(liveConfigMap, "%s", "a", 1))).stdout,
		"ConfigMap/default/live revision 1")
	wantLines(t, client(t, dirs[2], exitOK, "mesh", "leave").stdout, "left the mesh; the node stops")
	select {
	case code := <-nodes[2].code:
		if code != exitOK {
			t.Fatalf("the node that left exited %d: %s", code, nodes[2].stderr)
		}
		nodes[2].code <- code
	case <-time.After(time.Minute):
		t.Fatal("the node that left still runs")
	}
	st := awaitMeshStatus(t, dirs[0], "node 1 still sees three nodes", func(st meshStatus) bool { return len(st.Nodes) == 2 })
	for _, n := range st.Nodes {
		if n.ID == ids[2] {
			t.Fatalf("the node that left is still in the shape: %+v", st.Nodes)
		}
	}
	wantLines(t, client(t, dirs[1], exitOK, "apply", "-f", writeFile(t, "live.yaml", strings.Replace(liveConfigMap, "%s", "b", 1))).stdout,
		"ConfigMap/default/live revision 2")
	// A client verb on a stopped mesh node's directory starts no mesh of
	// one there (which would take writes its mesh never sees).
	if o := client(t, dirs[2], exitFailed, "get", "configmap", "live"); !strings.Contains(o.stderr, "holds a node of a mesh") {
		t.Fatalf("get on a stopped mesh node's directory: %+v", o)
	}
	for i, n := range nodes[:2] {
		if code := n.stop(); code != exitOK {
			t.Fatalf("node %d exited %d: %s", i+1, code, n.stderr)
		}
	}
}

// TestMeshRemove: 'mesh remove ID' takes a stopped node out of the mesh
// through a live one; the two left keep taking writes, and the removed
// node, started again, learns it was removed and stops. Removing the node
// on the data directory itself, or a malformed ID, is a usage error.
func TestMeshRemove(t *testing.T) {
	if testing.Short() {
		t.Skip("real time and real sockets")
	}
	dirs, ids, addrs, nodes := loopbackMesh(t, 3)
	if code := nodes[2].stop(); code != exitOK {
		t.Fatalf("node 3 exited %d: %s", code, nodes[2].stderr)
	}
	if o := client(t, dirs[0], exitUsage, "mesh", "remove", ids[0]); !strings.Contains(o.stderr, "use 'mesh leave'") {
		t.Fatalf("removing the node itself: %+v", o)
	}
	if o := client(t, dirs[0], exitUsage, "mesh", "remove", "zz"); !strings.Contains(o.stderr, `remove: "zz"`) {
		t.Fatalf("a malformed ID: %+v", o)
	}
	wantLines(t, client(t, dirs[0], exitOK, "mesh", "remove", ids[2]).stdout, "removed "+ids[2][:12])
	st := awaitMeshStatus(t, dirs[1], "node 2 still sees three nodes", func(st meshStatus) bool { return len(st.Nodes) == 2 })
	if slices.ContainsFunc(st.Nodes, func(n nodeStatus) bool { return n.ID == ids[2] }) {
		t.Fatalf("the removed node is still in the shape: %+v", st.Nodes)
	}
	wantLines(t, client(t, dirs[0], exitOK, "mesh", "remove", ids[2]).stdout, ids[2][:12]+" is not a member: nothing changed")
	wantLines(t, client(t, dirs[1], exitOK, "apply", "-f", writeFile(t, "live.yaml", strings.Replace(liveConfigMap, "%s", "a", 1))).stdout,
		"ConfigMap/default/live revision 1")
	again := runInProcess(t, "node", "--data", dirs[2], "--listen", addrs[2], "--tick", "20ms")
	select {
	case code := <-again.code:
		if code != exitOK || !strings.Contains(again.stderr.String(), "removed from the mesh") {
			t.Fatalf("the removed node, started again, exited %d: %s", code, again.stderr)
		}
		again.code <- code
	case <-time.After(time.Minute):
		t.Fatalf("the removed node, started again, still runs: %s", again.stderr)
	}
	for i, n := range nodes[:2] {
		if code := n.stop(); code != exitOK {
			t.Fatalf("node %d exited %d: %s", i+1, code, n.stderr)
		}
	}
}

// TestMeshOverMemberlist: 'revoada node --memberlist' runs membership over
// hashicorp/memberlist; every node's mesh status sees the three healthy.
func TestMeshOverMemberlist(t *testing.T) {
	if testing.Short() {
		t.Skip("real time and real sockets")
	}
	ml := []string{freeAddr(t), freeAddr(t), freeAddr(t)}
	dirs, _, _, nodes := loopbackMesh(t, 3, func(i int) []string {
		args := []string{"--memberlist", ml[i]}
		if i > 0 {
			args = append(args, "--memberlist-join", ml[0])
		}
		return args
	})
	for i, dir := range dirs {
		c, err := net.Dial("tcp", ml[i]) // memberlist's stream listener
		if err != nil {
			t.Fatalf("node %d: nothing listens on its --memberlist address: %v", i+1, err)
		}
		c.Close()
		awaitMeshStatus(t, dir, fmt.Sprintf("node %d", i+1), func(st meshStatus) bool {
			healthy := 0
			for _, n := range st.Nodes {
				if n.Health == "healthy" {
					healthy++
				}
			}
			return healthy == 3 && st.Leader != ""
		})
	}
	for i, n := range nodes {
		if code := n.stop(); code != exitOK {
			t.Fatalf("node %d exited %d: %s", i+1, code, n.stderr)
		}
	}
}

// TestMeshJoin: a fourth node started with --joining, told one member's
// address, stays outside until 'revoada mesh admit' on another member;
// then it knows it is a member, and a write through it is read through
// the first node. Restarted, it rejoins from its directory.
func TestMeshJoin(t *testing.T) {
	if testing.Short() {
		t.Skip("real time and real sockets")
	}
	dirs, _, addrs, nodes := loopbackMesh(t, 3)
	dir := t.TempDir()
	id := strings.TrimSpace(client(t, dir, exitOK, "id").stdout)
	addr := freeAddr(t)
	args := []string{"node", "--data", dir, "--listen", addr, "--tick", "20ms", "--joining", "--join", addrs[2]}
	joiner := runInProcess(t, args...)
	inShape := func() bool { // false too while no node serves dir
		var st meshStatus
		o := revoada(t, nil, "mesh", "status", "--json", "--data", dir)
		if o.code != exitOK || json.Unmarshal([]byte(o.stdout), &st) != nil {
			return false
		}
		for _, n := range st.Nodes {
			if n.ID == id {
				return true
			}
		}
		return false
	}
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(20 * time.Millisecond) {
		if _, err := os.Stat(filepath.Join(dir, socketName)); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the joiner never served its directory:\n%s", joiner.stderr)
		}
	}
	if o := client(t, dir, exitFailed, "apply", "-f", writeFile(t, "live.yaml", strings.Replace(liveConfigMap, "%s", "x", 1))); !strings.Contains(o.stderr, "not a member") {
		t.Fatalf("a write through a node not admitted yet: %+v", o)
	}
	client(t, dirs[0], exitUsage, "mesh", "admit", id+"@127.0.0.1:99999") // no such port
	wantLines(t, client(t, dirs[0], exitOK, "mesh", "admit", id+"@"+addr).stdout, "admitted "+id[:12]+" at "+addr)
	wantLines(t, client(t, dirs[1], exitOK, "mesh", "admit", id+"@"+addr).stdout, id[:12]+" is a member already: nothing changed")
	for deadline := time.Now().Add(time.Minute); !inShape(); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the admitted node never knew it:\n%s", joiner.stderr)
		}
	}
	wantLines(t, client(t, dir, exitOK, "apply", "-f", writeFile(t, "live.yaml", strings.Replace(liveConfigMap, "%s", "j", 1))).stdout,
		"ConfigMap/default/live revision 1")
	if got := client(t, dirs[0], exitOK, "get", "configmap", "live", "-o", "json").stdout; !strings.Contains(got, `"data":{"k":"j"}`) {
		t.Fatalf("node 1 reads %s", got)
	}
	if code := joiner.stop(); code != exitOK {
		t.Fatalf("the joined node exited %d: %s", code, joiner.stderr)
	}
	again := runInProcess(t, args...)
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(50 * time.Millisecond) {
		if inShape() {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the joined node, restarted, is no member:\n%s", again.stderr)
		}
	}
	for _, n := range append(nodes, again) {
		if code := n.stop(); code != exitOK {
			t.Fatalf("a node exited %d: %s", code, n.stderr)
		}
	}
}

// TestNodeMeshOnLoopback runs the README's three-node mesh in this process:
// three 'revoada node' over TCP with mutual TLS, each told only the
// others' addresses (--join: each asks the others who they are); a write
// through one node's data directory is read back through another's, every
// node's mesh status knows the leader and the three healthy, and so do
// their metrics (--metrics, scraped over HTTP); SIGTERM (here: the
// context) stops each cleanly, and once the leader stopped a survivor's
// metrics count a leader change. Started again without --join, a node
// runs from the members it kept; with another set, it refuses.
func TestNodeMeshOnLoopback(t *testing.T) {
	if testing.Short() {
		t.Skip("real time and real sockets")
	}
	metricsAddrs := []string{freeAddr(t), freeAddr(t), freeAddr(t)}
	dirs, ids, addrs, nodes := loopbackMesh(t, 3, func(i int) []string { return []string{"--metrics", metricsAddrs[i]} })
	wantLines(t, client(t, dirs[0], exitOK, "apply", "-f", writeFile(t, "live.yaml", strings.Replace(liveConfigMap, "%s", "a", 1))).stdout,
		"ConfigMap/default/live revision 1")
	if got := client(t, dirs[2], exitOK, "get", "configmap", "live", "-o", "json").stdout; !strings.Contains(got, `"data":{"k":"a"}`) {
		t.Fatalf("node 3 reads %s", got)
	}
	// Every node knows the leader and sees the three healthy (gossip may
	// take a few rounds); the leader shows the policy's last decision.
	var leaderID string
	for i, dir := range dirs {
		var st meshStatus
		for deadline := time.Now().Add(time.Minute); ; time.Sleep(50 * time.Millisecond) {
			out := client(t, dir, exitOK, "mesh", "status", "--json").stdout
			if err := json.Unmarshal([]byte(out), &st); err != nil {
				t.Fatalf("node %d: mesh status --json printed %q: %v", i+1, out, err)
			}
			healthy := 0
			for _, n := range st.Nodes {
				if n.Health == "healthy" {
					healthy++
				}
			}
			if st.Leader != "" && healthy == 3 && (st.Leader != st.ID || st.Decision != "") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("node %d: status %+v", i+1, st)
			}
		}
		if st.ID != ids[i] || len(st.Nodes) != 3 || st.Term == 0 {
			t.Fatalf("node %d: status %+v", i+1, st)
		}
		leaderID = st.Leader
		if st.Leader == st.ID && !strings.Contains(st.Decision, "converged") {
			t.Fatalf("the leader's last decision: %q, want converged", st.Decision)
		}
	}
	if text := client(t, dirs[0], exitOK, "mesh", "status").stdout; !strings.Contains(text, "NODE") || !strings.Contains(text, "leader") {
		t.Fatalf("mesh status printed:\n%s", text)
	}
	leader := slices.Index(ids, leaderID)
	survivor := (leader + 1) % len(nodes)
	changes := scrapeNodeMetrics(t, metricsAddrs, ids)[survivor].Value("revoada_raft_leader_changes_seen_total")
	if code := nodes[leader].stop(); code != exitOK {
		t.Fatalf("the leader exited %d: %s", code, nodes[leader].stderr)
	}
	pollMetrics(t, metricsAddrs[survivor], "a leader change after the leader stopped", func(f metricstest.Families) bool {
		return f.Value("revoada_raft_leader_changes_seen_total") > changes && f.Value("revoada_raft_has_leader") == 1
	})
	for i, n := range nodes {
		if code := n.stop(); code != exitOK {
			t.Fatalf("node %d exited %d: %s", i+1, code, n.stderr)
		}
		if log := n.stderr.String(); !strings.Contains(log, `"msg":"node running"`) || !strings.Contains(log, `"msg":"node stopped"`) {
			t.Fatalf("node %d logged:\n%s", i+1, log)
		}
	}
	// Node 1 again: from its mesh.json, whoever is up; not with a set of
	// peers, a name or an address other than the one it kept.
	again := runInProcess(t, "node", "--data", dirs[0], "--listen", addrs[0], "--tick", "20ms")
	for deadline := time.Now().Add(time.Minute); !strings.Contains(again.stderr.String(), `"msg":"node running"`); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("node 1 did not start again from its members:\n%s", again.stderr)
		}
	}
	if code := again.stop(); code != exitOK {
		t.Fatalf("node 1 exited %d: %s", code, again.stderr)
	}
	for _, bad := range [][]string{{"--join", addrs[1]}, {"--mesh", "other"}, {"--listen", freeAddr(t)}} {
		args := append([]string{"node", "--listen", addrs[0]}, bad...)
		if o := client(t, dirs[0], exitUsage, args...); !strings.Contains(o.stderr, "mesh.json") {
			t.Fatalf("node %v: %s", bad, o.stderr)
		}
	}
}

// scrapeNodeMetrics checks what the mesh's nodes serve on /metrics once
// they all see the leader and the three healthy: every node knows the
// leader, counted a leader change, counts the three healthy and has
// exchanged bytes with both peers, each under its ID; node 1, written
// through, timed its apply, and node 3, read through, its read. It returns
// each node's scrape.
func scrapeNodeMetrics(t *testing.T, metricsAddrs, ids []string) []metricstest.Families {
	t.Helper()
	var out []metricstest.Families
	for i, addr := range metricsAddrs {
		f := pollMetrics(t, addr, "the leader, the three healthy and both peers", func(f metricstest.Families) bool {
			for j, id := range ids {
				if j != i && (f.Value("revoada_network_peer_sent_bytes_total", "peer", id) <= 0 || f.Value("revoada_network_peer_received_bytes_total", "peer", id) <= 0) {
					return false
				}
			}
			return f.Value("revoada_raft_has_leader") == 1 && f.Value("revoada_raft_leader_changes_seen_total") >= 1 &&
				f.Value("revoada_membership_members", "health", "healthy") == 3 && f.Value("revoada_disk_fsync_duration_seconds") > 0
		})
		if i == 0 && f.Value("revoada_request_duration_seconds", "verb", "apply") < 1 {
			t.Fatalf("node 1 timed no apply")
		}
		if i == 2 && f.Value("revoada_request_duration_seconds", "verb", "get")+f.Value("revoada_request_duration_seconds", "verb", "list") < 1 {
			t.Fatalf("node 3 timed no read") // 'revoada get' asks its node for a get or a list
		}
		out = append(out, f)
	}
	return out
}

// pollMetrics scrapes http://addr/metrics until ok holds, for a minute.
func pollMetrics(t *testing.T, addr, what string, ok func(metricstest.Families) bool) metricstest.Families {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(50 * time.Millisecond) {
		f, err := metricstest.Scrape("http://" + addr + "/metrics")
		if err == nil && ok(f) {
			return f
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: never %s (%v)", addr, what, err)
		}
	}
}

// --metrics takes a loopback HOST:PORT, another address only with
// --metrics-remote, and never no host: each refusal is a usage error that
// starts nothing.
func TestNodeMetricsAddress(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--metrics", "10.1.2.3:9090"}, "not a loopback address"},
		{[]string{"--metrics", ":9090", "--metrics-remote"}, "no host"},
		{[]string{"--metrics", "127.0.0.1"}, "want HOST:PORT"},
		{[]string{"--metrics-remote"}, "--metrics-remote needs --metrics"},
	} {
		args := append([]string{"node", "--listen", "127.0.0.1:1"}, c.args...)
		if o := client(t, dir, exitUsage, args...); !strings.Contains(o.stderr, c.want) {
			t.Errorf("node %v: stderr %q, want %q", c.args, o.stderr, c.want)
		}
	}
}

// The bootstrap shape is a function of the set of IDs: every node computes
// the same one whatever order it was given them in, with the target's
// control-plane count.
func TestBootstrapShapeIsTheSameEverywhere(t *testing.T) {
	var ids []roles.NodeID
	for b := range byte(5) {
		ids = append(ids, roles.NodeID{5 - b})
	}
	q, err := topology.ByName("quorum-3m")
	if err != nil {
		t.Fatal(err)
	}
	a, err := bootstrapShape(ids, q)
	if err != nil {
		t.Fatal(err)
	}
	b, err := bootstrapShape([]roles.NodeID{ids[2], ids[4], ids[0], ids[3], ids[1]}, q)
	if err != nil || !a.Equal(b) || a.ControlPlaneCount() != 3 {
		t.Fatalf("shapes %v and %v (%v); want equal, with 3 control-plane nodes", a, b, err)
	}
	if r, _ := a.Roles(roles.NodeID{1}); !r.IsControlPlane() {
		t.Fatalf("the lowest ID holds %s, want the control plane", r)
	}
}

// mesh status needs a running node of a mesh: on a directory nobody serves,
// or one served by a client verb's lone node, it says so and exits 1.
func TestMeshStatusWithoutAMesh(t *testing.T) {
	dir := t.TempDir()
	if o := client(t, dir, exitFailed, "mesh", "status"); !strings.Contains(o.stderr, "no revoada node runs on") {
		t.Fatalf("stderr: %s", o.stderr)
	}
	w := runInProcess(t, "watch", "configmaps", "--data", dir)
	w.want("BOOKMARK rev 0")
	if o := client(t, dir, exitFailed, "mesh", "status"); !strings.Contains(o.stderr, "runs no mesh") {
		t.Fatalf("stderr: %s", o.stderr)
	}
	client(t, dir, exitUsage, "mesh", "state")
}

package main

import (
	"crypto/tls"
	"crypto/x509"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestWorkerServesSyncedState: in a four-node mesh (three voters and a
// worker, quorum-3m) the worker fetches the store's state from its peers
// by digest (core/node's content sync) and serves local reads from it
// through its HTTPS API, saying the revision it served; with every voter
// stopped it still serves that committed state, which only a worker that
// holds it can: it applies no log, and no voter is left to ask.
func TestWorkerServesSyncedState(t *testing.T) {
	if testing.Short() {
		t.Skip("real time and real sockets")
	}
	access := writeFile(t, "access.json", `{"tokens": {"viewer-token-0123456789": "viewer"}, "roles": {"viewer": "read-only"}}`)
	apiAddrs := []string{freeAddr(t), freeAddr(t), freeAddr(t), freeAddr(t)}
	dirs, ids, _, nodes := loopbackMesh(t, 4, func(i int) []string { return []string{"--api", apiAddrs[i], "--api-access", access} })
	st := awaitMeshStatus(t, dirs[0], "a shape of three voters and a worker", func(st meshStatus) bool {
		return len(st.Nodes) == 4 && slices.IndexFunc(st.Nodes, func(n nodeStatus) bool { return !strings.Contains(n.Roles, "etcd") }) >= 0
	})
	worker := -1
	for _, n := range st.Nodes {
		if !strings.Contains(n.Roles, "etcd") {
			worker = slices.Index(ids, n.ID)
		}
	}
	if worker < 0 {
		t.Fatalf("no worker in %+v", st.Nodes)
	}
	voter := (worker + 1) % 4
	wantLines(t, client(t, dirs[voter], exitOK, "apply", "-f", writeFile(t, "live.yaml", strings.Replace(liveConfigMap, "%s", "synced", 1))).stdout,
		"ConfigMap/default/live revision 1")

	var ca []byte
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(20 * time.Millisecond) {
		if ca, _ = os.ReadFile(filepath.Join(dirs[worker], apiCertFile)); len(ca) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s in the worker's directory", apiCertFile)
		}
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	defer hc.CloseIdleConnections()
	localRead := func() (int, http.Header, string) {
		t.Helper()
		req, err := http.NewRequest("GET", "https://"+apiAddrs[worker]+"/v1/resources/ConfigMap/live?namespace=default&local=true", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer viewer-token-0123456789")
		resp, err := hc.Do(req)
		if err != nil {
			return 0, nil, err.Error()
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header, string(body)
	}
	// The worker installs a root holding the write within a few gossip
	// rounds of a voter publishing it.
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		code, h, body := localRead()
		if code == http.StatusOK && strings.Contains(body, "synced") {
			if h.Get("Revoada-Read") != "local" || h.Get("Revoada-Revision") != "1" {
				t.Fatalf("a local read on the worker: %v", h)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the worker never served the write: %d %s", code, body)
		}
	}
	// Its role history is the one it applied before it became a worker
	// (here, none since the bootstrap): chain says so.
	if o := client(t, dirs[worker], exitOK, "chain", "show"); !strings.Contains(o.stderr, "is no voter: it applies the log no more") {
		t.Fatalf("chain show on the worker does not say its history is not current: %+v", o)
	}
	if o := client(t, dirs[voter], exitOK, "chain", "show"); o.stderr != "" {
		t.Fatalf("chain show on a voter: %+v", o)
	}
	for i, n := range nodes {
		if i != worker {
			if code := n.stop(); code != exitOK {
				t.Fatalf("node %d exited %d: %s", i+1, code, n.stderr)
			}
		}
	}
	code, h, body := localRead()
	if code != http.StatusOK || !strings.Contains(body, "synced") || h.Get("Revoada-Revision") != "1" {
		t.Fatalf("with every voter down, the worker's local read: %d %v %s", code, h, body)
	}
}

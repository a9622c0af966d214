package main

import (
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestAPIOverMesh: three nodes serve the HTTPS API; the client verbs reach
// it with --server and a token; a watch through the first server follows
// the changes, and, that node stopped, resumes through the next; no
// credentials is refused, a read-only token cannot write, and the mesh's
// operations other than status are not served there.
func TestAPIOverMesh(t *testing.T) {
	if testing.Short() {
		t.Skip("real time and real sockets")
	}
	access := writeFile(t, "access.json", `{"tokens": {"admin-token-0123456789": "alice", "viewer-token-0123456789": "viewer"},
		"roles": {"alice": "admin", "viewer": "read-only"}}`)
	admin, viewer := writeFile(t, "admin.tok", "admin-token-0123456789\n"), writeFile(t, "viewer.tok", "viewer-token-0123456789\n")
	apiAddrs := []string{freeAddr(t), freeAddr(t), freeAddr(t)}
	dirs, _, _, nodes := loopbackMesh(t, 3, func(i int) []string { return []string{"--api", apiAddrs[i], "--api-access", access} })
	var ca []byte
	for _, dir := range dirs {
		for deadline := time.Now().Add(time.Minute); ; time.Sleep(20 * time.Millisecond) {
			pemBytes, err := os.ReadFile(filepath.Join(dir, apiCertFile))
			if err == nil {
				ca = append(ca, pemBytes...)
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("no %s in %s", apiCertFile, dir)
			}
		}
	}
	caFile := writeFile(t, "ca.pem", string(ca))
	server := "https://" + strings.Join(apiAddrs, ",https://")
	over := func(token string, args ...string) []string {
		args = append(args, "--server", server, "--ca", caFile)
		if token != "" {
			args = append(args, "--token-file", token)
		}
		return args
	}
	verb := func(code int, token string, args ...string) outcome {
		t.Helper()
		o := revoada(t, nil, over(token, args...)...)
		wantCode(t, o, code, args...)
		return o
	}
	w := runInProcess(t, over(viewer, "watch", "configmap")...)
	if got := w.next(); got != "BOOKMARK rev 0" { // the watch is on before the apply
		t.Fatalf("watch: %q, want %q", got, "BOOKMARK rev 0")
	}
	wantLines(t, verb(exitOK, admin, "apply", "-f", writeFile(t, "live.yaml", strings.Replace(liveConfigMap, "%s", "a", 1))).stdout,
		"ConfigMap/default/live revision 1")
	if got := w.next(); got != "ADDED ConfigMap/default/live rev 1" {
		t.Fatalf("watch: %q, want %q", got, "ADDED ConfigMap/default/live rev 1")
	}
	if o := verb(exitFailed, "", "get", "configmap", "live"); !strings.Contains(o.stderr, "no valid credentials") {
		t.Fatalf("get without credentials: %+v", o)
	}
	if o := verb(exitFailed, viewer, "delete", "configmap", "live"); !strings.Contains(o.stderr, "role read-only") {
		t.Fatalf("delete as a viewer: %+v", o)
	}
	verb(exitUsage, admin, "mesh", "leave")
	verb(exitUsage, admin, "get", "configmap", "live", "--data", dirs[0]) // two nodes named
	if o := revoada(t, nil, "get", "configmap", "live", "--server", server); o.code != exitUsage || !strings.Contains(o.stderr, "--ca") {
		t.Fatalf("--server without --ca: %+v", o)
	}
	if code := nodes[0].stop(); code != exitOK {
		t.Fatalf("node 1 exited %d: %s", code, nodes[0].stderr)
	}
	wantLines(t, verb(exitOK, admin, "apply", "-f", writeFile(t, "live.yaml", strings.Replace(liveConfigMap, "%s", "b", 1))).stdout,
		"ConfigMap/default/live revision 2")
	if got := w.next(); got != "MODIFIED ConfigMap/default/live rev 2" {
		t.Fatalf("watch after its server stopped: %q", got)
	}
	if got := verb(exitOK, viewer, "get", "configmap", "live", "-o", "json").stdout; !strings.Contains(got, `"k":"b"`) {
		t.Fatalf("get: %s", got)
	}
	if got := verb(exitOK, admin, "mesh", "status").stdout; !strings.Contains(got, "leader") {
		t.Fatalf("mesh status: %s", got)
	}
	// A local read through a follower or the leader says how it was served.
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	defer hc.CloseIdleConnections()
	req, err := http.NewRequest("GET", "https://"+apiAddrs[1]+"/v1/resources/ConfigMap/live?namespace=default&local=true", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer viewer-token-0123456789")
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Revoada-Read") != "local" || resp.Header.Get("Revoada-Behind") == "" || resp.Header.Get("Revoada-Revision") == "" {
		t.Fatalf("a local read: %s %v", resp.Status, resp.Header)
	}
}

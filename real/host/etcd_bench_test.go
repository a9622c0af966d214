package host_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// BenchmarkEtcdPut is BenchmarkMeshApply's and BenchmarkAPIApply's
// yardstick: the same load (64 writers, a thousand keys, values of about
// 256 bytes, spread over the three members) on a three-member etcd cluster
// on loopback, through etcd's HTTP gateway (/v3/kv/put), each member
// fsyncing its own WAL. It needs an etcd binary on PATH (Debian's
// etcd-server, 3.4), and skips without one.
func BenchmarkEtcdPut(b *testing.B) {
	e := startEtcd(b)
	parallel(b, e.put)
}

// BenchmarkEtcdRange is BenchmarkAPIGet's yardstick: linearizable ranges
// of one key (/v3/kv/range with serializable false: the member confirms
// its read index with the leader) of a thousand keys, all present, by 64
// readers spread over the three members.
func BenchmarkEtcdRange(b *testing.B) {
	e := startEtcd(b)
	fill(b, e.put)
	parallel(b, e.get)
}

// etcdCluster is three etcd members on loopback and an HTTP client of
// their gateways.
type etcdCluster struct {
	clients []string // each member's client URL
	hc      *http.Client
}

// startEtcd starts a three-member cluster, each member with its own data
// directory, and returns once it takes writes; the members are killed
// when the benchmark ends. It skips the benchmark without an etcd binary.
func startEtcd(b *testing.B) *etcdCluster {
	b.Helper()
	bin, err := exec.LookPath("etcd")
	if err != nil {
		b.Skip("no etcd on PATH (apt-get install etcd-server)")
	}
	const n = 3
	var peers, clients []string
	for range n {
		peers, clients = append(peers, "http://"+freeLoopback(b)), append(clients, "http://"+freeLoopback(b))
	}
	var cluster []string
	for i := range n {
		cluster = append(cluster, fmt.Sprintf("e%d=%s", i, peers[i]))
	}
	for i := range n {
		dir := b.TempDir()
		if err := os.Chmod(dir, 0o700); err != nil {
			b.Fatal(err)
		}
		cmd := exec.Command(bin, "--name", fmt.Sprint("e", i), "--data-dir", dir,
			"--listen-peer-urls", peers[i], "--initial-advertise-peer-urls", peers[i],
			"--listen-client-urls", clients[i], "--advertise-client-urls", clients[i],
			"--initial-cluster", strings.Join(cluster, ","), "--initial-cluster-state", "new", "--logger", "zap", "--log-level", "error")
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	}
	e := &etcdCluster{clients: clients,
		hc: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}, Timeout: 10 * time.Second}}
	b.Cleanup(e.hc.CloseIdleConnections)
	for tries := 0; e.put(0) != nil; tries++ { // until the cluster has a leader
		if tries == 200 {
			b.Fatal("etcd never took a write")
		}
		time.Sleep(50 * time.Millisecond)
	}
	return e
}

// put writes the i-th benchmark write through member i%3's gateway.
func (e *etcdCluster) put(i int) error {
	return e.post(i, "/v3/kv/put", map[string]any{"value": base64.StdEncoding.EncodeToString(benchConfigMap(i).Payload)}, nil)
}

// get reads the i-th benchmark key, linearizably, through member i%3's
// gateway, and fails if it is not there.
func (e *etcdCluster) get(i int) error {
	var out struct {
		Kvs []json.RawMessage `json:"kvs"`
	}
	if err := e.post(i, "/v3/kv/range", map[string]any{"serializable": false}, &out); err != nil {
		return err
	}
	if len(out.Kvs) != 1 {
		return fmt.Errorf("range cm-%d: %d keys", i%1000, len(out.Kvs))
	}
	return nil
}

// post sends req, with the i-th benchmark key, to path on member i%3, and
// decodes the answer into out if not nil.
func (e *etcdCluster) post(i int, path string, req map[string]any, out any) error {
	req["key"] = base64.StdEncoding.EncodeToString([]byte(fmt.Sprint("cm-", i%1000)))
	body, _ := json.Marshal(req)
	resp, err := e.hc.Post(e.clients[i%len(e.clients)]+path, "application/json", bytes.NewReader(body))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		io.Copy(io.Discard, resp.Body)
		return fmt.Errorf("%s: %s", path, resp.Status)
	}
	if out == nil {
		_, err := io.Copy(io.Discard, resp.Body)
		return err
	}
	return json.NewDecoder(resp.Body).Decode(out)
}

// freeLoopback is a loopback address nothing listens on now.
func freeLoopback(b testing.TB) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

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
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkEtcdPut is BenchmarkMeshApply's yardstick: the same load (64
// writers, a thousand keys, values of about 256 bytes, spread over the
// three members) on a three-member etcd cluster on loopback, through etcd's
// HTTP gateway (/v3/kv/put), each member fsyncing its own WAL. It needs an
// etcd binary on PATH (Debian's etcd-server, 3.4), and skips without one.
func BenchmarkEtcdPut(b *testing.B) {
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
		defer func() { cmd.Process.Kill(); cmd.Wait() }()
	}
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}, Timeout: 10 * time.Second}
	put := func(i int) error {
		body, _ := json.Marshal(map[string]string{
			"key":   base64.StdEncoding.EncodeToString([]byte(fmt.Sprint("cm-", i%1000))),
			"value": base64.StdEncoding.EncodeToString(benchConfigMap(i).Payload),
		})
		resp, err := hc.Post(clients[i%n]+"/v3/kv/put", "application/json", bytes.NewReader(body))
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		io.Copy(io.Discard, resp.Body)
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("put: %s", resp.Status)
		}
		return nil
	}
	for tries := 0; put(0) != nil; tries++ { // until the cluster has a leader
		if tries == 200 {
			b.Fatal("etcd never took a write")
		}
		time.Sleep(50 * time.Millisecond)
	}
	var next atomic.Int64
	b.SetParallelism(32)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := put(int(next.Add(1))); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
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

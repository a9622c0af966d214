package host_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"revoada.dev/revoada/core/roles"
	"revoada.dev/revoada/core/store"
	"revoada.dev/revoada/real/api"
	"revoada.dev/revoada/real/host"
)

// BenchmarkAPIApply is BenchmarkMeshApply through real/api: the same mesh
// (three nodes over real/tcp on loopback, each fsyncing its bbolt file)
// and the same load (64 writers, a thousand ConfigMaps of about 256
// bytes), each write a one-document file POSTed to /v1/apply over HTTPS
// (TLS 1.3, HTTP/2, a bearer token), spread over the three nodes' APIs.
// Its yardstick is BenchmarkEtcdPut; the ratio is issue 13's evidence.
func BenchmarkAPIApply(b *testing.B) {
	clients := apiMesh(b)
	parallel(b, func(i int) error { return apiApply(b, clients[i%3], benchConfigMap(i)) })
}

// BenchmarkAPIGet measures linearizable gets (local=false: the node
// confirms with the leader that it has applied everything committed
// before it reads) of the thousand ConfigMaps, all present, through the
// three nodes' APIs by 64 readers. Its yardstick is BenchmarkEtcdRange.
func BenchmarkAPIGet(b *testing.B) {
	clients := apiMesh(b)
	fill(b, func(i int) error { return apiApply(b, clients[i%3], benchConfigMap(i)) })
	parallel(b, func(i int) error {
		r, _, err := clients[i%3].Get(b.Context(), benchConfigMap(i).Ref, false)
		if err == nil && r.Ref.Name == "" {
			err = errors.New("an empty resource")
		}
		return err
	})
}

// apiMesh starts a three-node mesh over real/tcp, an API server on each
// node and a client of each, and returns the clients once the mesh takes
// writes and each has its connection (its TLS handshake is setup). All of it closes when the benchmark ends.
func apiMesh(b *testing.B) []*api.Client {
	b.Helper()
	dirs, members := identities(b, 3)
	shape, err := roles.NewShape(members)
	if err != nil {
		b.Fatal(err)
	}
	hosts := tcpMesh(b, dirs, shape, host.Config{})
	const token = "bench-token-0123456789"
	access, err := api.ParseAccess([]byte(`{"tokens": {"` + token + `": "bench"}, "roles": {"bench": "read-write"}}`))
	if err != nil {
		b.Fatal(err)
	}
	var clients []*api.Client
	for _, h := range hosts {
		_, key, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			b.Fatal(err)
		}
		cert, certPEM, err := api.ServerCertificate(key, nil)
		if err != nil {
			b.Fatal(err)
		}
		srv, err := api.Listen("127.0.0.1:0", api.Config{Backend: h.Backend(), Access: access, Certificate: cert})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { srv.Close() })
		c, err := api.NewClient(api.ClientConfig{Server: "https://" + srv.Addr(), CA: certPEM, Token: token})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(c.Close)
		clients = append(clients, c)
	}
	warm := configMap("ns", "warm", "{}")
	for tries := 0; ; tries++ { // until a leader takes writes
		err := apiApply(b, clients[0], warm)
		if err == nil {
			break
		}
		if tries == 100 {
			b.Fatalf("no write taken in 100 tries: %v; %+v", err, hosts[0].Stats())
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, c := range clients { // each client's connection, before the timer
		if _, _, err := c.Get(b.Context(), warm.Ref, false); err != nil {
			b.Fatal(err)
		}
	}
	return clients
}

// apiApply applies r through c as a one-document file, as 'revoada apply
// -f' sends it.
func apiApply(b *testing.B, c *api.Client, r store.Resource) error {
	var failed error
	err := c.ApplyFile(b.Context(), api.ApplyInput{File: r.Ref.Name + ".json", Face: r.Face, Format: r.Format, Data: r.Payload},
		func(d api.DocResult) {
			if d.Err != nil && failed == nil {
				failed = fmt.Errorf("%s %s: %w", d.Where, d.Ref, d.Err)
			}
		})
	if err != nil {
		return err
	}
	return failed
}

// parallel runs op(1), op(2), ... b.N times over 64 goroutines (32 a
// core on 2 cores: the load of 64 clients at once) and reports the ops a
// second; the first error fails the benchmark and stops its goroutine.
// The timer starts here, so what came before is setup.
func parallel(b *testing.B, op func(i int) error) {
	var next atomic.Int64
	b.SetParallelism(32)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := op(int(next.Add(1))); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
}

// fill writes the thousand keys the benchmarks read, 64 at a time, with
// put(i) writing the i-th; it fails the benchmark on the first error.
func fill(b *testing.B, put func(i int) error) {
	b.Helper()
	const keys, writers = 1000, 64
	errs := make(chan error, writers)
	for w := range writers {
		go func() {
			for i := w; i < keys; i += writers {
				if err := put(i); err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for range writers {
		if err := <-errs; err != nil {
			b.Fatalf("filling the keys: %v", err)
		}
	}
}

// Package kubetest runs a real kube-apiserver for tests: an etcd (Debian's
// etcd-server, 3.4) and a kube-apiserver (scripts/build-kube-apiserver.sh's
// pinned build) as child processes on loopback, in the manner of
// net/http/httptest and sigs.k8s.io/controller-runtime/pkg/envtest, without
// envtest's dependencies.
//
// Start gives a Cluster: the apiserver's URL and a rest.Config that
// authenticates with a static bearer token (--token-auth-file) as an admin
// in system:masters, authorised by --authorization-mode=RBAC (system:masters
// is bound to cluster-admin by the apiserver's bootstrap policy). The
// serving certificate is self-signed, made here with crypto/x509 for
// 127.0.0.1; the service-account signing key is an ECDSA P-256 key made
// here too.
//
// No kube-controller-manager runs: nothing creates a namespace's "default"
// ServiceAccount, so the ServiceAccount admission plugin is disabled
// (otherwise every Pod is refused); nothing garbage-collects, schedules or
// finishes a namespace's deletion. Options.WatchCache false (--watch-cache=false)
// sends every watch to etcd, so that an etcd compaction makes a watch from
// an older revision fail with 410 Gone at once.
//
// The binaries: KubeAPIServer finds the built kube-apiserver (the build
// script's --cached mode) and Etcd the etcd on PATH. Without them the test
// is skipped, unless REVOADA_REQUIRE_KUBE_APISERVER=1 (CI) makes that a
// failure.
package kubetest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"

	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"k8s.io/client-go/rest"
)

// RequireEnv is the environment variable that makes missing binaries a
// test failure instead of a skip.
const RequireEnv = "REVOADA_REQUIRE_KUBE_APISERVER"

// Guards against hung processes; reaching one is a failure, never a pass.
const (
	startGuard = 180 * time.Second // etcd and the apiserver each, to ready (a loaded 2-core machine)
	stopGuard  = 30 * time.Second  // SIGTERM to exit, before SIGKILL
	logTailMax = 4000              // bytes of a process's log quoted in an error
)

// AdminToken is the bearer token of the admin identity ("revoada-admin",
// in system:masters).
const AdminToken = "revoada-test-admin-token"

// Options tune a Cluster.
type Options struct {
	// WatchCache keeps the apiserver's watch cache (its default). Off,
	// every watch and list goes to etcd.
	WatchCache bool
	// Args are more kube-apiserver flags, after the harness's own.
	Args []string
}

// Cluster is a running etcd and kube-apiserver.
type Cluster struct {
	URL     string       // the apiserver, https://127.0.0.1:port
	EtcdURL string       // etcd's client URL, http://127.0.0.1:port
	Config  *rest.Config // the admin's config, trusting the serving certificate

	dir   string
	procs []*process // in start order; stopped in reverse
}

type process struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan struct{}
	err  error // the exit, once done is closed
}

// binaryOrSkip skips (or, under RequireEnv=1, fails) t for a missing binary.
func binaryOrSkip(t testing.TB, what string, err error) {
	t.Helper()
	if os.Getenv(RequireEnv) == "1" {
		t.Fatalf("kubetest: no %s: %v", what, err)
	}
	t.Skipf("kubetest: no %s (%v); %s=1 makes this a failure", what, err, RequireEnv)
}

// KubeAPIServer is the path of the kube-apiserver scripts/build-kube-apiserver.sh
// built, or t is skipped (failed under RequireEnv=1).
func KubeAPIServer(t testing.TB) string {
	t.Helper()
	return Built(t, "build-kube-apiserver.sh", RequireEnv)
}

// Kubectl is the path of the kubectl scripts/build-kubectl.sh built, or t
// is skipped (failed under REVOADA_REQUIRE_KUBECTL=1).
func Kubectl(t testing.TB) string {
	t.Helper()
	return Built(t, "build-kubectl.sh", "REVOADA_REQUIRE_KUBECTL")
}

// Built is the path a project build script (scripts/NAME) prints in its
// --cached mode, or t is skipped when it has not built, unless env=1 makes
// that a failure.
func Built(t testing.TB, script, env string) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	path := filepath.Join(filepath.Dir(file), "..", "..", "..", "scripts", script)
	out, err := exec.Command("bash", path, "--cached").Output()
	if err != nil {
		if os.Getenv(env) == "1" {
			t.Fatalf("kubetest: scripts/%s has not built its tool: %v", script, err)
		}
		t.Skipf("kubetest: scripts/%s has not built its tool (%v); %s=1 makes this a failure", script, err, env)
	}
	return strings.TrimSpace(string(out))
}

// Etcd is the path of etcd on PATH (Debian's etcd-server), or t is
// skipped (failed under RequireEnv=1).
func Etcd(t testing.TB) string {
	t.Helper()
	p, err := exec.LookPath("etcd")
	if err != nil {
		binaryOrSkip(t, "etcd on PATH (apt-get install etcd-server)", err)
	}
	return p
}

// Start starts etcd and kube-apiserver, waits for the apiserver's /readyz,
// and returns the cluster. The caller stops it with Stop (Start does not
// register a cleanup, so one cluster can serve a whole test binary).
func Start(t testing.TB, opt Options) *Cluster {
	t.Helper()
	c, err := Launch(KubeAPIServer(t), Etcd(t), opt)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// Launch is Start with the binaries given, for a cluster shared by a test
// binary (started once, stopped in TestMain).
func Launch(apiserverBin, etcdBin string, opt Options) (_ *Cluster, err error) {
	dir, err := os.MkdirTemp("", "revoada-kubetest-")
	if err != nil {
		return nil, fmt.Errorf("kubetest: %w", err)
	}
	c := &Cluster{dir: dir}
	defer func() {
		if err != nil {
			c.Stop()
		}
	}()
	ports, err := freePorts(3)
	if err != nil {
		return nil, err
	}
	c.EtcdURL = fmt.Sprintf("http://127.0.0.1:%d", ports[0])
	peer := fmt.Sprintf("http://127.0.0.1:%d", ports[1])
	if err := c.spawn("etcd", etcdBin,
		"--name=kubetest", "--data-dir="+filepath.Join(dir, "etcd"),
		"--listen-client-urls="+c.EtcdURL, "--advertise-client-urls="+c.EtcdURL,
		"--listen-peer-urls="+peer, "--initial-advertise-peer-urls="+peer,
		"--initial-cluster=kubetest="+peer, "--log-outputs=stderr",
	); err != nil {
		return nil, err
	}
	if err := c.waitHTTP(c.procs[0], http.DefaultClient, c.EtcdURL+"/health", ""); err != nil {
		return nil, err
	}
	files, caPEM, err := writeSecrets(dir)
	if err != nil {
		return nil, err
	}
	c.URL = fmt.Sprintf("https://127.0.0.1:%d", ports[2])
	args := []string{
		"--etcd-servers=" + c.EtcdURL,
		"--bind-address=127.0.0.1", "--advertise-address=127.0.0.1",
		fmt.Sprintf("--secure-port=%d", ports[2]),
		"--tls-cert-file=" + files.cert, "--tls-private-key-file=" + files.key,
		"--cert-dir=" + filepath.Join(dir, "certs"),
		"--token-auth-file=" + files.tokens,
		"--authorization-mode=RBAC",
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file=" + files.saPub,
		"--service-account-signing-key-file=" + files.saKey,
		"--service-cluster-ip-range=10.96.0.0/16",
		"--disable-admission-plugins=ServiceAccount",
		"--allow-privileged=true",
		"--endpoint-reconciler-type=none",
		"--profiling=false",
		fmt.Sprintf("--watch-cache=%t", opt.WatchCache),
	}
	args = append(args, opt.Args...)
	if err := c.spawn("kube-apiserver", apiserverBin, args...); err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	if err := c.waitHTTP(c.procs[1], client, c.URL+"/readyz", AdminToken); err != nil {
		return nil, err
	}
	c.Config = &rest.Config{
		Host:            c.URL,
		BearerToken:     AdminToken,
		TLSClientConfig: rest.TLSClientConfig{CAData: caPEM},
		QPS:             -1, // no client-side rate limit: the suites write thousands of objects
	}
	return c, nil
}

// freePorts finds n free loopback ports.
func freePorts(n int) ([]int, error) {
	var ports []int
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("kubetest: a free port: %w", err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

func (c *Cluster) spawn(name, bin string, args ...string) error {
	log := filepath.Join(c.dir, name+".log")
	f, err := os.Create(log)
	if err != nil {
		return fmt.Errorf("kubetest: %w", err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		f.Close()
		return fmt.Errorf("kubetest: start %s: %w", name, err)
	}
	p := &process{name: name, cmd: cmd, log: log, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		f.Close()
		close(p.done)
	}()
	c.procs = append(c.procs, p)
	return nil
}

// waitHTTP polls url until it answers 200, the process exits or the guard
// passes.
func (c *Cluster) waitHTTP(p *process, client *http.Client, url, token string) error {
	deadline := time.Now().Add(startGuard)
	var last string
	for time.Now().Before(deadline) {
		req, _ := http.NewRequest(http.MethodGet, url, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := client.Do(req)
		if err == nil {
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 2000))
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = fmt.Sprintf("%s: %s", resp.Status, body)
		} else {
			last = err.Error()
		}
		select {
		case <-p.done:
			return fmt.Errorf("kubetest: %s exited before ready (%v):\n%s", p.name, p.err, tail(p.log))
		case <-time.After(250 * time.Millisecond):
		}
	}
	return fmt.Errorf("kubetest: %s not ready at %s within %s (last: %s):\n%s", p.name, url, startGuard, last, tail(p.log))
}

func tail(path string) string {
	b, _ := os.ReadFile(path)
	if len(b) > logTailMax {
		b = b[len(b)-logTailMax:]
	}
	return string(b)
}

// Logs is the tail of a process's log ("etcd" or "kube-apiserver").
func (c *Cluster) Logs(name string) string {
	for _, p := range c.procs {
		if p.name == name {
			return tail(p.log)
		}
	}
	return ""
}

// Stop stops the apiserver, then etcd (SIGTERM, then SIGKILL after a
// guard), and removes their files. It is safe to call more than once.
func (c *Cluster) Stop() {
	for i := len(c.procs) - 1; i >= 0; i-- {
		p := c.procs[i]
		p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(stopGuard):
			p.cmd.Process.Kill()
			<-p.done
		}
	}
	c.procs = nil
	if c.dir != "" {
		os.RemoveAll(c.dir)
		c.dir = ""
	}
}

type secretFiles struct{ cert, key, tokens, saKey, saPub string }

// writeSecrets writes the serving certificate and key (self-signed, for
// 127.0.0.1 and localhost), the token file and the service-account key
// pair into dir, and returns the certificate's PEM.
func writeSecrets(dir string) (secretFiles, []byte, error) {
	f := secretFiles{
		cert: filepath.Join(dir, "serving.crt"), key: filepath.Join(dir, "serving.key"),
		tokens: filepath.Join(dir, "tokens.csv"), saKey: filepath.Join(dir, "sa.key"), saPub: filepath.Join(dir, "sa.pub"),
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return f, nil, fmt.Errorf("kubetest: serving key: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "kubetest-apiserver"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return f, nil, fmt.Errorf("kubetest: serving certificate: %w", err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return f, nil, fmt.Errorf("kubetest: serving key: %w", err)
	}
	sa, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return f, nil, fmt.Errorf("kubetest: service-account key: %w", err)
	}
	saDER, err := x509.MarshalECPrivateKey(sa)
	if err != nil {
		return f, nil, fmt.Errorf("kubetest: service-account key: %w", err)
	}
	saPubDER, err := x509.MarshalPKIXPublicKey(&sa.PublicKey)
	if err != nil {
		return f, nil, fmt.Errorf("kubetest: service-account key: %w", err)
	}
	writes := []struct {
		path string
		data []byte
	}{
		{f.cert, certPEM},
		{f.key, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})},
		{f.tokens, []byte(AdminToken + `,revoada-admin,revoada-admin,"system:masters"` + "\n")},
		{f.saKey, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: saDER})},
		{f.saPub, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: saPubDER})},
	}
	for _, w := range writes {
		if err := os.WriteFile(w.path, w.data, 0o600); err != nil {
			return f, nil, fmt.Errorf("kubetest: %w", err)
		}
	}
	return f, certPEM, nil
}

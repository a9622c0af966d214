package api

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"errors"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"revoada.dev/revoada/backend"
	"revoada.dev/revoada/core/node"
	"revoada.dev/revoada/core/store"
)

// TestNoClientCAAcceptsNoCertificate: a server without a client CA takes
// no client certificate, not even one the system's roots sign (Go's TLS
// verifies against the system roots when ClientCAs is nil). It runs in a
// child process whose system roots are a CA of the test's.
func TestNoClientCAAcceptsNoCertificate(t *testing.T) {
	if os.Getenv("REVOADA_API_TEST_SYSTEM_ROOTS") == "" {
		cmd := exec.Command(os.Args[0], "-test.run=^TestNoClientCAAcceptsNoCertificate$", "-test.v")
		cmd.Env = append(os.Environ(), "REVOADA_API_TEST_SYSTEM_ROOTS=1")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("the child: %v\n%s", err, out)
		}
		return
	}
	// The child: nothing has loaded the system roots yet.
	ca := newCA(t)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "roots.pem"), ca.pem, 0o644); err != nil {
		t.Fatal(err)
	}
	os.Setenv("SSL_CERT_FILE", filepath.Join(dir, "roots.pem"))
	os.Setenv("SSL_CERT_DIR", dir)
	srv, certPEM := serve(t, Config{Backend: backend.NewMemory()}, `{"roles": {"alice": "admin"}}`, nil)
	defer srv.Close()
	alice := ca.issue(t, "alice")
	c, err := NewClient(ClientConfig{Server: "https://" + srv.Addr(), CA: certPEM, Certificate: &alice})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, err = c.Kinds(context.Background())
	var re *RemoteError
	if !errors.As(err, &re) || re.Status != http.StatusUnauthorized {
		t.Fatalf("a certificate the system's roots sign, with no client CA: %v, want 401", err)
	}
}

// TestAccessFileDuplicateKeys: a key given twice in an access file is
// refused (encoding/json keeps the last silently: a second "roles" entry
// could raise a user to admin, a second "tokens" entry move a token to
// another user), and the error never shows a token.
func TestAccessFileDuplicateKeys(t *testing.T) {
	const tok = "0123456789abcdef-secret"
	for _, c := range []struct{ file, want string }{
		{`{"roles": {"a": "read-only", "a": "admin"}}`, `roles: user "a" given twice`},
		{`{"tokens": {"` + tok + `": "a", "` + tok + `": "b"}, "roles": {"a": "read-only", "b": "admin"}}`, "tokens: a token given twice"},
		{`{"roles": {"a": "admin"}, "roles": {"a": "read-only"}}`, `"roles" given twice`},
		{`{"roles": {"a": "read-only"}, "Roles": {"a": "admin"}}`, `"roles" given twice`},
		{`{"tokens": {}, "roles": {"a": "admin"}, "tokens": {"` + tok + `": "a"}}`, `"tokens" given twice`},
	} {
		_, err := ParseAccess([]byte(c.file))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", c.file, err, c.want)
		}
		if err != nil && strings.Contains(err.Error(), tok) {
			t.Errorf("the error shows a token: %v", err)
		}
	}
	if _, err := ParseAccess([]byte(`{"tokens": {"` + tok + `": "a"}, "roles": {"a": "admin", "b": "read-only"}}`)); err != nil {
		t.Fatalf("a good file: %v", err)
	}
}

// TestDotNames: a name or kind of "." or ".." reaches its resource, and is
// never cleaned out of a request's path (by the client, or by the
// server's redirect) into another endpoint: a delete or a get of "." is
// not answered by a list; an empty kind or name is refused.
func TestDotNames(t *testing.T) {
	f := newFixture(t, Limits{})
	c := f.clientWith(t, adminToken, nil)
	ctx := context.Background()
	applyYAML(t, c, twoConfigMaps, nil)
	dots := []store.Ref{
		{Kind: "ConfigMap", Namespace: "a", Name: "."},
		{Kind: "ConfigMap", Namespace: "a", Name: ".."},
		{Kind: ".", Namespace: "a", Name: "ConfigMap"},
		{Kind: "..", Namespace: "a", Name: "kinds"},
	}
	for _, ref := range dots {
		if _, err := c.Delete(ctx, ref, store.Expect{}); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("delete %v: %v, want not found", ref, err)
		}
		if _, _, err := c.Get(ctx, ref, false); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("get %v: %v, want not found", ref, err)
		}
	}
	// The store takes such names: the API reaches them.
	for _, ref := range dots {
		r := store.Resource{Ref: ref, Face: "pureraft", Format: store.Native, Payload: []byte("x")}
		if _, err := f.b.Apply(ctx, r, store.Expect{}); err != nil {
			t.Fatalf("storing %v: %v", ref, err)
		}
		if got, _, err := c.Get(ctx, ref, false); err != nil || got.Ref != ref {
			t.Errorf("get %v: %v %v", ref, got.Ref, err)
		}
	}
	if l, err := c.List(ctx, ".", "", false); err != nil || len(l.Items) != 1 {
		t.Errorf("list of kind \".\": %v %v", l, err)
	}
	for _, ref := range dots {
		if _, err := c.Delete(ctx, ref, store.Expect{}); err != nil {
			t.Errorf("delete %v: %v", ref, err)
		}
	}
	if _, err := c.List(ctx, "", "", false); !errors.Is(err, ErrBadRequest) {
		t.Errorf("list of an empty kind: %v", err)
	}
	if _, err := c.Watch(ctx, "", 0); !errors.Is(err, ErrBadRequest) {
		t.Errorf("watch of an empty kind: %v", err)
	}
	if _, _, err := c.Get(ctx, store.Ref{Kind: "", Namespace: "a", Name: "ConfigMap"}, false); !errors.Is(err, ErrBadRequest) {
		t.Errorf("get of an empty kind: %v", err)
	}
	if n := f.b.Counts().Resources; n != 2 {
		t.Fatalf("%d resources stored, want 2", n)
	}
}

// TestServerCertificateSignsNoOtherHost: the server's certificate, which
// a client holds as its CA, verifies for its own hosts, and a certificate
// its key signs verifies for no other host (else one node's key, or
// anyone who takes it, could pose as any server a client trusts).
func TestServerCertificateSignsNoOtherHost(t *testing.T) {
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	cert, certPEM, err := ServerCertificate(key, []string{"node1.example", "10.1.2.3"})
	if err != nil {
		t.Fatal(err)
	}
	pool, err := CertPool("ca", certPEM)
	if err != nil {
		t.Fatal(err)
	}
	for _, host := range []string{"node1.example", "10.1.2.3", "127.0.0.1", "::1", "localhost"} {
		if _, err := cert.Leaf.Verify(x509.VerifyOptions{Roots: pool, DNSName: host}); err != nil {
			t.Errorf("the certificate for %s: %v", host, err)
		}
	}
	_, leafKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "evil"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames: []string{"node2.example"}, IPAddresses: []net.IP{net.ParseIP("10.1.2.4")}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, cert.Leaf, leafKey.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	forged, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	for _, host := range []string{"node2.example", "10.1.2.4"} {
		if _, err := forged.Verify(x509.VerifyOptions{Roots: pool, DNSName: host}); err == nil {
			t.Errorf("a certificate the server's key signed verifies for %s", host)
		}
	}
	if _, _, err := ServerCertificate(key, []string{"node1.example."}); err != nil {
		t.Errorf("a host with the root's dot: %v", err)
	}
}

// gatedBackend holds its second Apply until open is closed, and says on
// held when it does.
type gatedBackend struct {
	*backend.Memory
	n          int
	held, open chan struct{}
}

func (g *gatedBackend) Apply(ctx context.Context, r store.Resource, exp store.Expect) (store.Resource, error) {
	if g.n++; g.n == 2 {
		close(g.held)
		<-g.open
	}
	return g.Memory.Apply(ctx, r, exp)
}

// TestApplyInterruptedByClose: a server closed in the middle of a
// multi-document apply either finishes it, or answers which documents it
// applied and that the apply was cut short: the client's ApplyFile
// returns an error, never a success that silently leaves the last
// documents out.
func TestApplyInterruptedByClose(t *testing.T) {
	b := &gatedBackend{Memory: backend.NewMemory(), held: make(chan struct{}), open: make(chan struct{})}
	srv, certPEM := serve(t, Config{Backend: b}, `{"tokens": {"`+rwToken+`": "ci"}, "roles": {"ci": "read-write"}}`, nil)
	defer srv.Close()
	c := tokenClient(t, srv, certPEM, rwToken)
	three := twoConfigMaps + "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: three, namespace: a}\ndata: {k: x}\n"
	var docs []DocResult
	done := make(chan error, 1)
	go func() {
		done <- c.ApplyFile(context.Background(), ApplyInput{File: "t.yaml", Face: "kubernetes", Format: store.YAML, Data: []byte(three)},
			func(d DocResult) { docs = append(docs, d) })
	}()
	<-b.held
	closed := make(chan struct{})
	go func() { srv.Close(); close(closed) }()
	waitFor(t, "the server's context to end", func() bool { return srv.ctx.Err() != nil })
	close(b.open)
	err := <-done
	<-closed
	stored := b.Counts().Resources
	if stored == 3 {
		return // the server applied everything: nothing was left out
	}
	if err == nil {
		t.Fatalf("an apply cut short after %d of 3 resources: no error, %d outcomes", stored, len(docs))
	}
	if len(docs) != stored {
		t.Fatalf("%d outcomes reported for %d resources stored", len(docs), stored)
	}
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("an apply cut short: %v, want ErrUnavailable", err)
	}
}

// TestAuthorizationHeader: the scheme of an Authorization header is
// case-insensitive (RFC 9110 11.1), the token is not; anything else in
// the header is 401 and changes nothing.
func TestAuthorizationHeader(t *testing.T) {
	f := newFixture(t, Limits{})
	hc := rawClient(t, f)
	for _, c := range []struct {
		header string
		want   int
	}{
		{"Bearer " + roToken, 200},
		{"bearer " + roToken, 200},
		{"BEARER " + roToken, 200},
		{"Bearer " + strings.ToUpper(roToken), 401},
		{"Bearer", 401},
		{"Bearer ", 401},
		{"Bearer  " + roToken, 401},
		{"Basic " + roToken, 401},
		{"Bearer" + roToken, 401},
		{"Bearer " + roToken + " " + roToken, 401},
		{roToken, 401},
	} {
		req, err := http.NewRequest("GET", f.url+"/v1/kinds", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", c.header)
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != c.want {
			t.Errorf("Authorization: %q: %d, want %d", c.header, resp.StatusCode, c.want)
		}
	}
}

// heldGet holds its Get until open is closed, saying on held when it
// does, and fails it if its context ended meanwhile.
type heldGet struct {
	*backend.Memory
	held, open chan struct{}
}

func (h *heldGet) Get(ctx context.Context, ref store.Ref, opt backend.ReadOptions) (store.Resource, error) {
	close(h.held)
	<-h.open
	if err := ctx.Err(); err != nil {
		return store.Resource{}, err
	}
	return h.Memory.Get(ctx, ref, opt)
}

// TestCloseLetsRequestsFinish: Close ends the watches at once but lets a
// request in flight finish (within CloseWaitMax), rather than cancel it
// and answer its client "canceled", which the client takes for its own
// interruption.
func TestCloseLetsRequestsFinish(t *testing.T) {
	b := &heldGet{Memory: backend.NewMemory(), held: make(chan struct{}), open: make(chan struct{})}
	ctx := context.Background()
	r := store.Resource{Ref: store.Ref{Kind: "K", Name: "n"}, Face: "pureraft", Format: store.Native, Payload: []byte("x")}
	if _, err := b.Memory.Apply(ctx, r, store.Expect{}); err != nil {
		t.Fatal(err)
	}
	srv, certPEM := serve(t, Config{Backend: b}, `{"tokens": {"`+roToken+`": "viewer"}, "roles": {"viewer": "read-only"}}`, nil)
	defer srv.Close()
	c := tokenClient(t, srv, certPEM, roToken)
	w, err := c.Watch(ctx, "K", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	got := make(chan error, 1)
	go func() {
		_, _, err := c.Get(ctx, r.Ref, false)
		got <- err
	}()
	<-b.held
	go srv.Close()
	for range w.Events() { // the watch ends when Close begins
	}
	close(b.open)
	if err := <-got; err != nil {
		t.Fatalf("a get in flight when the server closed: %v", err)
	}
}

// TestHeadWatch: a HEAD of a watch is refused at once: served, it held a
// watch whose every write the server discarded, so that WriteWaitMax never
// dropped it however little its client read.
func TestHeadWatch(t *testing.T) {
	f := newFixture(t, Limits{WatchesMax: 1})
	hc := rawClient(t, f)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "HEAD", f.url+"/v1/watch/ConfigMap", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+roToken)
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("HEAD of a watch: %d, want 405", resp.StatusCode)
	}
	if n := f.srv.watches.Load(); n != 0 {
		t.Fatalf("a HEAD holds %d watches", n)
	}
}

// TestAccessFileUnsendableToken: a token no client can send (white space
// at an end, which HTTP trims from a header and the CLI from a token file,
// or a control character, which no header may hold) is refused, without
// showing it.
func TestAccessFileUnsendableToken(t *testing.T) {
	for _, tok := range []string{" 0123456789abcdef-secret", "0123456789abcdef-secret\n", "0123456789abcdef-secret\t", "0123456789abc\x00def-secret", "0123456789abc\x7fdef-secret"} {
		file, _ := json.Marshal(map[string]any{"tokens": map[string]string{tok: "a"}, "roles": map[string]string{"a": "admin"}})
		_, err := ParseAccess(file)
		if err == nil || !strings.Contains(err.Error(), "cannot be sent") {
			t.Errorf("token %q: %v", tok, err)
		}
		if err != nil && strings.Contains(err.Error(), "secret") {
			t.Errorf("the error shows a token: %v", err)
		}
	}
	if _, err := ParseAccess([]byte(`{"tokens": {"0123456789 abcdef-secret": "a"}, "roles": {"a": "admin"}}`)); err != nil {
		t.Errorf("a token with an inner space: %v", err)
	}
}

// TestListWatchValidate: a list or a watch of a kind (or namespace) no
// resource can have is 422, as a get of one is, rather than an empty
// answer (a list) or a watch held open for nothing.
func TestListWatchValidate(t *testing.T) {
	f := newFixture(t, Limits{})
	hc := rawClient(t, f)
	for _, path := range []string{
		"/v1/resources/%00",
		"/v1/resources/%ff",
		"/v1/resources/" + strings.Repeat("k", 300),
		"/v1/resources/ConfigMap?namespace=%00",
		"/v1/resources/ConfigMap?namespace=" + strings.Repeat("n", 300),
		"/v1/resources/ConfigMap?namespace=a%20b",
		"/v1/watch/%00",
		"/v1/watch/a%20b?from=0",
	} {
		req, err := http.NewRequest("GET", f.url+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+roToken)
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var body []byte
		if resp.StatusCode != http.StatusOK { // a watch's body would not end
			body, _ = io.ReadAll(resp.Body)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(string(body), `"code":"invalid"`) {
			t.Errorf("GET %.60s: %d %s, want 422 invalid", path, resp.StatusCode, body)
		}
	}
	waitFor(t, "the watches to end", func() bool { return f.srv.watches.Load() == 0 })
}

// ctxErrGet answers every Get with its error.
type ctxErrGet struct {
	*backend.Memory
	err error
}

func (c ctxErrGet) Get(context.Context, store.Ref, backend.ReadOptions) (store.Resource, error) {
	return store.Resource{}, c.err
}

// TestServerContextErrorsAreNotTheClients: a server that answers
// "canceled" or "deadline" (its own context's end) gives the client an
// error that is not the client's context's: a CLI takes context.Canceled
// for its user's interrupt, and context.DeadlineExceeded for its own
// deadline.
func TestServerContextErrorsAreNotTheClients(t *testing.T) {
	for _, cerr := range []error{context.Canceled, context.DeadlineExceeded} {
		srv, certPEM := serve(t, Config{Backend: ctxErrGet{backend.NewMemory(), cerr}}, `{"tokens": {"`+roToken+`": "viewer"}, "roles": {"viewer": "read-only"}}`, nil)
		defer srv.Close()
		c := tokenClient(t, srv, certPEM, roToken)
		_, _, err := c.Get(context.Background(), store.Ref{Kind: "K", Name: "n"}, false)
		if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("a server's %v: the client's error is %v", cerr, err)
		}
		if !errors.Is(err, ErrUnavailable) && !errors.Is(err, node.ErrTimeout) {
			t.Errorf("a server's %v: %v, want ErrUnavailable or node.ErrTimeout", cerr, err)
		}
	}
}

// TestServersInTurnPastAGoneServer: a read moves past a server that takes
// the connection and drops it (a node stopping, a stale kept-alive
// connection), not only past one that refuses it.
func TestServersInTurnPastAGoneServer(t *testing.T) {
	f := newFixture(t, Limits{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	c, err := NewClient(ClientConfig{Server: "https://" + ln.Addr().String() + "," + f.url, CA: f.caPEM, Token: roToken})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Kinds(context.Background()); err != nil {
		t.Fatalf("kinds past a server that drops connections: %v", err)
	}
}

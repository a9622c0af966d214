package api

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"revoada.dev/revoada/backend"
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
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	cert, certPEM, err := ServerCertificate(key, nil)
	if err != nil {
		t.Fatal(err)
	}
	access, err := ParseAccess([]byte(`{"roles": {"alice": "admin"}}`))
	if err != nil {
		t.Fatal(err)
	}
	srv, err := Listen("127.0.0.1:0", Config{Backend: backend.NewMemory(), Access: access, Certificate: cert})
	if err != nil {
		t.Fatal(err)
	}
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

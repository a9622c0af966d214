package metrics

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"time"
)

// Limits of the server, against slow and greedy clients.
const (
	ReadHeaderTimeout = 5 * time.Second
	IdleTimeout       = time.Minute
	HeaderBytesMax    = 8 << 10
)

// Path is where the metrics are served.
const Path = "/metrics"

// AddrError is a metrics address Listen refuses.
type AddrError struct {
	Addr string
	Why  string
}

func (e *AddrError) Error() string { return fmt.Sprintf("metrics: address %q: %s", e.Addr, e.Why) }

// CheckAddr says whether Listen would take addr (see the package doc):
// nil, or an *AddrError.
func CheckAddr(addr string, remote bool) error {
	hostPart, port, err := net.SplitHostPort(addr)
	if err != nil {
		return &AddrError{Addr: addr, Why: "want HOST:PORT"}
	}
	if _, err := net.LookupPort("tcp", port); err != nil {
		return &AddrError{Addr: addr, Why: "bad port"}
	}
	if hostPart == "" {
		return &AddrError{Addr: addr, Why: "no host: name one (127.0.0.1 for this machine, 0.0.0.0 for every interface)"}
	}
	if hostPart == "localhost" {
		return nil
	}
	ip, err := netip.ParseAddr(hostPart)
	switch {
	case err != nil:
		return &AddrError{Addr: addr, Why: "the host must be an IP address or localhost"}
	case ip.IsLoopback():
		return nil
	case !remote:
		return &AddrError{Addr: addr, Why: "not a loopback address: metrics are plain HTTP without authentication; allow it explicitly to serve them to other hosts"}
	}
	return nil
}

// Server serves one node's metrics at Path over plain HTTP on a listener
// of its own.
type Server struct {
	srv  *http.Server
	ln   net.Listener
	done chan struct{}
	err  error // Serve's, read after done
}

// Listen listens on addr (CheckAddr; remote allows an address other
// hosts reach) and serves m's metrics until Close. Errors: an *AddrError,
// or the listener's.
func Listen(addr string, remote bool, m *Metrics) (*Server, error) {
	if err := CheckAddr(addr, remote); err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET "+Path, m.Handler())
	s := &Server{
		srv: &http.Server{Handler: mux, ReadHeaderTimeout: ReadHeaderTimeout, IdleTimeout: IdleTimeout, MaxHeaderBytes: HeaderBytesMax},
		ln:  ln, done: make(chan struct{}),
	}
	go func() {
		defer close(s.done)
		if err := s.srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			s.err = err
		}
	}()
	return s, nil
}

// Addr is where the server listens.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// URL is the metrics' URL.
func (s *Server) URL() string { return "http://" + s.Addr() + Path }

// Close stops the server at once, scrapes in flight included.
func (s *Server) Close() error {
	err := s.srv.Close()
	<-s.done
	return errors.Join(err, s.err)
}

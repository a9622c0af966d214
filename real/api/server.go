package api

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/netutil"

	"revoada.dev/revoada/backend"
	"revoada.dev/revoada/core/attest"
	"revoada.dev/revoada/core/face"
	"revoada.dev/revoada/core/store"
)

// Limits bound what one client can hold of a server. A zero field takes
// its default (DefaultLimits).
type Limits struct {
	// HeaderWaitMax bounds the TLS handshake and a request's headers (a
	// slow-loris client is cut off then); BodyWaitMax an apply's body.
	HeaderWaitMax, BodyWaitMax time.Duration
	// WriteWaitMax is how long a client may take to read one write of an
	// answer: a watch client that stops reading is dropped then.
	WriteWaitMax time.Duration
	// IdleWaitMax closes a kept-alive connection idle this long.
	IdleWaitMax time.Duration
	// HeaderBytesMax bounds a request's headers.
	HeaderBytesMax int
	// WatchesMax bounds the watches served at once; more are 429.
	WatchesMax int
	// AppliesMax bounds the applies served at once, each holding up to
	// face.InputBytesMax of body; more are 429.
	AppliesMax int
	// ConnsMax bounds the connections open at once; past it the server
	// accepts no more until one closes (a slow-loris crowd is cut off by
	// HeaderWaitMax meanwhile).
	ConnsMax int
	// BookmarkEvery is how long a watch may stay silent before it is sent
	// a BOOKMARK.
	BookmarkEvery time.Duration
	// CloseWaitMax bounds how long Close waits for requests in flight.
	CloseWaitMax time.Duration
}

// DefaultLimits are the limits a server runs with unless told.
func DefaultLimits() Limits {
	return Limits{HeaderWaitMax: 10 * time.Second, BodyWaitMax: 30 * time.Second, WriteWaitMax: 10 * time.Second,
		IdleWaitMax: 2 * time.Minute, HeaderBytesMax: 64 << 10, WatchesMax: 1024, AppliesMax: 64, ConnsMax: 4096,
		BookmarkEvery: 30 * time.Second,
		CloseWaitMax:  10 * time.Second}
}

func (l Limits) withDefaults() Limits {
	d := DefaultLimits()
	pick := func(v *time.Duration, def time.Duration) {
		if *v <= 0 {
			*v = def
		}
	}
	pick(&l.HeaderWaitMax, d.HeaderWaitMax)
	pick(&l.BodyWaitMax, d.BodyWaitMax)
	pick(&l.WriteWaitMax, d.WriteWaitMax)
	pick(&l.IdleWaitMax, d.IdleWaitMax)
	pick(&l.BookmarkEvery, d.BookmarkEvery)
	pick(&l.CloseWaitMax, d.CloseWaitMax)
	if l.HeaderBytesMax <= 0 {
		l.HeaderBytesMax = d.HeaderBytesMax
	}
	if l.WatchesMax <= 0 {
		l.WatchesMax = d.WatchesMax
	}
	if l.AppliesMax <= 0 {
		l.AppliesMax = d.AppliesMax
	}
	if l.ConnsMax <= 0 {
		l.ConnsMax = d.ConnsMax
	}
	return l
}

// Config is what a server serves, and to whom.
type Config struct {
	// Backend is the store served (a real/host node's: linearizable
	// reads, and local ones on request).
	Backend backend.Backend
	// Status reports the mesh; nil answers ErrNoMesh.
	Status func(context.Context) (MeshStatus, error)
	// Chain is the replica's attested role history; nil answers ErrNoMesh.
	Chain func(context.Context) ([]attest.Block, error)
	// Ready says whether the node can serve reads now; nil: always.
	Ready func(context.Context) error
	// Access says who may do what; required.
	Access *Access
	// Certificate is the server's (ServerCertificate).
	Certificate tls.Certificate
	Limits      Limits
	Logger      *slog.Logger // nil: slog.Default()
}

// Server serves one node's store over HTTPS.
type Server struct {
	cfg     Config
	lim     Limits
	ln      net.Listener
	srv     *http.Server
	ctx     context.Context // cancelled by Close: ends every watch (only: other requests may finish)
	cancel  context.CancelFunc
	watches atomic.Int64
	applies chan struct{}  // a token per apply served
	served  sync.WaitGroup // the goroutine running srv.Serve
	close   sync.Once
}

// Listen starts a server on addr ("host:port"; port 0 picks one).
func Listen(addr string, cfg Config) (*Server, error) {
	if cfg.Backend == nil || cfg.Access == nil || len(cfg.Certificate.Certificate) == 0 {
		return nil, errors.New("api: a server needs a backend, an access file and a certificate")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("api: %w", err)
	}
	s := &Server{cfg: cfg, lim: cfg.Limits.withDefaults(), ln: ln}
	s.applies = make(chan struct{}, s.lim.AppliesMax)
	// Without a client CA no certificate is asked for: with ClientCAs nil
	// Go's TLS would verify one against the system's roots, and any
	// certificate a public CA signs would name a user.
	clientAuth := tls.NoClientCert
	if cfg.Access.ClientCAs != nil {
		clientAuth = tls.VerifyClientCertIfGiven
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.srv = &http.Server{
		Handler:           s.routes(),
		ReadHeaderTimeout: s.lim.HeaderWaitMax,
		IdleTimeout:       s.lim.IdleWaitMax,
		MaxHeaderBytes:    s.lim.HeaderBytesMax,
		ErrorLog:          slog.NewLogLogger(cfg.Logger.Handler(), slog.LevelDebug),
		TLSConfig: &tls.Config{
			MinVersion:   tls.VersionTLS13,
			Certificates: []tls.Certificate{cfg.Certificate},
			ClientAuth:   clientAuth,
			ClientCAs:    cfg.Access.ClientCAs,
		},
	}
	s.served.Go(func() { s.srv.ServeTLS(netutil.LimitListener(ln, s.lim.ConnsMax), "", "") })
	return s, nil
}

// Addr is the address the server listens on.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Close ends every watch, waits up to Limits.CloseWaitMax for the other
// requests in flight, then drops what is left.
func (s *Server) Close() error {
	s.close.Do(func() {
		s.cancel()
		ctx, cancel := context.WithTimeout(context.Background(), s.lim.CloseWaitMax)
		defer cancel()
		if s.srv.Shutdown(ctx) != nil {
			s.srv.Close()
		}
		s.served.Wait()
	})
	return nil
}

// handler serves one request of a user; it returns an error only before
// it wrote anything, and the route writes it.
type handler func(w http.ResponseWriter, r *http.Request) error

func (s *Server) routes() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /livez", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok\n") })
	mux.HandleFunc("GET /readyz", s.readyz)
	mux.Handle("POST /v1/apply", s.route(ReadWrite, s.apply))
	mux.Handle("GET /v1/resources/{kind}", s.route(ReadOnly, s.list))
	mux.Handle("GET /v1/resources/{kind}/{name}", s.route(ReadOnly, s.get))
	mux.Handle("DELETE /v1/resources/{kind}/{name}", s.route(ReadWrite, s.delete))
	mux.Handle("GET /v1/watch/{kind}", s.route(ReadOnly, s.watch))
	mux.Handle("GET /v1/kinds", s.route(ReadOnly, s.kinds))
	mux.Handle("GET /v1/mesh/status", s.route(Admin, s.status))
	mux.Handle("GET /v1/chain", s.route(ReadOnly, s.chain))
	s.kubeRoutes(mux)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s.fail(w, r, fmt.Errorf("%w: no such endpoint: %s %s", ErrBadRequest, r.Method, r.URL.Path), http.StatusNotFound)
	})
	return mux
}

// route authenticates and authorises a request for need, then serves it.
func (s *Server) route(need Role, h handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user, err := s.cfg.Access.allow(r, need)
		if err == nil {
			err = h(w, r)
		}
		if err != nil {
			_, status := ToError(err)
			if user != "" || status != http.StatusUnauthorized {
				s.cfg.Logger.Debug("api: request refused", "user", user, "method", r.Method, "path", r.URL.Path, "err", err)
			}
			s.fail(w, r, err, 0)
		}
	})
}

// fail writes err as the answer, with status (0: err's class's).
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error, status int) {
	wire, st := ToError(err)
	if status == 0 {
		status = st
	}
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="revoada"`)
	}
	var nf *notFound
	if errors.As(err, &nf) {
		wire.Revision = nf.served
	}
	s.writeJSON(w, r, status, wire)
}

// writeJSON writes v as the whole answer, within Limits.WriteWaitMax.
func (s *Server) writeJSON(w http.ResponseWriter, _ *http.Request, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("api: encoding %T: %v", v, err)) // our own types always encode
	}
	http.NewResponseController(w).SetWriteDeadline(time.Now().Add(s.lim.WriteWaitMax))
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)+1))
	w.WriteHeader(status)
	w.Write(append(body, '\n'))
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	if s.cfg.Ready != nil {
		if err := s.cfg.Ready(r.Context()); err != nil {
			s.fail(w, r, fmt.Errorf("%w: %w", ErrUnavailable, err), http.StatusServiceUnavailable)
			return
		}
	}
	io.WriteString(w, "ok\n")
}

// query parses r's query, refusing parameters other than allowed and
// repeated ones.
func query(r *http.Request, allowed ...string) (map[string]string, error) {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, fmt.Errorf("%w: the query: %v", ErrBadRequest, err)
	}
	out := map[string]string{}
	for k, vs := range q {
		if !slices.Contains(allowed, k) {
			return nil, fmt.Errorf("%w: unknown query parameter %q (this endpoint takes %v)", ErrBadRequest, k, allowed)
		}
		if len(vs) > 1 {
			return nil, fmt.Errorf("%w: query parameter %q given %d times", ErrBadRequest, k, len(vs))
		}
		out[k] = vs[0]
	}
	return out, nil
}

// parseRead parses a read's query: namespace, and local=true|false.
func parseRead(r *http.Request) (map[string]string, backend.ReadOptions, error) {
	q, err := query(r, "namespace", "local")
	if err != nil {
		return nil, backend.ReadOptions{}, err
	}
	switch v := q["local"]; v {
	case "", "false":
		return q, backend.ReadOptions{}, nil
	case "true":
		return q, backend.ReadOptions{Local: true}, nil
	default:
		return nil, backend.ReadOptions{}, fmt.Errorf("%w: local=%q: want true or false", ErrBadRequest, v)
	}
}

// expectation parses expect=REV|absent ("" none).
func expectation(v string) (*store.Expect, error) {
	switch v {
	case "":
		return nil, nil
	case "absent":
		return &store.Expect{Set: true}, nil
	}
	rev, err := strconv.ParseUint(v, 10, 64)
	if err != nil || rev == 0 {
		return nil, fmt.Errorf("%w: expect=%q: want a revision (a positive integer) or absent", ErrBadRequest, v)
	}
	return &store.Expect{Set: true, Revision: store.Revision(rev)}, nil
}

// validKind checks a list's or a watch's kind and namespace as a
// resource's (store.Ref.Validate): what no resource can have is
// store.ErrInvalid, not an empty list or a watch of nothing.
func validKind(kind, namespace string) error {
	return store.Ref{Kind: kind, Namespace: namespace, Name: "-"}.Validate()
}

// readHeaders sets the headers of a read served at rev: for a local one,
// how many committed entries the replica had not applied too.
func readHeaders(w http.ResponseWriter, rev store.Revision, behind uint64, opt backend.ReadOptions) {
	w.Header().Set("Revoada-Revision", strconv.FormatUint(uint64(rev), 10))
	how := "linearizable"
	if opt.Local {
		how = "local"
		w.Header().Set("Revoada-Behind", strconv.FormatUint(behind, 10))
	}
	w.Header().Set("Revoada-Read", how)
}

func (s *Server) apply(w http.ResponseWriter, r *http.Request) error {
	q, err := query(r, "face", "format", "file", "expect")
	if err != nil {
		return err
	}
	in := ApplyInput{Face: q["face"], File: q["file"]}
	if in.File == "" {
		in.File = "request body"
	}
	if _, err := face.ByName(in.Face); err != nil {
		return fmt.Errorf("%w: face=%q: %v", ErrBadRequest, in.Face, err)
	}
	if in.Format, err = store.ParseFormat(q["format"]); err != nil {
		return fmt.Errorf("%w: format=%q: %v", ErrBadRequest, q["format"], err)
	}
	if in.Expect, err = expectation(q["expect"]); err != nil {
		return err
	}
	select {
	case s.applies <- struct{}{}:
		defer func() { <-s.applies }()
	default:
		return fmt.Errorf("%w: %d applies served at once, the limit", ErrTooMany, s.lim.AppliesMax)
	}
	http.NewResponseController(w).SetReadDeadline(time.Now().Add(s.lim.BodyWaitMax))
	in.Data, err = io.ReadAll(http.MaxBytesReader(w, r.Body, face.InputBytesMax))
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		return fmt.Errorf("%w: more than %d bytes", ErrTooLarge, face.InputBytesMax)
	case err != nil:
		return fmt.Errorf("%w: reading the body: %v", ErrBadRequest, err)
	}
	var out Applied
	status := http.StatusOK
	err = ApplyFile(r.Context(), s.cfg.Backend, in, func(d DocResult) {
		doc := Doc{Where: d.Where, Kind: d.Ref.Kind, Namespace: d.Ref.Namespace, Name: d.Ref.Name, Revision: d.Revision, Invalid: d.Invalid}
		if d.Err != nil {
			var st int
			doc.Error, st = ToError(d.Err)
			if d.Invalid {
				st = http.StatusBadRequest
			}
			if status == http.StatusOK {
				status = st
			}
		}
		out.Documents = append(out.Documents, doc)
	})
	if err != nil {
		// Cut short (the server closes, or the client went): say so, with
		// what was applied, so that no client takes the documents left
		// out for applied.
		err = fmt.Errorf("%w: the apply was cut short, and no document after these was applied: %w", ErrUnavailable, err)
		if len(out.Documents) == 0 {
			return err
		}
		out.Error, status = ToError(err)
	}
	s.writeJSON(w, r, status, out)
	return nil
}

// ref is the resource a request names.
func ref(r *http.Request, ns string) store.Ref {
	return store.Ref{Kind: r.PathValue("kind"), Namespace: ns, Name: r.PathValue("name")}
}

// notFound is a get's not found, with the revision it was served at.
type notFound struct {
	err    error
	served store.Revision
}

func (e *notFound) Error() string { return e.err.Error() }
func (e *notFound) Unwrap() error { return e.err }

func (s *Server) get(w http.ResponseWriter, r *http.Request) error {
	q, opt, err := parseRead(r)
	if err != nil {
		return err
	}
	res, rev, behind, err := getBehind(r.Context(), s.cfg.Backend, ref(r, q["namespace"]), opt)
	readHeaders(w, rev, behind, opt)
	if err != nil {
		return &notFound{err: err, served: rev}
	}
	s.writeJSON(w, r, http.StatusOK, toResource(res))
	return nil
}

func (s *Server) list(w http.ResponseWriter, r *http.Request) error {
	q, opt, err := parseRead(r)
	if err != nil {
		return err
	}
	if err := validKind(r.PathValue("kind"), q["namespace"]); err != nil {
		return err
	}
	l, err := s.cfg.Backend.List(r.Context(), r.PathValue("kind"), q["namespace"], opt)
	if err != nil {
		return err
	}
	readHeaders(w, l.Revision, l.Behind, opt)
	out := List{Revision: l.Revision, Items: make([]Resource, 0, len(l.Items))}
	for _, it := range l.Items {
		out.Items = append(out.Items, toResource(it))
	}
	s.writeJSON(w, r, http.StatusOK, out)
	return nil
}

func (s *Server) delete(w http.ResponseWriter, r *http.Request) error {
	q, err := query(r, "namespace", "expect")
	if err != nil {
		return err
	}
	exp, err := expectation(q["expect"])
	if err != nil {
		return err
	}
	var e store.Expect
	if exp != nil {
		e = *exp
	}
	res, err := s.cfg.Backend.Delete(r.Context(), ref(r, q["namespace"]), e)
	if err != nil {
		return err
	}
	s.writeJSON(w, r, http.StatusOK, toResource(res))
	return nil
}

func (s *Server) kinds(w http.ResponseWriter, r *http.Request) error {
	if _, err := query(r); err != nil {
		return err
	}
	l, err := s.cfg.Backend.List(r.Context(), "", "", backend.ReadOptions{})
	if err != nil {
		return err
	}
	kinds := []string{}
	for _, it := range l.Items {
		kinds = append(kinds, it.Ref.Kind)
	}
	slices.Sort(kinds)
	s.writeJSON(w, r, http.StatusOK, slices.Compact(kinds))
	return nil
}

func (s *Server) status(w http.ResponseWriter, r *http.Request) error {
	if _, err := query(r); err != nil {
		return err
	}
	if s.cfg.Status == nil {
		return ErrNoMesh
	}
	st, err := s.cfg.Status(r.Context())
	if err != nil {
		return err
	}
	s.writeJSON(w, r, http.StatusOK, st)
	return nil
}

// chain answers the replica's attested role history in attest's encoding.
func (s *Server) chain(w http.ResponseWriter, r *http.Request) error {
	if _, err := query(r); err != nil {
		return err
	}
	if s.cfg.Chain == nil {
		return ErrNoMesh
	}
	blocks, err := s.cfg.Chain(r.Context())
	if err != nil {
		return err
	}
	s.writeJSON(w, r, http.StatusOK, Chain{Blocks: len(blocks), Encoded: attest.AppendChain(nil, blocks)})
	return nil
}

// watch streams kind's events from a revision, a JSON object a line, until
// the client goes, the watch ends (a RESET, or an ERROR line saying why),
// or the server closes (the stream just ends: resume from the next
// revision).
func (s *Server) watch(w http.ResponseWriter, r *http.Request) error {
	if r.Method != http.MethodGet {
		// A HEAD (which "GET /v1/watch/" matches) would hold a watch whose
		// every write is discarded: WriteWaitMax would never drop it.
		w.Header().Set("Allow", http.MethodGet)
		s.fail(w, r, fmt.Errorf("%w: a watch is a GET, not a %s", ErrBadRequest, r.Method), http.StatusMethodNotAllowed)
		return nil
	}
	q, err := query(r, "from")
	if err != nil {
		return err
	}
	var from uint64
	if v := q["from"]; v != "" {
		if from, err = strconv.ParseUint(v, 10, 64); err != nil {
			return fmt.Errorf("%w: from=%q: want a revision", ErrBadRequest, v)
		}
	}
	if err := validKind(r.PathValue("kind"), ""); err != nil {
		return err
	}
	if s.watches.Add(1) > int64(s.lim.WatchesMax) {
		s.watches.Add(-1)
		return fmt.Errorf("%w: %d served at once, the limit", ErrTooMany, s.lim.WatchesMax)
	}
	defer s.watches.Add(-1)
	wt, err := s.cfg.Backend.Watch(r.Context(), r.PathValue("kind"), store.Revision(from))
	if err != nil {
		return err
	}
	defer wt.Close()
	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.WriteHeader(http.StatusOK)
	send := func(ev Event) bool {
		line, err := json.Marshal(ev)
		if err != nil {
			panic(fmt.Sprintf("api: encoding an event: %v", err))
		}
		rc.SetWriteDeadline(time.Now().Add(s.lim.WriteWaitMax))
		if _, err := w.Write(append(line, '\n')); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	if rc.Flush() != nil { // the status at once: the watch is on
		return nil
	}
	// An idle BOOKMARK says the stream has seen everything up to the last
	// revision sent, which holds once a watch from 0 is past its listing
	// (its own BOOKMARK), even on an empty store (revision 0).
	var last store.Revision // the last revision sent
	listed := from > 0
	if from > 0 {
		last = store.Revision(from - 1)
	}
	idle := time.NewTimer(s.lim.BookmarkEvery)
	defer idle.Stop()
	for {
		select {
		case ev, open := <-wt.Events():
			if !open {
				if err := wt.Err(); err != nil && r.Context().Err() == nil {
					wire, _ := ToError(err)
					send(Event{Type: "ERROR", Error: wire})
				}
				return nil
			}
			out := Event{Type: ev.Type.String(), Revision: ev.Revision}
			if ev.Type != store.Bookmark && ev.Type != store.Reset {
				res := toResource(ev.Resource)
				out.Resource = &res
			}
			last, listed = max(last, ev.Revision), listed || ev.Type == store.Bookmark
			if !send(out) {
				return nil
			}
			idle.Reset(s.lim.BookmarkEvery)
		case <-idle.C:
			if listed && !send(Event{Type: "BOOKMARK", Revision: last}) {
				return nil
			}
			idle.Reset(s.lim.BookmarkEvery)
		case <-r.Context().Done():
			return nil
		case <-s.ctx.Done():
			return nil
		}
	}
}

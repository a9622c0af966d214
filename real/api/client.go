package api

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"revoada.dev/revoada/backend"
	"revoada.dev/revoada/core/attest"
	"revoada.dev/revoada/core/face"
	"revoada.dev/revoada/core/store"
)

// ClientConfig says which server a client talks to, how it trusts it, and
// who it is.
type ClientConfig struct {
	// Server is https://HOST:PORT, or several, comma-separated: nodes of
	// one mesh, tried in turn while the one in use cannot be reached.
	Server string
	// CA holds the PEM certificates that may sign the server's: its own
	// certificate, which revoada node writes beside its data.
	CA []byte
	// Token is a bearer token; Certificate a client certificate. One of
	// them, or the server answers 401.
	Token       string
	Certificate *tls.Certificate
}

// Client is a server's other end: the five verbs, the kinds, the mesh's
// status. Safe for concurrent use.
type Client struct {
	bases []*url.URL
	cur   atomic.Int64 // the base in use
	http  *http.Client
	token string
}

// answerBytesMax bounds an answer the client reads whole (a list of a
// whole store may be large), and eventBytesMax one watch event's line.
const (
	answerBytesMax = 1 << 30
	eventBytesMax  = 4*face.InputBytesMax + 64<<10
)

// NewClient checks cfg and makes its client.
func NewClient(cfg ClientConfig) (*Client, error) {
	var bases []*url.URL
	for _, s := range strings.Split(cfg.Server, ",") {
		u, err := url.Parse(strings.TrimSpace(s))
		if err != nil || u.Scheme != "https" || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.User != nil {
			return nil, fmt.Errorf("api: server %q: want https://HOST:PORT", s)
		}
		bases = append(bases, u)
	}
	pool, err := CertPool("the server's CA", cfg.CA)
	if err != nil {
		return nil, fmt.Errorf("api: %w", err)
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS13, RootCAs: pool}
	if cfg.Certificate != nil {
		tc.Certificates = []tls.Certificate{*cfg.Certificate}
	}
	tr := &http.Transport{TLSClientConfig: tc, ForceAttemptHTTP2: true}
	return &Client{bases: bases, http: &http.Client{Transport: tr}, token: cfg.Token}, nil
}

// Close releases the client's idle connections.
func (c *Client) Close() { c.http.CloseIdleConnections() }

// do sends a request and returns its answer, or the error the server
// answered (a *RemoteError) for a status other than 200.
// A server that cannot be reached (nothing sent), or for a GET one that
// answered nothing, makes it try the next, each once.
func (c *Client) do(ctx context.Context, method, path string, q url.Values, body []byte) (*http.Response, error) {
	var err error
	for range c.bases {
		cur := c.cur.Load()
		u := c.bases[cur].JoinPath(path)
		u.RawQuery = q.Encode()
		var rd io.Reader
		if body != nil {
			rd = bytes.NewReader(body)
		}
		req, rerr := http.NewRequestWithContext(ctx, method, u.String(), rd)
		if rerr != nil {
			return nil, fmt.Errorf("api: %w", rerr)
		}
		if c.token != "" {
			req.Header.Set("Authorization", "Bearer "+c.token)
		}
		var resp *http.Response
		if resp, err = c.http.Do(req); err == nil {
			return resp, nil
		}
		// Past a server that cannot be reached, and, for a read (which
		// changes nothing, sent again), past one that dropped the
		// connection (a node stopping, a stale kept-alive connection).
		var op *net.OpError
		if ctx.Err() != nil || method != http.MethodGet && (!errors.As(err, &op) || op.Op != "dial") {
			break
		}
		c.cur.CompareAndSwap(cur, (cur+1)%int64(len(c.bases)))
	}
	return nil, fmt.Errorf("%w: %v", ErrUnavailable, err)
}

// decode reads resp's JSON body into v; for a status other than 200 it
// returns the error the body holds.
func decode(resp *http.Response, v any) error {
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, answerBytesMax))
	if err != nil {
		return fmt.Errorf("%w: reading the answer: %v", ErrUnavailable, err)
	}
	if resp.StatusCode != http.StatusOK {
		var w Error
		if err := json.Unmarshal(body, &w); err != nil || w.Code == "" {
			return &RemoteError{Wire: Error{Code: "other", Message: fmt.Sprintf("api: %s: %.200s", resp.Status, body)}, Status: resp.StatusCode}
		}
		return w.Err(resp.StatusCode)
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("api: a malformed answer: %v", err)
	}
	return nil
}

// resourcePath is prefix and the escaped kind and name, none of which may
// be empty. A "." or ".." is sent with its dots escaped, which no
// cleaning of the path (the client's or the server's) takes out: sent as
// it is, it sent the request to another endpoint.
func resourcePath(prefix string, parts ...string) (string, error) {
	p := prefix
	for _, s := range parts {
		switch s {
		case "":
			return "", fmt.Errorf("%w: an empty kind or name", ErrBadRequest)
		case ".", "..":
			s = strings.ReplaceAll(s, ".", "%2E")
		default:
			s = url.PathEscape(s)
		}
		p += "/" + s
	}
	return p, nil
}

// ApplyFile sends in and reports every document's outcome, as
// api.ApplyFile does on the node; an apply the server cut short is
// ErrUnavailable, once the documents it applied are reported.
func (c *Client) ApplyFile(ctx context.Context, in ApplyInput, each func(DocResult)) error {
	q := url.Values{"face": {in.Face}, "format": {in.Format.String()}, "file": {in.File}}
	if in.Expect != nil {
		q.Set("expect", "absent")
		if in.Expect.Revision > 0 {
			q.Set("expect", strconv.FormatUint(uint64(in.Expect.Revision), 10))
		}
	}
	resp, err := c.do(ctx, http.MethodPost, "/v1/apply", q, in.Data)
	if err != nil {
		return err
	}
	var out Applied
	if resp.StatusCode != http.StatusOK {
		// A failing document's status: the body still holds every outcome.
		defer resp.Body.Close()
		body, _ := io.ReadAll(io.LimitReader(resp.Body, answerBytesMax))
		if json.Unmarshal(body, &out) != nil || out.Documents == nil {
			resp.Body = io.NopCloser(bytes.NewReader(body))
			return decode(resp, &out)
		}
	} else if err := decode(resp, &out); err != nil {
		return err
	}
	for _, d := range out.Documents {
		each(DocResult{Where: d.Where, Ref: store.Ref{Kind: d.Kind, Namespace: d.Namespace, Name: d.Name},
			Revision: d.Revision, Err: d.Error.Err(0), Invalid: d.Invalid})
	}
	return out.Error.Err(resp.StatusCode)
}

func readQuery(ns string, local bool) url.Values {
	q := url.Values{}
	if ns != "" {
		q.Set("namespace", ns)
	}
	if local {
		q.Set("local", "true")
	}
	return q
}

// Get reads ref (linearizable unless local) and says at which revision it
// was served.
func (c *Client) Get(ctx context.Context, ref store.Ref, local bool) (store.Resource, store.Revision, error) {
	path, err := resourcePath("/v1/resources", ref.Kind, ref.Name)
	if err != nil {
		return store.Resource{}, 0, err
	}
	resp, err := c.do(ctx, http.MethodGet, path, readQuery(ref.Namespace, local), nil)
	if err != nil {
		return store.Resource{}, 0, err
	}
	served, _ := strconv.ParseUint(resp.Header.Get("Revoada-Revision"), 10, 64)
	var w Resource
	if err := decode(resp, &w); err != nil {
		return store.Resource{}, store.Revision(served), err
	}
	r, err := w.resource()
	return r, store.Revision(served), err
}

// List lists kind in namespace ("" for all).
func (c *Client) List(ctx context.Context, kind, namespace string, local bool) (backend.List, error) {
	path, err := resourcePath("/v1/resources", kind)
	if err != nil {
		return backend.List{}, err
	}
	resp, err := c.do(ctx, http.MethodGet, path, readQuery(namespace, local), nil)
	if err != nil {
		return backend.List{}, err
	}
	var w List
	if err := decode(resp, &w); err != nil {
		return backend.List{}, err
	}
	l := backend.List{Revision: w.Revision, Items: make([]store.Resource, 0, len(w.Items))}
	for _, it := range w.Items {
		r, err := it.resource()
		if err != nil {
			return backend.List{}, fmt.Errorf("api: a malformed answer: %w", err)
		}
		l.Items = append(l.Items, r)
	}
	return l, nil
}

// Delete deletes ref if exp holds.
func (c *Client) Delete(ctx context.Context, ref store.Ref, exp store.Expect) (store.Resource, error) {
	q := readQuery(ref.Namespace, false)
	if exp.Set {
		q.Set("expect", "absent")
		if exp.Revision > 0 {
			q.Set("expect", strconv.FormatUint(uint64(exp.Revision), 10))
		}
	}
	path, err := resourcePath("/v1/resources", ref.Kind, ref.Name)
	if err != nil {
		return store.Resource{}, err
	}
	resp, err := c.do(ctx, http.MethodDelete, path, q, nil)
	if err != nil {
		return store.Resource{}, err
	}
	var w Resource
	if err := decode(resp, &w); err != nil {
		return store.Resource{}, err
	}
	return w.resource()
}

// Kinds lists the kinds the store holds, sorted.
func (c *Client) Kinds(ctx context.Context) ([]string, error) {
	resp, err := c.do(ctx, http.MethodGet, "/v1/kinds", nil, nil)
	if err != nil {
		return nil, err
	}
	var kinds []string
	return kinds, decode(resp, &kinds)
}

// MeshStatus is what the server's node knows of its mesh.
func (c *Client) MeshStatus(ctx context.Context) (MeshStatus, error) {
	resp, err := c.do(ctx, http.MethodGet, "/v1/mesh/status", nil, nil)
	if err != nil {
		return MeshStatus{}, err
	}
	var st MeshStatus
	return st, decode(resp, &st)
}

// Chain reads the server's attested role history (not yet verified:
// attest.Verify).
func (c *Client) Chain(ctx context.Context) ([]attest.Block, error) {
	resp, err := c.do(ctx, http.MethodGet, "/v1/chain", nil, nil)
	if err != nil {
		return nil, err
	}
	var ch Chain
	if err := decode(resp, &ch); err != nil {
		return nil, err
	}
	blocks, err := attest.DecodeChain(ch.Encoded)
	if err != nil {
		return nil, fmt.Errorf("api: the server's chain: %w", err)
	}
	return blocks, nil
}

// ErrStreamEnded ends a watch whose server closed the stream without
// saying why (it shut down): resume from the next revision.
var ErrStreamEnded = fmt.Errorf("%w: the server ended the watch", ErrUnavailable)

// Watch follows kind from a revision, as backend.Backend.Watch: a watch
// the server refused is an error here (store.ErrCompacted for a
// compacted revision); one that ends says why in Err.
func (c *Client) Watch(ctx context.Context, kind string, from store.Revision) (backend.Watch, error) {
	path, err := resourcePath("/v1/watch", kind)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	resp, err := c.do(ctx, http.MethodGet, path, url.Values{"from": {strconv.FormatUint(uint64(from), 10)}}, nil)
	if err != nil {
		cancel()
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		defer cancel()
		return nil, decode(resp, nil)
	}
	w := &watch{events: make(chan store.Event), cancel: cancel}
	w.done.Go(func() { w.read(ctx, resp.Body) })
	return w, nil
}

// watch is a stream's events, read by one goroutine.
type watch struct {
	events chan store.Event
	cancel context.CancelFunc
	done   sync.WaitGroup
	err    error // set before events closes
}

func (w *watch) Events() <-chan store.Event { return w.events }
func (w *watch) Err() error                 { return w.err }

func (w *watch) Close() {
	w.cancel()
	w.done.Wait()
}

func (w *watch) read(ctx context.Context, body io.ReadCloser) {
	defer close(w.events)
	defer body.Close()
	sc := bufio.NewScanner(body)
	sc.Buffer(make([]byte, 0, 64<<10), eventBytesMax)
	for sc.Scan() {
		var ev Event
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			w.err = fmt.Errorf("api: a malformed watch event: %v", err)
			return
		}
		out, err := ev.event()
		if err != nil {
			w.err = err
			return
		}
		select {
		case w.events <- out:
		case <-ctx.Done():
			return
		}
		if out.Type == store.Reset {
			return
		}
	}
	switch err := sc.Err(); {
	case ctx.Err() != nil:
	case errors.Is(err, bufio.ErrTooLong):
		w.err = fmt.Errorf("api: a watch event over %d bytes", eventBytesMax)
	default:
		w.err = ErrStreamEnded
	}
}

// event is ev as a store event, or the error an ERROR line carries.
func (ev Event) event() (store.Event, error) {
	if ev.Type == "ERROR" {
		if ev.Error == nil {
			return store.Event{}, errors.New("api: an ERROR event without its error")
		}
		return store.Event{}, ev.Error.Err(0)
	}
	for _, t := range []store.EventType{store.Added, store.Modified, store.Deleted, store.Bookmark, store.Reset} {
		if t.String() != ev.Type {
			continue
		}
		out := store.Event{Type: t, Revision: ev.Revision}
		if ev.Resource != nil {
			r, err := ev.Resource.resource()
			if err != nil {
				return store.Event{}, fmt.Errorf("api: a malformed watch event: %w", err)
			}
			out.Resource = r
		}
		return out, nil
	}
	return store.Event{}, fmt.Errorf("api: a watch event of unknown type %q", ev.Type)
}

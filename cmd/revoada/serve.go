package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"slices"
	"sync"
	"time"

	"revoada.dev/revoada/core/attest"
	"revoada.dev/revoada/core/roles"
	"revoada.dev/revoada/core/store"
)

// server serves a node in this process to the client verbs of other
// processes, on the unix socket in the data directory (see socket.go for
// the protocol). One goroutine accepts; each connection has its own. Every
// frame it writes has a deadline (limits.writeWait): a client that does not
// take one in time is dropped. Close stops it.
type server struct {
	node      nodeClient
	ln        *net.UnixListener
	limits    serverLimits
	slots     chan struct{} // limits.conns
	closing   chan struct{} // closed by Close
	closeOnce sync.Once
	wg        sync.WaitGroup

	mu    sync.Mutex
	conns map[*net.UnixConn]bool // true: read only for a hangup (a watch, a running apply)
}

// serverLimits are a server's bounds: listen's are the protocol's
// constants (socket.go), which tests shorten.
type serverLimits struct {
	conns       int           // connsMax
	writeWait   time.Duration // frameWriteWaitMax
	requestWait time.Duration // requestWaitMax
	drainWait   time.Duration // drainWaitMax
	closeWait   time.Duration // closeWaitMax
}

var defaultLimits = serverLimits{conns: connsMax, writeWait: frameWriteWaitMax, requestWait: requestWaitMax,
	drainWait: drainWaitMax, closeWait: closeWaitMax}

// listen serves node on the socket at path. Only the process holding the
// data directory's lock calls it, so a socket file already there is stale
// (its process was killed before it could remove it): it is replaced. The
// socket is made mode 0600, inside a data directory made 0700.
func listen(path string, node nodeClient) (*server, error) {
	return listenWith(path, node, defaultLimits)
}

// listenWith is listen within limits.
func listenWith(path string, node nodeClient, limits serverLimits) (*server, error) {
	if err := checkSocketPath(path); err != nil {
		return nil, err
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return nil, err
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, err
	}
	s := &server{node: node, ln: ln, limits: limits, slots: make(chan struct{}, limits.conns), closing: make(chan struct{}),
		conns: map[*net.UnixConn]bool{}}
	s.wg.Add(1)
	go s.accept()
	return s, nil
}

// Close stops accepting (removing the socket file), ends every watch with
// a "closing" frame once it has passed its initial listing, serves the
// other connections until their clients hang up (at most drainWait idle),
// and returns when every connection has ended, or after closeWait, when it
// drops those still open and returns once their goroutines are out of the
// node (a request in the node ends as it would for a client that hung up).
// It is safe to call more than once.
func (s *server) Close() { s.closeOnce.Do(s.close) }

func (s *server) close() {
	s.ln.Close()
	s.mu.Lock()
	close(s.closing)
	for c, watching := range s.conns {
		if !watching { // a watch's read waits for its client to hang up
			c.SetReadDeadline(time.Now().Add(s.limits.drainWait))
		}
	}
	s.mu.Unlock()
	ended := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(ended)
	}()
	timer := time.NewTimer(s.limits.closeWait)
	defer timer.Stop()
	select {
	case <-ended:
		return
	case <-timer.C:
	}
	s.mu.Lock()
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	<-ended
}

func (s *server) accept() {
	defer s.wg.Done()
	for {
		c, err := s.ln.AcceptUnix()
		if err != nil {
			return // closed
		}
		select {
		case s.slots <- struct{}{}:
		default:
			s.send(c, errorAnswer(errBusy))
			c.Close()
			continue
		}
		s.wg.Add(1)
		go func() { // the slot is free before the client sees its end of file
			defer s.wg.Done()
			defer c.Close()
			defer func() { <-s.slots }()
			s.serve(c)
		}()
	}
}

// send writes one frame to c, within limits.writeWait. A client that does
// not take it in time is dropped: c is closed, so every later write to it
// fails at once. Its error is a write error: the client is gone.
func (s *server) send(c *net.UnixConn, a answer) error {
	a.V = protocolVersion
	c.SetWriteDeadline(time.Now().Add(s.limits.writeWait))
	err := writeFrame(c, a)
	if err != nil {
		c.Close()
	}
	return err
}

// track adds c to the connections Close drains (not a watch yet), or with
// add false removes it.
func (s *server) track(c *net.UnixConn, add bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if add {
		s.conns[c] = false
	} else {
		delete(s.conns, c)
	}
}

// readForHangup marks c as read only for its client hanging up (a watch, a
// running apply): the read has no deadline, and Close sets none.
func (s *server) readForHangup(c *net.UnixConn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.conns[c] = true
	c.SetReadDeadline(time.Time{})
}

// cancelOnHangup reads c while a request runs, and calls cancel when the
// client hangs up or half-closes (a client sends nothing while its request
// runs, so a read returns only then, or for a client breaking the
// protocol). Like a watch's, the read has no deadline, not even Close's.
// hungUp ends the read, before the next request is read, and reports
// whether the client hung up: nothing more can come from it.
func (s *server) cancelOnHangup(c *net.UnixConn, cancel func()) (hungUp func() bool) {
	s.readForHangup(c)
	var gone bool
	done := make(chan struct{})
	go func() {
		defer close(done)
		var b [1]byte
		if _, err := c.Read(b[:]); !errors.Is(err, os.ErrDeadlineExceeded) {
			gone = true
			cancel()
		}
	}()
	return func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.conns[c] = false
		c.SetReadDeadline(time.Unix(1, 0))
		<-done
		return gone
	}
}

// awaitRequest sets how long c may take to send its next request:
// limits.requestWait, or limits.drainWait once the server is closing. Close sets
// the same under the same lock, so neither undoes the other.
func (s *server) awaitRequest(c *net.UnixConn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	wait := s.limits.requestWait
	if s.isClosing() {
		wait = s.limits.drainWait
	}
	c.SetReadDeadline(time.Now().Add(wait))
}

// serve answers one connection's requests until it hangs up, is idle for
// limits.requestWait, or breaks the protocol. The caller closes c.
func (s *server) serve(c *net.UnixConn) {
	s.track(c, true)
	defer s.track(c, false)
	for first := true; ; first = false {
		s.awaitRequest(c)
		req, err := readMessage[request](c)
		if err != nil {
			if errors.Is(err, errVersion) || errors.Is(err, errMessage) || errors.Is(err, errFrameTooLarge) {
				s.send(c, errorAnswer(err))
			}
			return
		}
		if err := checkRequest(req, first); err != nil {
			s.send(c, errorAnswer(err))
			return
		}
		if req.Op == opWatch {
			s.serveWatch(c, req)
			return
		}
		if err := s.reply(c, req); err != nil {
			return // the client is gone
		}
	}
}

func (s *server) isClosing() bool {
	select {
	case <-s.closing:
		return true
	default:
		return false
	}
}

// checkRequest checks that req has what its op needs, and that a
// connection starts with hello.
func checkRequest(req request, first bool) error {
	var missing string
	switch {
	case !slices.Contains([]string{opHello, opApply, opGet, opList, opDelete, opWatch, opKinds, opStatus, opLeave, opAdmit, opShift, opNetFaults, opClockRate, opChain}, req.Op):
		return fmt.Errorf("%w: %q", errOp, req.Op)
	case first != (req.Op == opHello):
		return fmt.Errorf("%w: %q; a connection starts with one hello", errOp, req.Op)
	case (req.Op == opGet || req.Op == opDelete) && req.Ref == nil:
		missing = "ref"
	case (req.Op == opWatch || req.Op == opList) && req.Kind == "":
		missing = "kind"
	case req.Op == opApply && req.Apply == nil:
		missing = "apply"
	case req.Op == opAdmit && req.Node == "":
		missing = "node"
	case req.Op == opShift && len(req.Shift) == 0:
		missing = "shift"
	}
	if missing != "" {
		return fmt.Errorf("%w: %s without %s", errMessage, req.Op, missing)
	}
	return nil
}

func errorAnswer(err error) answer {
	return answer{Type: ansError, Err: toWire(err)}
}

// reply runs one request other than watch and writes its answer. Its
// error says the client is gone (a write failed, or it hung up). An apply
// stops after the resource in flight when its client is gone or
// half-closes the connection (Ctrl-C: remoteNode.ApplyFile), and answers
// what it applied.
func (s *server) reply(c *net.UnixConn, req request) error {
	ctx, cancel := context.WithCancel(context.Background()) // a request runs to its end, as a local one would, unless its client goes
	defer cancel()
	ok := answer{Type: ansOK}
	var err error
	gone := false // the client hung up during the request: answer, then end
	switch req.Op {
	case opHello:
	case opApply:
		hungUp := s.cancelOnHangup(c, cancel)
		err = s.node.ApplyFile(ctx, *req.Apply, func(d docResult) {
			doc := &wireDoc{Where: d.Where, Ref: d.Ref, Revision: d.Revision, Invalid: d.Invalid}
			if s.send(c, answer{Type: ansDoc, Doc: doc, Err: toWire(d.Err)}) != nil {
				cancel()
			}
		})
		gone = hungUp()
	case opGet:
		var r store.Resource
		r, ok.Revision, err = s.node.Get(ctx, *req.Ref)
		ok.Resource = &r
	case opDelete:
		var r store.Resource
		var exp store.Expect
		if req.Expect != nil {
			exp = *req.Expect
		}
		r, err = s.node.Delete(ctx, *req.Ref, exp)
		ok.Resource = &r
	case opShift:
		err = s.shift(ctx, req.Shift)
	case opNetFaults:
		err = s.node.SetNetFaults(ctx, req.Loss, req.Duplicate)
	case opClockRate:
		err = s.node.SetClockRate(ctx, req.Rate)
	case opKinds:
		ok.Kinds, err = s.node.Kinds(ctx)
	case opStatus:
		var st meshStatus
		st, err = s.node.MeshStatus(ctx)
		ok.Status = &st
	case opChain:
		var blocks []attest.Block
		if blocks, err = s.node.Chain(ctx); err == nil {
			ok.Chain = attest.AppendChain(nil, blocks)
		}
		if len(ok.Chain) > chainBytesMax {
			err = fmt.Errorf("%w: a role history of %d bytes, more than a frame holds (%d): read it over the HTTPS API (--server)", errFrameTooLarge, len(ok.Chain), chainBytesMax)
			ok.Chain = nil
		}
	case opLeave:
		err = s.node.Leave(ctx)
	case opAdmit:
		var id roles.NodeID
		var addr string
		if id, addr, err = parsePeer(req.Node); err != nil {
			err = fmt.Errorf("%w: admit: %w", errMessage, err)
			break
		}
		ok.Changed, err = s.node.Admit(ctx, id, addr)
	case opList:
		err = s.list(ctx, c, req, &ok)
	}
	final := ok
	if err != nil {
		final = errorAnswer(err)
		final.Revision = ok.Revision // a get not found says where
	}
	if err := s.send(c, final); err != nil || !gone {
		return err
	}
	return errHungUp
}

// shift decodes a role shift and submits it.
func (s *server) shift(ctx context.Context, enc []byte) error {
	sh, rest, err := roles.DecodeShift(enc)
	switch {
	case err != nil:
		return fmt.Errorf("%w: shift: %v", errMessage, err)
	case len(rest) > 0:
		return fmt.Errorf("%w: shift: %d bytes after it", errMessage, len(rest))
	}
	return s.node.Shift(ctx, sh)
}

// errHungUp: the client hung up while its request ran.
var errHungUp = errors.New("revoada: socket: the client hung up")

func (s *server) list(ctx context.Context, c *net.UnixConn, req request, ok *answer) error {
	l, err := s.node.List(ctx, req.Kind, req.Namespace)
	if err != nil {
		return err
	}
	for _, r := range l.Items {
		if err := s.send(c, answer{Type: ansItem, Resource: &r}); err != nil {
			return err
		}
	}
	ok.Revision = l.Revision
	return nil
}

// serveWatch streams a watch until the client hangs up or is dropped, the
// watch ends, or the server closes. A closing server ends a watch from
// revision 0 only after its initial listing (the Bookmark that ends it), so
// that the client can resume from the last revision it saw; Close drops one
// that has not got there by its bound.
func (s *server) serveWatch(c *net.UnixConn, req request) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s.readForHangup(c)
	go func() { // the client sends nothing more: a read returns when it hangs up
		var b [1]byte
		c.Read(b[:])
		cancel()
	}()
	w, err := s.node.Watch(ctx, req.Kind, req.From)
	if err != nil {
		s.send(c, errorAnswer(err))
		return
	}
	defer w.Close()
	listed := req.From > 0
	closing := s.closing
	for {
		if listed && closing == nil {
			s.send(c, answer{Type: ansClosing})
			return
		}
		select {
		case ev, open := <-w.Events():
			if !open {
				s.endWatch(ctx, c, w.Err())
				return
			}
			listed = listed || ev.Type == store.Bookmark
			if s.send(c, answer{Type: ansEvent, Event: &ev}) != nil {
				return
			}
		case <-closing:
			closing = nil
		}
	}
}

// endWatch writes the end of a watch the backend ended: ok after a Reset,
// else its error (nothing when the client hung up).
func (s *server) endWatch(ctx context.Context, c *net.UnixConn, err error) {
	switch {
	case ctx.Err() != nil:
	case err == nil:
		s.send(c, answer{Type: ansOK})
	default:
		s.send(c, errorAnswer(err))
	}
}

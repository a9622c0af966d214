package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"revoada.dev/revoada/backend"
	"revoada.dev/revoada/core/attest"
	"revoada.dev/revoada/core/roles"
	"revoada.dev/revoada/core/store"
)

// interruptWaitMax bounds how long an apply interrupted by Ctrl-C waits for
// the serving process to finish the resource in flight and answer.
const interruptWaitMax = frameWriteWaitMax + 5*time.Second

// errNotServed: no process serves the socket (none there, a stale one left
// by a killed process, or one closing before it took this connection).
var errNotServed = errors.New("revoada: no process serves the data directory")

// remoteNode is a nodeClient over a connection to the process that serves
// the data directory. Its requests go one after another; after Watch the
// connection belongs to the watch. Not safe for concurrent use.
type remoteNode struct {
	conn *net.UnixConn
}

var _ nodeClient = (*remoteNode)(nil)

// dialNode connects to the socket at path and says hello. Errors:
// errNotServed when nothing answers there (connection refused, no such
// file, or the connection closed before the hello was answered), errVersion
// from a server of another protocol version.
func dialNode(ctx context.Context, path string) (*remoteNode, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errNotServed, err)
	}
	rn := &remoteNode{conn: c.(*net.UnixConn)}
	if _, err := rn.exchange(ctx, request{Op: opHello}, nil); err != nil {
		rn.Close()
		if errors.Is(err, errNodeGone) {
			return nil, fmt.Errorf("%w: %v", errNotServed, err)
		}
		return nil, err
	}
	return rn, nil
}

// Close hangs up.
func (rn *remoteNode) Close() error { return rn.conn.Close() }

// exchange sends req and reads its answer: each body frame goes to body
// (an error there ends the exchange), and the final frame is returned, or
// its error. A connection that ends before the final frame is errNodeGone.
// Ctrl-C (ctx) interrupts it at once.
func (rn *remoteNode) exchange(ctx context.Context, req request, body func(answer) error) (answer, error) {
	return rn.exchangeOr(ctx, req, body, func() { rn.conn.SetDeadline(time.Unix(1, 0)) })
}

// exchangeOr is exchange, calling interrupt on Ctrl-C (ctx).
func (rn *remoteNode) exchangeOr(ctx context.Context, req request, body func(answer) error, interrupt func()) (answer, error) {
	stop := context.AfterFunc(ctx, interrupt)
	defer stop()
	req.V = protocolVersion
	if err := writeFrame(rn.conn, req); err != nil {
		// The server may have answered (errBusy) and hung up first.
		if a, rerr := readMessage[answer](rn.conn); rerr == nil && a.Type == ansError {
			return a, fromWire(a.Err)
		}
		return answer{}, rn.failed(ctx, err)
	}
	for {
		a, err := readMessage[answer](rn.conn)
		if err != nil {
			return answer{}, rn.failed(ctx, err)
		}
		switch a.Type {
		case ansOK:
			return a, nil
		case ansError:
			return a, fromWire(a.Err)
		case ansClosing:
			return a, errNodeGone
		}
		if body == nil {
			return a, fmt.Errorf("%w: unexpected %q frame", errMessage, a.Type)
		}
		if err := body(a); err != nil {
			return a, err
		}
	}
}

// failed names a connection error: the context's, errNodeGone for a
// connection the other side ended, else err.
func (rn *remoteNode) failed(ctx context.Context, err error) error {
	var op *net.OpError
	switch {
	case ctx.Err() != nil:
		return ctx.Err()
	case errors.Is(err, io.EOF), errors.Is(err, errFrameTruncated), errors.As(err, &op):
		return fmt.Errorf("%w: %w", errNodeGone, err)
	}
	return err
}

// ApplyFile applies in through the serving process. Ctrl-C (ctx) does not
// abandon the answer: it half-closes the connection, which the server takes
// as "stop after the resource in flight", and reads on (at most
// interruptWaitMax) so that every resource the store took is reported; it
// then returns ctx's error.
func (rn *remoteNode) ApplyFile(ctx context.Context, in applyInput, each func(docResult)) error {
	_, err := rn.exchangeOr(ctx, request{Op: opApply, Apply: &in}, func(a answer) error {
		if a.Type != ansDoc || a.Doc == nil {
			return fmt.Errorf("%w: %q frame in an apply", errMessage, a.Type)
		}
		each(docResult{Where: a.Doc.Where, Ref: a.Doc.Ref, Revision: a.Doc.Revision, Err: fromWire(a.Err), Invalid: a.Doc.Invalid})
		return nil
	}, func() {
		rn.conn.CloseWrite()
		rn.conn.SetReadDeadline(time.Now().Add(interruptWaitMax))
	})
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}

func (rn *remoteNode) Get(ctx context.Context, ref store.Ref) (store.Resource, store.Revision, error) {
	return rn.resource(ctx, request{Op: opGet, Ref: &ref})
}

func (rn *remoteNode) Delete(ctx context.Context, ref store.Ref, exp store.Expect) (store.Resource, error) {
	req := request{Op: opDelete, Ref: &ref}
	if exp.Set {
		req.Expect = &exp
	}
	r, _, err := rn.resource(ctx, req)
	return r, err
}

// resource runs a get or delete: the resource, and the revision the
// answer names (a get's served revision, also when not found).
func (rn *remoteNode) resource(ctx context.Context, req request) (store.Resource, store.Revision, error) {
	a, err := rn.exchange(ctx, req, nil)
	if err != nil {
		return store.Resource{}, a.Revision, err
	}
	if a.Resource == nil {
		return store.Resource{}, 0, fmt.Errorf("%w: %s answered without a resource", errMessage, req.Op)
	}
	return *a.Resource, a.Revision, nil
}

func (rn *remoteNode) SetClockRate(ctx context.Context, rate float64) error {
	_, err := rn.exchange(ctx, request{Op: opClockRate, Rate: rate}, nil)
	return err
}

func (rn *remoteNode) SetNetFaults(ctx context.Context, loss, duplicate float64) error {
	_, err := rn.exchange(ctx, request{Op: opNetFaults, Loss: loss, Duplicate: duplicate}, nil)
	return err
}

func (rn *remoteNode) Shift(ctx context.Context, sh roles.Shift) error {
	_, err := rn.exchange(ctx, request{Op: opShift, Shift: roles.AppendShift(nil, sh)}, nil)
	return err
}

func (rn *remoteNode) List(ctx context.Context, kind, namespace string) (backend.List, error) {
	var l backend.List
	a, err := rn.exchange(ctx, request{Op: opList, Kind: kind, Namespace: namespace}, func(a answer) error {
		switch {
		case a.Type != ansItem || a.Resource == nil:
			return fmt.Errorf("%w: %q frame in a list", errMessage, a.Type)
		case len(l.Items) == listItemsMax:
			return fmt.Errorf("revoada: a list of more than %d items", listItemsMax)
		}
		l.Items = append(l.Items, *a.Resource)
		return nil
	})
	l.Revision = a.Revision
	return l, err
}

func (rn *remoteNode) MeshStatus(ctx context.Context) (meshStatus, error) {
	a, err := rn.exchange(ctx, request{Op: opStatus}, nil)
	if err == nil && a.Status == nil {
		err = fmt.Errorf("%w: a status answer without a status", errMessage)
	}
	if err != nil {
		return meshStatus{}, err
	}
	return *a.Status, nil
}

func (rn *remoteNode) Chain(ctx context.Context) ([]attest.Block, error) {
	a, err := rn.exchange(ctx, request{Op: opChain}, nil)
	if err != nil {
		return nil, err
	}
	blocks, err := attest.DecodeChain(a.Chain)
	if err != nil {
		return nil, fmt.Errorf("%w: the node's chain: %w", errMessage, err)
	}
	return blocks, nil
}

func (rn *remoteNode) Admit(ctx context.Context, id roles.NodeID, addr string) (bool, error) {
	a, err := rn.exchange(ctx, request{Op: opAdmit, Node: id.String() + "@" + addr}, nil)
	return a.Changed, err
}

func (rn *remoteNode) Leave(ctx context.Context) error {
	_, err := rn.exchange(ctx, request{Op: opLeave}, nil)
	return err
}

func (rn *remoteNode) Kinds(ctx context.Context) ([]string, error) {
	a, err := rn.exchange(ctx, request{Op: opKinds}, nil)
	return a.Kinds, err
}

// Watch sends the watch request and streams its events. The first frame
// tells a refused watch (store.ErrCompacted, ...) from a started one.
func (rn *remoteNode) Watch(ctx context.Context, kind string, from store.Revision) (backend.Watch, error) {
	req := request{V: protocolVersion, Op: opWatch, Kind: kind, From: from}
	if err := writeFrame(rn.conn, req); err != nil {
		return nil, rn.failed(ctx, err)
	}
	w := &remoteWatch{rn: rn, events: make(chan store.Event), done: make(chan struct{}), ended: make(chan struct{})}
	first, err := rn.nextEvent(ctx)
	if err != nil {
		return nil, err
	}
	stop := context.AfterFunc(ctx, w.Close)
	go w.run(ctx, first, stop)
	return w, nil
}

// nextEvent reads one frame of a watch: an event, or the end as an error
// (nil event and nil error: the watch ended after a Reset).
func (rn *remoteNode) nextEvent(ctx context.Context) (*store.Event, error) {
	a, err := readMessage[answer](rn.conn)
	switch {
	case err != nil:
		return nil, rn.failed(ctx, err)
	case a.Type == ansEvent && a.Event != nil:
		return a.Event, nil
	case a.Type == ansOK:
		return nil, nil
	case a.Type == ansError:
		return nil, fromWire(a.Err)
	case a.Type == ansClosing:
		return nil, errNodeGone
	}
	return nil, fmt.Errorf("%w: %q frame in a watch", errMessage, a.Type)
}

// remoteWatch is a backend.Watch fed by a connection.
type remoteWatch struct {
	rn        *remoteNode
	events    chan store.Event
	done      chan struct{} // closed by Close
	ended     chan struct{} // closed when run has returned
	closeOnce sync.Once
	err       error // why it ended; read after events is closed
}

func (w *remoteWatch) run(ctx context.Context, ev *store.Event, stop func() bool) {
	defer close(w.ended)
	defer close(w.events)
	defer stop()
	var err error
	for ; ev != nil && err == nil; ev, err = w.rn.nextEvent(ctx) {
		select {
		case w.events <- *ev:
		case <-w.done:
			return
		}
	}
	select {
	case <-w.done: // closed by the consumer: no error
	default:
		w.err = err
	}
}

func (w *remoteWatch) Events() <-chan store.Event { return w.events }

func (w *remoteWatch) Close() {
	w.closeOnce.Do(func() {
		close(w.done)
		w.rn.conn.Close()
	})
	<-w.ended
}

func (w *remoteWatch) Err() error { return w.err }

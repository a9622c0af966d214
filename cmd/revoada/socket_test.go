package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"revoada.dev/revoada/backend"
	"revoada.dev/revoada/core/store"
	"revoada.dev/revoada/internal/testalloc"
)

func frame(body string) []byte {
	return append(binary.BigEndian.AppendUint32(nil, uint32(len(body))), body...)
}

// TestReadFrameLimits: lengths are checked before anything is allocated,
// and every way a frame can be cut is a typed error.
func TestReadFrameLimits(t *testing.T) {
	for _, c := range []struct {
		name string
		in   []byte
		want error
	}{
		{"empty", nil, io.EOF},
		{"short length", []byte{0, 0}, errFrameTruncated},
		{"short body", frame(`{"v":1}`)[:6], errFrameTruncated},
		{"too large", binary.BigEndian.AppendUint32(nil, frameBytesMax+1), errFrameTooLarge},
		{"4 GiB", []byte{0xff, 0xff, 0xff, 0xff}, errFrameTooLarge},
	} {
		if _, err := readFrame(bytes.NewReader(c.in)); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
	body, err := readFrame(bytes.NewReader(frame(`{"v":1}`)))
	if err != nil || string(body) != `{"v":1}` {
		t.Errorf("a whole frame: %q, %v", body, err)
	}
}

// TestDecodeMessage: versions are checked before the rest, and anything but
// one object of the message's fields is errMessage.
func TestDecodeMessage(t *testing.T) {
	for body, want := range map[string]error{
		`{"v":2,"op":"get","future":true}`: errVersion,
		`{"op":"get"}`:                     errVersion,
		`{"v":"1"}`:                        errMessage,
		`{"v":1,"op":"get","extra":1}`:     errMessage,
		`{"v":1,"op":"get"} {}`:            errMessage,
		`{"v":1,"op":"get"}}`:              errMessage,
		`[1]`:                              errMessage,
		``:                                 errMessage,
		`{"v":1,"op":"get","ref":{"Kind":"Pod","Namespace":"a","Name":"b"}}`: nil,
		// Field names match exactly (issue 10: "OP" and "V" were taken for "op" and "v").
		`{"v":1,"OP":"hello"}`:            errMessage,
		`{"V":1,"op":"hello"}`:            errVersion,
		`{"v":1,"op":"hello","op":"get"}`: errMessage,
		`{"v":1,"op":"get","ref":{"kind":"Pod","Namespace":"a","Name":"b"}}`: errMessage,
	} {
		if _, err := decodeMessage[request]([]byte(body)); !errors.Is(err, want) || (want == nil) != (err == nil) {
			t.Errorf("%s: %v, want %v", body, err, want)
		}
	}
}

// FuzzReadMessage: no input panics or allocates past the frame limit, and
// every failure is one of the typed protocol errors.
func FuzzReadMessage(f *testing.F) {
	f.Add(frame(`{"v":1,"op":"hello"}`))
	f.Add(frame(`{"v":1,"type":"event","event":{"Type":1,"Revision":3}}`))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, in []byte) {
		for _, read := range []func(io.Reader) error{
			func(r io.Reader) error { _, err := readMessage[request](r); return err },
			func(r io.Reader) error { _, err := readMessage[answer](r); return err },
		} {
			var err error
			testalloc.Check(t, testalloc.FuzzMax, func() { err = read(bytes.NewReader(in)) })
			if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, errFrameTruncated) && !errors.Is(err, errFrameTooLarge) &&
				!errors.Is(err, errMessage) && !errors.Is(err, errVersion) {
				t.Fatalf("untyped error %v", err)
			}
		}
	})
}

// serveMemory serves a memory backend on a socket in a temporary directory.
func serveMemory(t *testing.T) (string, backend.Backend) {
	b := backend.NewMemory()
	path := filepath.Join(t.TempDir(), socketName)
	s, err := listen(path, localNode{b: b})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return path, b
}

// rawExchange sends frames on a fresh connection and returns the answers
// until the server hangs up.
func rawExchange(t *testing.T, path string, frames ...[]byte) []answer {
	c, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, f := range frames {
		c.Write(f)
	}
	var out []answer
	for {
		a, err := readMessage[answer](c)
		if err != nil {
			return out
		}
		out = append(out, a)
	}
}

// TestServerRefuses: a request of another version, one that does not start
// with hello, or a malformed one, is answered with a typed error and the
// connection closed.
func TestServerRefuses(t *testing.T) {
	path, _ := serveMemory(t)
	for _, c := range []struct {
		frames [][]byte
		code   string
	}{
		{[][]byte{frame(`{"v":2,"op":"hello"}`)}, "version"},
		{[][]byte{frame(`{"v":1,"op":"get","ref":{"Kind":"Pod","Namespace":"a","Name":"b"}}`)}, "op"},
		{[][]byte{frame(`{"v":1,"op":"hello"}`), frame(`{"v":1,"op":"get"}`)}, "message"},
		{[][]byte{frame(`{"v":1,"op":"hello"}`), frame(`{"v":1,"op":"frobnicate"}`)}, "op"},
		{[][]byte{frame(`{"v":1,"op":"hello","x":1}`)}, "message"},
		{[][]byte{binary.BigEndian.AppendUint32(nil, frameBytesMax+1)}, "frame_too_large"},
	} {
		got := rawExchange(t, path, c.frames...)
		last := got[len(got)-1]
		if last.Type != ansError || last.Err == nil || last.Err.Code != c.code || last.V != protocolVersion {
			t.Errorf("%q: answers %+v, want a %s error", c.frames, got, c.code)
		}
	}
}

// TestRemoteNodeErrorsKeepTheirType: a store error crosses the socket as
// the same sentinel, so exit statuses do not depend on the path.
func TestRemoteNodeErrorsKeepTheirType(t *testing.T) {
	path, b := serveMemory(t)
	ctx := context.Background()
	rn, err := dialNode(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer rn.Close()
	ref := store.Ref{Kind: "ConfigMap", Namespace: "default", Name: "x"}
	if _, _, err := rn.Get(ctx, ref); !errors.Is(err, store.ErrNotFound) || !strings.Contains(err.Error(), "store: not found") {
		t.Errorf("get of nothing: %v", err)
	}
	in := applyInput{File: "x.yaml", Face: "kubernetes", Format: store.YAML,
		Data: []byte("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n---\nkind: ConfigMap\n")}
	var docs []docResult
	if err := rn.ApplyFile(ctx, in, func(d docResult) { docs = append(docs, d) }); err != nil {
		t.Fatal(err)
	}
	if len(docs) != 2 || docs[0].Err != nil || docs[0].Ref != ref || !docs[1].Invalid || !errors.Is(docs[1].Err, store.ErrInvalid) {
		t.Fatalf("apply: %+v", docs)
	}
	if _, err := b.Get(ctx, ref, backend.ReadOptions{}); err != nil {
		t.Fatalf("the applied document is not in the backend: %v", err)
	}
	if kinds, err := rn.Kinds(ctx); err != nil || len(kinds) != 1 || kinds[0] != "ConfigMap" {
		t.Errorf("kinds: %v, %v", kinds, err)
	}
}

// TestServerBusy: connections past connsMax are refused with errBusy.
func TestServerBusy(t *testing.T) {
	path, _ := serveMemory(t)
	ctx := context.Background()
	for range connsMax {
		rn, err := dialNode(ctx, path)
		if err != nil {
			t.Fatal(err)
		}
		defer rn.Close()
	}
	if _, err := dialNode(ctx, path); !errors.Is(err, errBusy) {
		t.Fatalf("connection %d: %v, want errBusy", connsMax+1, err)
	}
}

// TestFrameFitsTheLargestResource: a resource with the largest payload the
// store takes fits in one frame.
func TestFrameFitsTheLargestResource(t *testing.T) {
	r := store.Resource{Ref: store.Ref{Kind: strings.Repeat("k", store.NameBytesMax), Namespace: strings.Repeat("n", store.NameBytesMax),
		Name: strings.Repeat("x", store.NameBytesMax)}, Face: "kubernetes", Format: store.JSON, Payload: bytes.Repeat([]byte{0xff}, store.PayloadBytesMax)}
	if err := writeFrame(io.Discard, answer{V: protocolVersion, Type: ansItem, Resource: &r}); err != nil {
		t.Fatal(err)
	}
	in := applyInput{File: strings.Repeat("f", 255), Face: "kubernetes", Format: store.YAML, Data: bytes.Repeat([]byte{0xff}, store.PayloadBytesMax)}
	if err := writeFrame(io.Discard, request{V: protocolVersion, Op: opApply, Apply: &in}); err != nil {
		t.Fatal(err)
	}
}

// serveWith serves node on a socket in a temporary directory, within
// limits.
func serveWith(t *testing.T, node nodeClient, limits serverLimits) (string, *server) {
	t.Helper()
	path := filepath.Join(t.TempDir(), socketName)
	s, err := listenWith(path, node, limits)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return path, s
}

// dialRaw connects to path and sends frames, reading nothing.
func dialRaw(t *testing.T, path string, frames ...[]byte) *net.UnixConn {
	t.Helper()
	c, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	for _, f := range frames {
		if _, err := c.Write(f); err != nil {
			t.Fatal(err)
		}
	}
	return c.(*net.UnixConn)
}

// closeReturns calls s.Close and fails the test unless it returns within
// watchGuard (a guard against a hang, never a way to pass).
func closeReturns(t *testing.T, s *server) {
	t.Helper()
	done := make(chan struct{})
	go func() { s.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(watchGuard):
		t.Fatal("Close hung on a client")
	}
}

// largeConfigMaps applies n ConfigMaps of about 100 KB each to b: more
// than a unix socket buffers.
func largeConfigMaps(t *testing.T, b backend.Backend, n int) {
	t.Helper()
	for i := range n {
		y := fmt.Sprintf("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c%d}\ndata: {k: %s}\n", i, strings.Repeat("x", 100<<10))
		in := applyInput{File: "large.yaml", Face: "kubernetes", Format: store.YAML, Data: []byte(y)}
		if err := (localNode{b: b}).ApplyFile(context.Background(), in, func(d docResult) {
			if d.Err != nil {
				t.Fatal(d.Err)
			}
		}); err != nil {
			t.Fatal(err)
		}
	}
}

// TestServerDropsAClientThatStopsReading: a client that stops reading a
// watch or a list answer misses the write deadline and is dropped, so the
// serving process can still close (issue 10: `revoada watch cm | sleep
// 300` kept the process holding the directory from exiting, and everyone
// else out). Close's own bound is out of reach here, so only the write
// deadline can end the connection.
func TestServerDropsAClientThatStopsReading(t *testing.T) {
	for _, req := range []string{`{"v":1,"op":"watch","kind":"ConfigMap"}`, `{"v":1,"op":"list","kind":"ConfigMap"}`} {
		b := backend.NewMemory()
		largeConfigMaps(t, b, 40)
		limits := defaultLimits
		limits.writeWait, limits.closeWait = 50*time.Millisecond, 10*watchGuard
		path, s := serveWith(t, localNode{b: b}, limits)
		c := dialRaw(t, path, frame(`{"v":1,"op":"hello"}`), frame(req))
		closeReturns(t, s)
		if _, err := io.Copy(io.Discard, c); err != nil && !errors.Is(err, syscall.ECONNRESET) {
			t.Errorf("%s: reading what is left: %v", req, err)
		}
	}
}

// endlessNode is a node whose watches list forever: its initial listing
// never ends, so a closing server never gets to end the watch itself.
type endlessNode struct{ localNode }

type endlessWatch struct {
	events chan store.Event
	done   chan struct{}
	once   sync.Once
}

func (n endlessNode) Watch(ctx context.Context, kind string, from store.Revision) (backend.Watch, error) {
	w := &endlessWatch{events: make(chan store.Event), done: make(chan struct{})}
	go func() {
		defer close(w.events)
		r := store.Resource{Ref: store.Ref{Kind: kind, Namespace: "default", Name: "x"}, Face: "kubernetes", Format: store.JSON, Payload: []byte("{}")}
		for rev := store.Revision(1); ; rev++ {
			select {
			case w.events <- store.Event{Type: store.Added, Revision: rev, Resource: r}:
			case <-w.done:
				return
			case <-ctx.Done():
				return
			}
		}
	}()
	return w, nil
}

func (w *endlessWatch) Events() <-chan store.Event { return w.events }
func (w *endlessWatch) Close()                     { w.once.Do(func() { close(w.done) }) }
func (w *endlessWatch) Err() error                 { return nil }

// TestServerCloseIsBounded: a client that keeps a closing server busy (it
// reads an initial listing that never ends) is dropped after closeWait;
// Close never waits on a peer longer than that (issue 10).
func TestServerCloseIsBounded(t *testing.T) {
	limits := defaultLimits
	limits.writeWait, limits.drainWait, limits.closeWait = 10*watchGuard, 10*watchGuard, 50*time.Millisecond
	path, s := serveWith(t, endlessNode{localNode{b: backend.NewMemory()}}, limits)
	c := dialRaw(t, path, frame(`{"v":1,"op":"hello"}`), frame(`{"v":1,"op":"watch","kind":"ConfigMap"}`))
	if a, err := readMessage[answer](c); err != nil || a.Type != ansOK {
		t.Fatalf("hello: %+v, %v", a, err)
	}
	if a, err := readMessage[answer](c); err != nil || a.Type != ansEvent {
		t.Fatalf("the watch: %+v, %v", a, err)
	}
	read := make(chan error, 1)
	go func() { _, err := io.Copy(io.Discard, c); read <- err }()
	closeReturns(t, s)
	if err := <-read; err != nil && !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("the reader: %v", err)
	}
}

// TestServerCloseDrainsIdleClients: a closing server waits drainWait for
// an idle client's next request, not closeWait.
func TestServerCloseDrainsIdleClients(t *testing.T) {
	limits := defaultLimits
	limits.requestWait, limits.drainWait, limits.closeWait = 10*watchGuard, 50*time.Millisecond, 10*watchGuard
	path, s := serveWith(t, localNode{b: backend.NewMemory()}, limits)
	c := dialRaw(t, path, frame(`{"v":1,"op":"hello"}`))
	if a, err := readMessage[answer](c); err != nil || a.Type != ansOK {
		t.Fatalf("hello: %+v, %v", a, err)
	}
	closeReturns(t, s)
	if _, err := readMessage[answer](c); !errors.Is(err, io.EOF) {
		t.Errorf("after Close: %v, want the connection ended", err)
	}
}

// holdSlots serves a memory backend in dir within one connection slot and
// takes it with a client that said hello. free gives it back, returning
// once the server has released the slot (it does so before it closes the
// connection, so the client's end of file is the sign).
func holdSlots(t *testing.T, dir string) (free func()) {
	t.Helper()
	limits := defaultLimits
	limits.conns, limits.requestWait = 1, 10*watchGuard // the slot stays taken until free
	s, err := listenWith(filepath.Join(dir, socketName), localNode{b: backend.NewMemory()}, limits)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	c := dialRaw(t, filepath.Join(dir, socketName), frame(`{"v":1,"op":"hello"}`))
	if a, err := readMessage[answer](c); err != nil || a.Type != ansOK {
		t.Fatalf("hello: %+v, %v", a, err)
	}
	return func() {
		c.CloseWrite()
		io.Copy(io.Discard, c)
	}
}

// TestClientRetriesWhenBusy: a verb refused because the serving process
// has no connection to spare tries again, and gets in once one is free
// (issue 10: it failed at once with "too many connections").
func TestClientRetriesWhenBusy(t *testing.T) {
	dir := t.TempDir()
	free := holdSlots(t, dir)
	var waits []time.Duration
	stderr := &lockedBuffer{}
	e := &env{stdout: io.Discard, stderr: stderr, ctx: context.Background(), sleep: func(_ context.Context, d time.Duration) error {
		waits = append(waits, d)
		free()
		return nil
	}}
	ran := false
	code := withNode(e, "get", dir, func(ctx context.Context, n nodeClient) int {
		_, ran = n.(*remoteNode)
		return exitOK
	})
	if code != exitOK || !ran || len(waits) != 1 {
		t.Fatalf("exit %d, ran through the socket %v, after %v\nstderr: %s", code, ran, waits, stderr)
	}
}

// TestClientGivesUpWhenBusy: a verb refused as busy every time gives up
// after busyAttemptsMax tries, saying why; it waits longer in all than
// the server lets an idle client hold a connection (issue 10).
func TestClientGivesUpWhenBusy(t *testing.T) {
	dir := t.TempDir()
	holdSlots(t, dir)
	var waited time.Duration
	tries := 0
	stderr := &lockedBuffer{}
	e := &env{stdout: io.Discard, stderr: stderr, ctx: context.Background(), sleep: func(_ context.Context, d time.Duration) error {
		tries++
		waited += d
		return nil
	}}
	code := withNode(e, "get", dir, func(context.Context, nodeClient) int { return exitOK })
	if code != exitFailed || tries != busyAttemptsMax-1 {
		t.Fatalf("exit %d after %d waits, want exit 1 after %d\nstderr: %s", code, tries, busyAttemptsMax-1, stderr)
	}
	for _, want := range []string{"too many connections", fmt.Sprintf("refused %d times", busyAttemptsMax), "try again"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("stderr %q lacks %q", stderr, want)
		}
	}
	if waited <= requestWaitMax {
		t.Errorf("a busy verb waits %s in all, no longer than an idle client may hold a connection (%s)", waited, requestWaitMax)
	}
}

// TestServerDropsIdleClients: a connection that sends no request within
// requestWait, hello or any after it, is closed; a watch is never idle.
// Every client here sends its requests at once, so none races the bound.
func TestServerDropsIdleClients(t *testing.T) {
	limits := defaultLimits
	limits.requestWait = 50 * time.Millisecond
	b := backend.NewMemory()
	path, _ := serveWith(t, localNode{b: b}, limits)
	watch := dialRaw(t, path, frame(`{"v":1,"op":"hello"}`), frame(`{"v":1,"op":"watch","kind":"ConfigMap"}`))
	for _, want := range []string{ansOK, ansEvent} {
		if a, err := readMessage[answer](watch); err != nil || a.Type != want {
			t.Fatalf("the watch: %+v, %v; want %s", a, err, want)
		}
	}

	silent := dialRaw(t, path)
	if _, err := readMessage[answer](silent); !errors.Is(err, io.EOF) {
		t.Errorf("a client that never said hello: %v, want the connection ended", err)
	}
	idle := dialRaw(t, path, frame(`{"v":1,"op":"hello"}`))
	if a, err := readMessage[answer](idle); err != nil || a.Type != ansOK {
		t.Fatalf("hello: %+v, %v", a, err)
	}
	if _, err := readMessage[answer](idle); !errors.Is(err, io.EOF) {
		t.Errorf("a client idle after hello: %v, want the connection ended", err)
	}

	// The watch has been silent for longer than requestWait, and lives on.
	largeConfigMaps(t, b, 1)
	if a, err := readMessage[answer](watch); err != nil || a.Type != ansEvent || a.Event.Type != store.Added {
		t.Fatalf("the watch after a quiet spell: %+v, %v", a, err)
	}
}

// interrupting is a backend on which Ctrl-C (cancel) comes while the
// at-th Apply is in flight, after the store took it.
type interrupting struct {
	backend.Backend
	at, n  int
	cancel context.CancelFunc
}

func (b *interrupting) Apply(ctx context.Context, r store.Resource, exp store.Expect) (store.Resource, error) {
	got, err := b.Backend.Apply(ctx, r, exp)
	if b.n++; b.n == b.at {
		b.cancel()
	}
	return got, err
}

const threeConfigMaps = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: one}\n---\n" +
	"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: two}\n---\n" +
	"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: three}\n"

// TestClientInterruptedApplyPrintsWhatItStored: Ctrl-C during an apply,
// here or through the socket, ends it with exit 130, and every resource
// the store took is printed (issue 10: the one in flight was stored and
// never printed, and through the socket the serving process went on
// applying the rest unseen).
func TestClientInterruptedApplyPrintsWhatItStored(t *testing.T) {
	for _, remote := range []bool{false, true} {
		ctx, cancel := context.WithCancel(context.Background())
		b := &interrupting{Backend: backend.NewMemory(), at: 2, cancel: cancel}
		var n nodeClient = localNode{b: b}
		var s *server
		if remote {
			var path string
			path, s = serveWith(t, localNode{b: b}, defaultLimits)
			rn, err := dialNode(ctx, path)
			if err != nil {
				t.Fatal(err)
			}
			defer rn.Close()
			n = rn
		}
		stdout, stderr := &lockedBuffer{}, &lockedBuffer{}
		in := applyInput{File: "three.yaml", Face: "kubernetes", Format: store.YAML, Data: []byte(threeConfigMaps)}
		code := applyFile(ctx, &env{stdout: stdout, stderr: stderr}, n, "three.yaml", in)
		if s != nil {
			s.Close() // the serving process has done all it will
		}
		l, err := b.List(context.Background(), "ConfigMap", "", backend.ReadOptions{})
		if err != nil {
			t.Fatal(err)
		}
		var stored []string
		for _, r := range l.Items {
			stored = append(stored, fmt.Sprintf("%s revision %d", r.Ref, r.ModRevision))
		}
		slices.Sort(stored)
		printed := strings.Fields(strings.ReplaceAll(stdout.String(), " revision ", "_"))
		for i := range printed {
			printed[i] = strings.ReplaceAll(printed[i], "_", " revision ")
		}
		slices.Sort(printed)
		if code != exitInterrupted || !slices.Equal(printed, stored) || len(stored) < 2 || (!remote && len(stored) != 2) {
			t.Errorf("remote %v: exit %d; printed %q, stored %q\nstderr: %s", remote, code, printed, stored, stderr)
		}
	}
}

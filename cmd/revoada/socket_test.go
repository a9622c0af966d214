package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"path/filepath"
	"strings"
	"testing"

	"revoada.dev/revoada/backend"
	"revoada.dev/revoada/core/store"
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
			err := read(bytes.NewReader(in))
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
	s, err := listen(path, localNode{b})
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
	if _, err := rn.Get(ctx, ref); !errors.Is(err, store.ErrNotFound) || !strings.Contains(err.Error(), "store: not found") {
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

package world

import (
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"revoada.dev/revoada/scenarios"
)

// TestSupported: the five scenarios of issue 12 run in the real world;
// every built-in that does not is refused with an UnsupportedError naming
// what it asks for.
func TestSupported(t *testing.T) {
	five := map[string]bool{"leader-kill": true, "minority-partition": true, "rolling-restart": true,
		"store-leader-churn": true, "self-heal-leader-kill": true}
	var runs, refused []string
	for _, name := range scenarios.Names() {
		p, err := scenarios.Resolve(name)
		if err != nil {
			t.Fatal(err)
		}
		err = Supported(p)
		var u *UnsupportedError
		switch {
		case err == nil:
			runs = append(runs, name)
		case !errors.As(err, &u) || u.What == "" || u.Scenario != name:
			t.Errorf("%s: %v is no UnsupportedError naming what", name, err)
		default:
			refused = append(refused, name+" ("+u.What+")")
		}
		if five[name] && err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	t.Logf("run in the real world: %s", strings.Join(runs, ", "))
	t.Logf("refused: %s", strings.Join(refused, "; "))
}

// TestLinkCutsOneDirection: a link forwards both ways, with its latency;
// cut, it forwards nothing on the connections open and new; mended, the
// held connections are closed and new ones forward again.
func TestLinkCutsOneDirection(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() { // an echo server
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				io.Copy(c, c)
			}()
		}
	}()
	const lat = 30 * time.Millisecond
	l, err := newLink(ln.Addr().String(), lat, lat, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	dial := func() net.Conn {
		c, err := net.Dial("tcp", l.Addr())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	echo := func(c net.Conn, msg string) (string, time.Duration) {
		start := time.Now()
		if _, err := c.Write([]byte(msg)); err != nil {
			return "", 0
		}
		c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
		buf := make([]byte, len(msg))
		n, _ := io.ReadFull(c, buf)
		return string(buf[:n]), time.Since(start)
	}
	c := dial()
	if got, took := echo(c, "hello"); got != "hello" || took < 2*lat {
		t.Fatalf("echo %q after %v, want hello after at least %v", got, took, 2*lat)
	}
	l.Cut()
	if got, _ := echo(c, "cut"); got != "" {
		t.Errorf("an open connection forwarded %q through a cut link", got)
	}
	held := dial()
	if got, _ := echo(held, "new"); got != "" {
		t.Errorf("a new connection forwarded %q through a cut link", got)
	}
	l.Mend()
	held.SetReadDeadline(time.Now().Add(time.Second))
	if _, err := held.Read(make([]byte, 1)); err == nil {
		t.Errorf("a connection held by the cut is still open after the mend")
	}
	if got, _ := echo(dial(), "again"); got != "again" {
		t.Errorf("after the mend a new connection echoed %q", got)
	}
}

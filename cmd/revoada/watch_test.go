package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// lockedBuffer is a bytes.Buffer safe to write from run's goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// inProcess is a client verb run by run in this process, its stdout read
// line by line.
type inProcess struct {
	t      *testing.T
	cancel context.CancelFunc
	lines  *bufio.Scanner
	stderr *lockedBuffer
	code   chan int
}

// runInProcess starts run(args) in a goroutine with a context it cancels
// as Ctrl-C would (on stop, or after watchGuard: a guard against a hang,
// never a way to pass).
func runInProcess(t *testing.T, args ...string) *inProcess {
	ctx, cancel := context.WithCancel(context.Background())
	guard := time.AfterFunc(watchGuard, cancel)
	pr, pw := io.Pipe()
	p := &inProcess{t: t, cancel: cancel, lines: bufio.NewScanner(pr), stderr: &lockedBuffer{}, code: make(chan int, 1)}
	go func() {
		p.code <- run(&env{stdout: pw, stderr: p.stderr, ctx: ctx}, args)
		pw.Close()
		guard.Stop()
	}()
	t.Cleanup(func() { p.stop() })
	return p
}

// next returns the next line the verb prints.
func (p *inProcess) next() string {
	p.t.Helper()
	if !p.lines.Scan() {
		p.t.Fatalf("the verb ended early: %v\nstderr: %s", p.lines.Err(), p.stderr)
	}
	return p.lines.Text()
}

func (p *inProcess) want(line string) {
	p.t.Helper()
	if got := p.next(); got != line {
		p.t.Fatalf("printed %q, want %q\nstderr: %s", got, line, p.stderr)
	}
}

// stop cancels the verb, drains its output and returns its exit status.
func (p *inProcess) stop() int {
	p.cancel()
	for p.lines.Scan() {
	}
	code := <-p.code
	p.code <- code
	return code
}

const liveConfigMap = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: live}\ndata: {k: %s}\n"

// TestClientWatchFollowsLiveChanges: a running watch holds the data
// directory and serves other invocations on its socket, so their writes
// reach it and it prints them as they commit (issue 10 defect 7: the watch
// held the lock and nothing could be applied).
func TestClientWatchFollowsLiveChanges(t *testing.T) {
	dir := t.TempDir()
	client(t, dir, exitOK, "apply", "-f", multiResource)
	w := runInProcess(t, "watch", "configmaps", "--data", dir)
	w.want("BOOKMARK rev 2")

	sock := filepath.Join(dir, socketName)
	fi, err := os.Stat(sock)
	if err != nil || fi.Mode().Type() != fs.ModeSocket || fi.Mode().Perm() != 0o600 {
		t.Fatalf("the socket: %v, %v; want a socket of mode 0600", fi.Mode(), err)
	}
	wantLines(t, client(t, dir, exitOK, "apply", "-f", writeFile(t, "live.yaml", strings.Replace(liveConfigMap, "%s", "a", 1))).stdout,
		"ConfigMap/default/live revision 3")
	w.want("ADDED ConfigMap/default/live rev 3")
	client(t, dir, exitOK, "apply", "-f", writeFile(t, "live.yaml", strings.Replace(liveConfigMap, "%s", "b", 1)))
	w.want("MODIFIED ConfigMap/default/live rev 4")
	if o := client(t, dir, exitOK, "get", "cm", "live", "-o", "yaml"); !strings.Contains(o.stdout, "k: b") {
		t.Errorf("get through the socket: %q", o.stdout)
	}
	wantLines(t, client(t, dir, exitOK, "delete", "cm", "live").stdout, "ConfigMap/default/live deleted revision 5")
	w.want("DELETED ConfigMap/default/live rev 5")
	if code := w.stop(); code != exitOK {
		t.Fatalf("watch after Ctrl-C: exit %d\nstderr: %s", code, w.stderr)
	}
	if _, err := os.Stat(sock); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("the socket outlived its process: %v", err)
	}
}

// TestClientWatchResumesWhenItsServerExits: a watch served by another
// process carries on from the next revision when that process exits, on a
// node of its own.
func TestClientWatchResumesWhenItsServerExits(t *testing.T) {
	dir := t.TempDir()
	client(t, dir, exitOK, "apply", "-f", multiResource)
	holder := startWatch(t, dir, "watch", "Service")
	holder.until("BOOKMARK") // it holds the directory and serves the socket

	w := runInProcess(t, "watch", "rc", "--data", dir) // through the holder's socket
	w.want("ADDED ReplicationController/default/mock rev 2")
	w.want("BOOKMARK rev 2")
	holder.interrupt(t)
	client(t, dir, exitOK, "delete", "ReplicationController", "mock")
	w.want("DELETED ReplicationController/default/mock rev 3")
	if code := w.stop(); code != exitOK {
		t.Fatalf("watch after Ctrl-C: exit %d\nstderr: %s", code, w.stderr)
	}
}

// TestClientReplacesStaleSocket: a socket file left by a killed process
// answers nothing; the next verb takes the directory, replaces the file
// with its own socket and removes that on exit.
func TestClientReplacesStaleSocket(t *testing.T) {
	dir := t.TempDir()
	client(t, dir, exitOK, "apply", "-f", multiResource)
	sock := filepath.Join(dir, socketName)
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	ln.SetUnlinkOnClose(false)
	ln.Close() // as kill -9 leaves it: the file, and nobody listening
	if _, err := os.Stat(sock); err != nil {
		t.Fatal(err)
	}
	client(t, dir, exitOK, "get", "svc", "mock")
	if _, err := os.Stat(sock); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("the stale socket is still there: %v", err)
	}
}

// TestClientLongDataDirCannotBeShared: a data directory whose path leaves
// no room for a unix socket is served to no other command; the holder says
// so plainly, and another verb fails at once saying why (issue 10: the
// holder said the others "wait for this one", and they failed after ~10 s
// with "database in use").
func TestClientLongDataDirCannotBeShared(t *testing.T) {
	dir := filepath.Join(t.TempDir(), strings.Repeat("d", socketPathBytesMax))
	holder := runInProcess(t, "watch", "cm", "--data", dir)
	holder.want("BOOKMARK rev 0")
	for _, want := range []string{"other revoada commands cannot use " + dir + " while this one runs",
		fmt.Sprintf("more than a unix socket address holds (%d)", socketPathBytesMax), "shorter path"} {
		if !strings.Contains(holder.stderr.String(), want) {
			t.Errorf("the holder's stderr %q lacks %q", holder.stderr, want)
		}
	}
	o := client(t, dir, exitFailed, "get", "cm", "x")
	for _, want := range []string{dir + " is in use by another revoada process, which cannot share it",
		fmt.Sprintf("more than a unix socket address holds (%d)", socketPathBytesMax)} {
		if !strings.Contains(o.stderr, want) {
			t.Errorf("the other verb's stderr %q lacks %q", o.stderr, want)
		}
	}
	if strings.Contains(holder.stderr.String(), "wait") {
		t.Errorf("the holder's stderr %q says the others wait", holder.stderr)
	}
}

package disk_test

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"revoada.dev/revoada/core/store"
	"revoada.dev/revoada/real/disk"
)

// killChildEnv switches the test binary into the writer of TestKillLosesNoAck:
// its value is the database path.
const killChildEnv = "REVOADA_DISK_KILL_CHILD"

// Kill test sizes: the parent kills the child after killAfterAcks
// acknowledged writes; the child would stop after killWritesMax.
const (
	killAfterAcks = 300
	killWritesMax = 100000
	killKeys      = 16
)

// TestKillChild is the child process of TestKillLosesNoAck; it does nothing
// in a normal run.
func TestKillChild(t *testing.T) {
	path := os.Getenv(killChildEnv)
	if path == "" {
		t.Skip("the child process of TestKillLosesNoAck")
	}
	b, err := disk.OpenBackend(path)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(3)
	}
	for i := range killWritesMax {
		r, err := b.Apply(t.Context(), killWrite(i), store.Expect{})
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(3)
		}
		// Printed only once Apply returned: the write is acknowledged.
		fmt.Fprintf(os.Stdout, "ack %d %d\n", i, r.ModRevision)
	}
	os.Exit(4) // never killed: the parent fails
}

func killWrite(i int) store.Resource {
	return configMap("kill", fmt.Sprint("k", i%killKeys), fmt.Sprintf(`{"i":%d}`, i))
}

// TestKillLosesNoAck runs a child that writes and prints each acknowledged
// revision, kills it with SIGKILL in mid-stream, reopens the file and
// expects every acknowledged write at its revision with its content.
func TestKillLosesNoAck(t *testing.T) {
	path := filepath.Join(t.TempDir(), "store.db")
	cmd := exec.Command(os.Args[0], "-test.run=^TestKillChild$")
	cmd.Env = append(os.Environ(), killChildEnv+"="+path)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	acks := readAcks(t, bufio.NewScanner(out), cmd.Process)
	if err := cmd.Wait(); !killed(err) {
		t.Fatalf("child ended with %v, want SIGKILL", err)
	}
	if len(acks) < killAfterAcks {
		t.Fatalf("%d acknowledged writes before the kill, want at least %d", len(acks), killAfterAcks)
	}
	checkAcks(t, openBackend(t, path), acks)
}

// readAcks reads the child's acknowledgements, kills it after
// killAfterAcks of them, and keeps reading until its stdout closes: every
// line it printed before dying was acknowledged.
func readAcks(t *testing.T, sc *bufio.Scanner, p *os.Process) map[store.Revision]int {
	acks := map[store.Revision]int{}
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 3 || f[0] != "ack" {
			continue // the test framework's own output
		}
		i, err1 := strconv.Atoi(f[1])
		rev, err2 := strconv.ParseUint(f[2], 10, 64)
		if err1 != nil || err2 != nil {
			t.Fatalf("bad line from the child: %q", sc.Text())
		}
		acks[store.Revision(rev)] = i
		if len(acks) == killAfterAcks {
			if err := p.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
		}
	}
	return acks
}

func killed(err error) bool {
	ee, ok := err.(*exec.ExitError)
	if !ok {
		return false
	}
	ws, ok := ee.Sys().(syscall.WaitStatus)
	return ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL
}

// checkAcks expects every acknowledged write in the reopened store's
// history with its content, and the store no older than the last ack.
func checkAcks(t *testing.T, b *disk.Backend, acks map[store.Revision]int) {
	t.Helper()
	snap, err := b.Snapshot(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Restore(snap)
	if err != nil {
		t.Fatal(err)
	}
	evs, err := st.Events(1, "")
	if err != nil {
		t.Fatal(err)
	}
	byRev := map[store.Revision]store.Event{}
	for _, ev := range evs {
		byRev[ev.Revision] = ev
	}
	for rev, i := range acks {
		want := killWrite(i)
		ev, ok := byRev[rev]
		if !ok || ev.Resource.Ref != want.Ref || string(ev.Resource.Payload) != string(want.Payload) {
			t.Fatalf("acknowledged write %d at revision %d: the reopened store holds %+v", i, rev, ev)
		}
	}
	t.Logf("%d acknowledged writes survived SIGKILL; the store is at revision %d", len(acks), st.Revision())
}

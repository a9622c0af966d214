package main

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"revoada.dev/revoada/core/attest"
	"revoada.dev/revoada/core/roles"
)

// TestChainOverMesh: a voter leaves a three-node mesh; every node's
// attested role history then holds the Leave as a block signed by the
// leader, co-signed by a majority of the voters at its index, and
// 'revoada chain' verifies and shows it from a node's directory, from its
// HTTPS API with a read-only token, and from a file; a tampered file names
// its bad block.
func TestChainOverMesh(t *testing.T) {
	if testing.Short() {
		t.Skip("real time and real sockets")
	}
	access := writeFile(t, "access.json", `{"tokens": {"viewer-token-0123456789": "viewer"}, "roles": {"viewer": "read-only"}}`)
	viewer := writeFile(t, "viewer.tok", "viewer-token-0123456789\n")
	apiAddr := freeAddr(t)
	dirs, ids, _, nodes := loopbackMesh(t, 3, func(i int) []string {
		if i == 0 {
			return []string{"--api", apiAddr, "--api-access", access}
		}
		return nil
	})
	wantLines(t, client(t, dirs[2], exitOK, "mesh", "leave").stdout, "left the mesh; the node stops")
	<-nodes[2].code
	nodes[2].code <- exitOK
	// The Leave is a block (the leader may hand its leadership over and
	// the shift may take more than one block); witnesses come through the
	// log after each block: wait until the chain holds the Leave and every
	// block is attested.
	leave := "leave " + ids[2][:12] + " (operator)"
	var o outcome
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(50 * time.Millisecond) {
		o = revoada(t, nil, "chain", "verify", "--attested", "--data", dirs[1])
		if o.code == exitOK && strings.Contains(client(t, dirs[1], exitOK, "chain", "show").stdout, leave) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the Leave is not an attested block after a minute: %+v", o)
		}
	}
	if !strings.Contains(o.stdout, "the chain verifies: ") || !strings.Contains(o.stdout, " 0 pending") {
		t.Fatalf("chain verify --attested: %s", o.stdout)
	}

	file := filepath.Join(t.TempDir(), "chain.bin")
	show := client(t, dirs[1], exitOK, "chain", "show", "--out", file)
	if !strings.Contains(show.stdout, leave) || !strings.Contains(show.stdout, "genesis: ") {
		t.Fatalf("chain show: %s", show.stdout)
	}
	if o := revoada(t, nil, "chain", "verify", file); o.code != exitOK || !strings.Contains(o.stdout, "the chain verifies: ") {
		t.Fatalf("chain verify FILE: %+v", o)
	}
	ca := filepath.Join(dirs[0], apiCertFile)
	if o := revoada(t, nil, "chain", "show", "--json", "--server", "https://"+apiAddr, "--ca", ca, "--token-file", viewer); o.code != exitOK || !strings.Contains(o.stdout, `"change":["leave `) {
		t.Fatalf("chain show over the API: %+v", o)
	}

	// Tampered: the Leave made a Demote, its signature kept.
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	blocks, err := attest.DecodeChain(data)
	if err != nil {
		t.Fatal(err)
	}
	blocks[1].Proposal.Shift[0].Reason++
	tampered := writeFile(t, "tampered.bin", string(attest.AppendChain(nil, blocks)))
	if o := revoada(t, nil, "chain", "verify", tampered); o.code != exitFailed || !strings.Contains(o.stderr, "block 1 ") || !strings.Contains(o.stderr, "bad leader signature") {
		t.Fatalf("a tampered chain: %+v", o)
	}
	if o := revoada(t, nil, "chain", "verify", writeFile(t, "junk.bin", "not a chain")); o.code != exitUsage || !strings.Contains(o.stderr, "unknown version") {
		t.Fatalf("a file that is no chain: %+v", o)
	}
	if o := revoada(t, nil, "chain", "verify", file, "--data", dirs[0]); o.code != exitUsage {
		t.Fatalf("a file and a node: %+v", o)
	}
	for i, n := range nodes[:2] {
		if code := n.stop(); code != exitOK {
			t.Fatalf("node %d exited %d: %s", i+1, code, n.stderr)
		}
	}
}

// TestChainFileRefusals: a chain FILE that is a directory, truncated, or
// claims more blocks than it holds is refused as input, naming the file,
// and nothing is allocated for the claim.
func TestChainFileRefusals(t *testing.T) {
	var id roles.NodeID
	id[0] = 1
	shape, err := roles.NewShape([]roles.Member{{Node: id, Roles: roles.ControlPlane}})
	if err != nil {
		t.Fatal(err)
	}
	chain := attest.AppendChain(nil, attest.NewChain(shape, 1, 1, nil).Blocks())
	claim := binary.BigEndian.AppendUint32([]byte{1}, 1<<16)
	claim = append(claim, make([]byte, 4<<16)...)
	for _, c := range []struct {
		name, path, want string
	}{
		{"a directory", t.TempDir(), "is a directory"},
		{"no such file", filepath.Join(t.TempDir(), "none"), "no such file"},
		{"truncated", writeFile(t, "cut.bin", string(chain[:len(chain)-1])), "corrupt encoding"},
		{"empty", writeFile(t, "empty.bin", ""), "corrupt encoding: empty"},
		{"65,536 blocks claimed in 256 KiB", writeFile(t, "claim.bin", string(claim)), "65536 blocks in"},
	} {
		o := revoada(t, nil, "chain", "verify", c.path)
		if o.code != exitUsage || !strings.Contains(o.stderr, c.want) || !strings.Contains(o.stderr, "revoada chain:") {
			t.Errorf("%s: %+v, want exit %d naming %q", c.name, o, exitUsage, c.want)
		}
	}
	if o := revoada(t, nil, "chain", "verify", writeFile(t, "ok.bin", string(chain))); o.code != exitOK {
		t.Fatalf("the chain itself: %+v", o)
	}
}

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
	// block is attested. After the Leave the policy may demote one of the
	// two voters left, which then applies the log no more: its history
	// stops where its log did, short of the witnesses to come (1 run in 20
	// read such a node for a minute). The voter's is read.
	leave := "leave " + ids[2][:12] + " (operator)"
	var o outcome
	member := ""
	for deadline := time.Now().Add(45 * time.Second); member == ""; time.Sleep(50 * time.Millisecond) {
		for _, dir := range dirs[:2] {
			o = revoada(t, nil, "chain", "verify", "--attested", "--data", dir)
			if o.code == exitOK && strings.Contains(client(t, dir, exitOK, "chain", "show").stdout, leave) {
				member = dir
				break
			}
		}
		if member == "" && time.Now().After(deadline) {
			t.Fatalf("the Leave is not an attested block on either node after 45 s: %+v", o)
		}
	}
	if !strings.Contains(o.stdout, "the chain verifies: ") || !strings.Contains(o.stdout, " 0 pending") {
		t.Fatalf("chain verify --attested: %s", o.stdout)
	}

	file := filepath.Join(t.TempDir(), "chain.bin")
	show := client(t, member, exitOK, "chain", "show", "--out", file)
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

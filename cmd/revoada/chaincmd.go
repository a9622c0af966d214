package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"revoada.dev/revoada/core/attest"
	"revoada.dev/revoada/core/roles"
)

const chainSynopsis = "chain verify|show [FILE] [--data DIR | --server URL ...] [--attested] [--json] [--out FILE]"

const chainAbout = `Check or show the attested role history: every role change the mesh
committed is a block of a BLAKE3 hash chain, signed by the leader that
proposed it (its term and its own clock's time inside), and co-signed by
voters; every replica holds the same chain.

'chain verify' checks a chain from its genesis block (the shape the mesh
bootstrapped with): every link, leader signature, term, leader and witness
a voter at its index, witness signature and role change. It names the
first bad block and why, and exits 1; a chain that holds together exits 0,
with its blocks below the witness threshold listed as pending (with
--attested they fail it). 'chain show' prints each block: who held which
role when, and who signed it.

The chain is read from FILE (attest's encoding: 'chain show --out FILE'
writes one), from the node serving --data DIR, or from a node's HTTPS API
(--server, read-only role).`

// chainFlags defines chain's flags and returns the function that runs it.
func chainFlags(e *env) (*flag.FlagSet, func() int) {
	fs := newFlagSet(e, "chain")
	data, srv := dataFlag(fs), serverFlags(fs)
	attested := fs.Bool("attested", false, "verify: fail unless every block has its witness threshold (a raft majority of the voters at its index)")
	asJSON := fs.Bool("json", false, "show: print the blocks as one JSON array")
	out := fs.String("out", "", "show: also write the chain, in attest's encoding, to `FILE`")
	return fs, func() int {
		cmd := command{name: "chain", synopsis: chainSynopsis, about: chainAbout}
		pos, code := positionals(e, cmd, fs)
		if code >= 0 {
			return code
		}
		if len(pos) < 1 || len(pos) > 2 || pos[0] != "verify" && pos[0] != "show" {
			return usageError(e, "chain", "want 'chain verify [FILE]' or 'chain show [FILE]'")
		}
		set := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
		if len(pos) == 2 && (set["data"] || set["server"]) {
			return usageError(e, "chain", "a FILE and a node (--data or --server) both named: read one")
		}
		run := func(blocks []attest.Block) int {
			if pos[0] == "verify" {
				return verifyChain(e, blocks, *attested)
			}
			return showChain(e, blocks, *asJSON, *out)
		}
		if len(pos) == 2 {
			blocks, err := readChainFile(pos[1])
			if err != nil {
				return clientError(e, "chain", err)
			}
			return run(blocks)
		}
		return withTarget(e, "chain", *data, srv, func(ctx context.Context, n nodeClient) int {
			blocks, err := n.Chain(ctx)
			if err != nil {
				return clientError(e, "chain", err)
			}
			if st, err := n.MeshStatus(ctx); err == nil && !holdsEtcd(st) {
				fmt.Fprintf(e.stderr, "revoada chain: note: node %s is no voter: it applies the log no more, so its history stops where its log did (applied index %d), without the blocks and witnesses since; a voter's is current\n",
					shortID(st.ID), st.Applied)
			}
			return run(blocks)
		})
	}
}

// chainFileBytesMax bounds a chain file read: a million blocks of a few
// hundred bytes.
const chainFileBytesMax = 1 << 30

// readChainFile reads and decodes a chain file.
func readChainFile(path string) ([]attest.Block, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errInput, err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, chainFileBytesMax+1))
	switch {
	case err != nil:
		return nil, fmt.Errorf("%w: %s: %v", errInput, path, err)
	case len(b) > chainFileBytesMax:
		return nil, fmt.Errorf("%w: %s: more than %d bytes", errInput, path, chainFileBytesMax)
	}
	blocks, err := attest.DecodeChain(b)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", errInput, path, err)
	}
	return blocks, nil
}

// verifyChain checks blocks and says what it found.
func verifyChain(e *env, blocks []attest.Block, attested bool) int {
	r, err := attest.Verify(blocks, nil)
	if err != nil {
		fmt.Fprintf(e.stderr, "revoada chain: the chain does not verify: %v\n", err)
		return exitFailed
	}
	fmt.Fprintf(e.stdout, "the chain verifies: %d blocks, head %s; %d attested, %d pending%s\n",
		r.Blocks, r.Head.Short(), r.Attested, len(r.Pending), pendingList(r.Pending))
	if attested && len(r.Pending) > 0 {
		fmt.Fprintf(e.stderr, "revoada chain: %d blocks lack their witness threshold\n", len(r.Pending))
		return exitFailed
	}
	return exitOK
}

func pendingList(seqs []uint64) string {
	if len(seqs) == 0 {
		return ""
	}
	var s []string
	for _, q := range seqs[:min(len(seqs), 10)] {
		s = append(s, fmt.Sprint(q))
	}
	if len(seqs) > 10 {
		s = append(s, "...")
	}
	return " (blocks " + strings.Join(s, ", ") + ")"
}

// chainBlock is one block as 'chain show --json' prints it.
type chainBlock struct {
	Seq       uint64   `json:"seq"`
	Index     uint64   `json:"index"`
	Term      uint64   `json:"term"`
	Hash      string   `json:"hash"`
	Time      string   `json:"time,omitempty"`
	Leader    string   `json:"leader,omitempty"`
	Change    []string `json:"change"`
	Voters    []string `json:"voters"` // who may witness it: the voters at its index
	Witnesses []string `json:"witnesses"`
}

// shapeChange is a shape as the genesis block's change: each node and its
// roles.
func shapeChange(s roles.Shape) []string {
	var out []string
	for _, m := range s.Members() {
		out = append(out, fmt.Sprintf("%s %s", m.Node.Short(), m.Roles))
	}
	return out
}

// showChain prints each block, then whether the chain verifies.
func showChain(e *env, blocks []attest.Block, asJSON bool, out string) int {
	if out != "" {
		if err := writeFileAtomic(out, attest.AppendChain(nil, blocks)); err != nil {
			return clientError(e, "chain", err)
		}
	}
	var rows []chainBlock
	for _, b := range blocks {
		h := attest.BlockHash(b)
		row := chainBlock{Seq: b.Seq, Index: b.Index, Term: b.Term, Hash: h.String(), Voters: []string{}, Witnesses: []string{}}
		switch {
		case b.Seq == 0:
			row.Change = shapeChange(b.Genesis)
		default:
			row.Time = time.Unix(0, b.Proposal.Time).UTC().Format(time.RFC3339Nano)
			row.Leader = b.Proposal.Leader.String()
			for _, c := range b.Proposal.Shift {
				row.Change = append(row.Change, c.String())
			}
		}
		for _, w := range b.Witnesses {
			row.Witnesses = append(row.Witnesses, w.Signer.String())
		}
		rows = append(rows, row)
	}
	if c, err := attest.Rebuild(blocks, nil); err == nil {
		for i := range rows {
			for _, v := range c.Voters(uint64(i)) {
				rows[i].Voters = append(rows[i].Voters, v.String())
			}
		}
	}
	if asJSON {
		b, _ := json.Marshal(rows)
		fmt.Fprintf(e.stdout, "%s\n", b)
	} else {
		tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "SEQ\tINDEX\tTERM\tTIME\tLEADER\tCHANGE\tWITNESSES")
		for _, r := range rows {
			when, leader := "-", "-"
			if r.Time != "" {
				when, leader = r.Time, shortID(r.Leader)
			}
			change := strings.Join(r.Change, "; ")
			if r.Seq == 0 {
				change = "genesis: " + change
			}
			fmt.Fprintf(tw, "%d\t%d\t%d\t%s\t%s\t%s\t%d of %d voters\n", r.Seq, r.Index, r.Term, when, leader, change, len(r.Witnesses), len(r.Voters))
		}
		tw.Flush()
	}
	if _, err := attest.Verify(blocks, nil); err != nil {
		fmt.Fprintf(e.stderr, "revoada chain: the chain does not verify: %v\n", err)
		return exitFailed
	}
	return exitOK
}

// shortID is a node ID's display form.
func shortID(id string) string {
	n, err := roles.ParseNodeID(id)
	if err != nil {
		return id
	}
	return n.Short()
}

// holdsEtcd reports whether the node a status is from holds etcd in its
// own view of the shape (a voter), or cannot tell.
func holdsEtcd(st meshStatus) bool {
	for _, n := range st.Nodes {
		if n.ID == st.ID {
			return strings.Contains(n.Roles, "etcd")
		}
	}
	return true
}

package attest_test

import (
	"fmt"
	"testing"

	"revoada.dev/revoada/core/attest"
	"revoada.dev/revoada/core/roles"
)

// longHistory is a chain of blocks blocks: five voters and a worker, the
// worker promoted and demoted in turn, each change proposed by the first
// voter and co-signed by witnesses of its voters.
func longHistory(b *testing.B, blocks, witnesses int) []attest.Block {
	keys := voterKeys(6)
	var members []roles.Member
	for i, k := range keys {
		held := roles.ControlPlane
		if i == 5 {
			held = roles.Worker
		}
		members = append(members, roles.Member{Node: nodeID(k), Roles: held})
	}
	shape, err := roles.NewShape(members)
	if err != nil {
		b.Fatal(err)
	}
	c := attest.NewChain(shape, 1, 1, nil)
	worker := nodeID(keys[5])
	for seq := 1; seq < blocks; seq++ {
		kind := roles.Promote
		if seq%2 == 0 {
			kind = roles.Demote
		}
		sh := roles.Shift{{Kind: kind, Node: worker, Reason: roles.Operator}}
		if _, err := c.Append(uint64(seq+1), 1, proposal(keys[0], 1, int64(seq), sh)); err != nil {
			b.Fatal(err)
		}
		_, h, _ := c.Block(uint64(seq))
		for _, k := range keys[:witnesses] {
			if _, err := c.AddWitness(uint64(seq), attest.NewWitness(k, h)); err != nil {
				b.Fatal(err)
			}
		}
	}
	return c.Blocks()
}

// BenchmarkChain measures Verify (every signature) and Rebuild (none) of a
// 10,000-block chain, and its encoding's bytes per block, and appending
// its encoding from copies of its blocks and from its cache, by witnesses
// a block: go test ./core/attest -run '^$' -bench BenchmarkChain -benchtime 3x
func BenchmarkChain(b *testing.B) {
	const blocks = 10_000
	for _, w := range []int{3, 5} {
		chain := longHistory(b, blocks, w)
		perBlock := float64(len(attest.AppendChain(nil, chain))) / blocks
		b.Run(fmt.Sprintf("Verify/witnesses=%d", w), func(b *testing.B) {
			for b.Loop() {
				if _, err := attest.Verify(chain, nil); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(perBlock, "bytes/block")
		})
		b.Run(fmt.Sprintf("Rebuild/witnesses=%d", w), func(b *testing.B) {
			for b.Loop() {
				if _, err := attest.Rebuild(chain, nil); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(perBlock, "bytes/block")
		})
		// What a snapshot of a machine holding the chain appends: the
		// blocks copied and encoded, or the chain's cached encoding.
		c, err := attest.Rebuild(chain, nil)
		if err != nil {
			b.Fatal(err)
		}
		buf := c.AppendTo(nil)
		b.Run(fmt.Sprintf("AppendChainOfBlocks/witnesses=%d", w), func(b *testing.B) {
			for b.Loop() {
				buf = attest.AppendChain(buf[:0], c.Blocks())
			}
		})
		b.Run(fmt.Sprintf("AppendTo/witnesses=%d", w), func(b *testing.B) {
			for b.Loop() {
				buf = c.AppendTo(buf[:0])
			}
		})
	}
}

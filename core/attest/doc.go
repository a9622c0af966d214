// Package attest is the attested role history (layer D of the design): every
// committed role change is a block of a BLAKE3 hash chain, signed by the
// leader that proposed it and co-signed by the voters as they apply it.
//
// A block holds its height (Seq), the raft index and term it committed at,
// the previous block's hash, and the leader's Proposal: the shift, the
// leader's term, and the leader's own timestamp, carried inside the
// proposal so that no replica reads a clock to make the block, with the
// leader's ed25519 signature made when proposing. Its hash covers all of
// that and leaves out the Witnesses, the voters' co-signatures over the
// hash; a block is attested once a threshold of the voters at its index
// (a raft majority by default) co-signed it. The first block (Seq 0) is the
// genesis block: the shape the mesh bootstrapped with. (A replica whose log
// holds a role change no leader signed — one written before leaders signed —
// starts its history over from the shape that change left, a new genesis
// block at index 0: core/node's Machine.attest.)
//
// The encoding is canonical and versioned, written by hand (no map order,
// no reflection): see block.go. Verify checks a chain from its genesis
// block and names the first bad block and why: a gap, a broken link, a bad
// leader signature, a term out of order, a leader or witness that was not
// a voter at that index, a bad witness signature, or a shift the shape
// refuses. Blocks below the witness threshold are reported, not refused:
// their witnesses may be on their way.
//
// Chain holds a chain in memory and checks each block as it is appended
// and each witness as it is added, so that a replica that builds its
// chain from the log holds only blocks Verify accepts.
package attest

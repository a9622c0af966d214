package attest

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	"revoada.dev/revoada/core/roles"
)

// Why a block is refused: each BlockError wraps exactly one.
var (
	ErrNoGenesis          = errors.New("attest: the chain does not start with a genesis block")
	ErrGap                = errors.New("attest: a gap")
	ErrBrokenLink         = errors.New("attest: broken link")
	ErrBadLeaderSignature = errors.New("attest: bad leader signature")
	ErrTerm               = errors.New("attest: term out of order")
	ErrNotVoter           = errors.New("attest: signer not a voter")
	ErrBadShift           = errors.New("attest: a shift the shape refuses")
	ErrBadWitness         = errors.New("attest: bad witness signature")
	ErrTooManyWitnesses   = errors.New("attest: too many witnesses")
)

// BlockError names the first bad block of a chain and why.
type BlockError struct {
	Seq    uint64
	Index  uint64
	Reason error // one of the Err values above
	Detail string
}

func (e *BlockError) Error() string {
	return fmt.Sprintf("block %d (raft index %d): %v: %s", e.Seq, e.Index, e.Reason, e.Detail)
}

func (e *BlockError) Unwrap() error { return e.Reason }

// Threshold is how many voters' witnesses make a block attested, of the
// voters at its index.
type Threshold func(voters int) int

// Majority is the default threshold: a raft majority.
func Majority(voters int) int { return voters/2 + 1 }

// Chain is the attested role history: blocks in order, each checked as it
// is added, with the shape after each (whose voters may witness it).
//
// A voter of a block is a voter of the shape as of its index, the shape
// the block leaves: a promoted node witnesses its promotion, a demoted
// one does not witness its demotion. The leader that proposed a change
// must have been a voter of the shape before it.
type Chain struct {
	blocks    []Block
	hashes    []Hash
	voters    [][]roles.NodeID // per block, sorted
	shape     roles.Shape      // after the last block
	threshold Threshold
	verified  *Verified // see Remember

	// enc caches the blocks part of the chain's encoding, (len:u32
	// block)* of blocks[:len(encAt)]; encAt[seq] is where block seq starts
	// in it. A witness added to a block cuts it back to before that block;
	// AppendTo extends it to the last block. Blocks never change but for
	// their witnesses, so the prefix it holds is always current.
	enc   []byte
	encAt []int
}

// NewChain starts a chain with the genesis block: the shape the mesh
// bootstrapped with, at raft index and term. threshold nil is Majority.
func NewChain(genesis roles.Shape, index, term uint64, threshold Threshold) *Chain {
	c := &Chain{threshold: threshold}
	if c.threshold == nil {
		c.threshold = Majority
	}
	c.push(Block{Index: index, Term: term, Genesis: genesis.Clone()}, genesis.Clone())
	return c
}

func (c *Chain) push(b Block, after roles.Shape) {
	voters := after.Voters()
	slices.SortFunc(voters, roles.NodeID.Compare)
	c.blocks = append(c.blocks, b)
	c.hashes = append(c.hashes, BlockHash(b))
	c.voters = append(c.voters, voters)
	c.shape = after
}

// Len is the number of blocks, the genesis block included.
func (c *Chain) Len() int { return len(c.blocks) }

// Head is the last block's hash.
func (c *Chain) Head() Hash { return c.hashes[len(c.hashes)-1] }

// Shape is the shape after the last block.
func (c *Chain) Shape() roles.Shape { return c.shape.Clone() }

// Block is the block at height seq, with its hash.
func (c *Chain) Block(seq uint64) (Block, Hash, bool) {
	if seq >= uint64(len(c.blocks)) {
		return Block{}, Hash{}, false
	}
	b := c.blocks[seq]
	b.Witnesses = slices.Clone(b.Witnesses)
	return b, c.hashes[seq], true
}

// AppendTo appends the chain's encoding to out: the bytes of
// AppendChain(out, c.Blocks()), without copying the blocks. It encodes
// only the blocks appended since the last call, and those from the first
// block witnessed since; it keeps their bytes for the next call, so unlike
// the chain's other reads it writes the chain (one goroutine at a time).
func (c *Chain) AppendTo(out []byte) []byte {
	for seq := len(c.encAt); seq < len(c.blocks); seq++ {
		c.encAt = append(c.encAt, len(c.enc))
		c.enc = appendFramed(c.enc, c.blocks[seq])
	}
	out = append(out, chainVersion)
	out = binary.BigEndian.AppendUint32(out, uint32(len(c.blocks)))
	return append(out, c.enc...)
}

// Blocks returns every block (copies of the witness lists).
func (c *Chain) Blocks() []Block {
	out := slices.Clone(c.blocks)
	for i := range out {
		out[i].Witnesses = slices.Clone(out[i].Witnesses)
	}
	return out
}

// Attested reports whether the block at seq has its threshold of witnesses.
func (c *Chain) Attested(seq uint64) bool {
	return seq < uint64(len(c.blocks)) && len(c.blocks[seq].Witnesses) >= c.threshold(len(c.voters[seq]))
}

// Witnessed reports whether id co-signed the block at seq.
func (c *Chain) Witnessed(seq uint64, id roles.NodeID) bool {
	if seq >= uint64(len(c.blocks)) {
		return false
	}
	_, found := slices.BinarySearchFunc(c.blocks[seq].Witnesses, id, func(x Witness, id roles.NodeID) int { return x.Signer.Compare(id) })
	return found
}

// IsVoter reports whether id may witness the block at seq: Voters
// without the copy.
func (c *Chain) IsVoter(seq uint64, id roles.NodeID) bool {
	if seq >= uint64(len(c.voters)) {
		return false
	}
	_, found := slices.BinarySearchFunc(c.voters[seq], id, roles.NodeID.Compare)
	return found
}

// Hash is the hash of the block at seq; the zero Hash past the head.
func (c *Chain) Hash(seq uint64) Hash {
	if seq >= uint64(len(c.hashes)) {
		return Hash{}
	}
	return c.hashes[seq]
}

// Voters are the voters that may witness the block at seq.
func (c *Chain) Voters(seq uint64) []roles.NodeID {
	if seq >= uint64(len(c.voters)) {
		return nil
	}
	return slices.Clone(c.voters[seq])
}

// Append adds the role change p, committed at raft index and term, as the
// next block, after checking it: the proposal's signature and term, its
// leader a voter, the shift one the shape takes and that changes it.
func (c *Chain) Append(index, term uint64, p Proposal) (Block, error) {
	last := c.blocks[len(c.blocks)-1]
	b := Block{Seq: last.Seq + 1, Index: index, Term: term, Prev: c.Head(), Proposal: p}
	next, err := c.check(b, true)
	if err != nil {
		return Block{}, err
	}
	c.push(b, next)
	return b, nil
}

// check verifies b as the next block, without its witnesses, and returns
// the shape after it; sigs false skips the leader's signature.
func (c *Chain) check(b Block, sigs bool) (roles.Shape, error) {
	return checkNext(c.blocks[len(c.blocks)-1], c.Head(), c.shape, b, sigs, c.verified)
}

// checkNext verifies b as the block after last (hashed head, leaving
// shape), without its witnesses, and returns the shape after b; sigs false
// skips the leader's signature, v remembers it (see Verified).
func checkNext(last Block, head Hash, shape roles.Shape, b Block, sigs bool, v *Verified) (roles.Shape, error) {
	fail := func(reason error, format string, args ...any) (roles.Shape, error) {
		return roles.Shape{}, &BlockError{Seq: b.Seq, Index: b.Index, Reason: reason, Detail: fmt.Sprintf(format, args...)}
	}
	p := b.Proposal
	switch {
	case b.Seq != last.Seq+1:
		return fail(ErrGap, "follows block %d", last.Seq)
	case b.Prev != head:
		return fail(ErrBrokenLink, "prev %s, block %d hashes to %s", b.Prev.Short(), last.Seq, head.Short())
	case b.Index <= last.Index:
		return fail(ErrGap, "raft index %d is not after block %d's %d", b.Index, last.Seq, last.Index)
	case b.Term < last.Term || p.Term != b.Term:
		return fail(ErrTerm, "entry term %d, proposed in term %d, after block %d's term %d", b.Term, p.Term, last.Seq, last.Term)
	case len(p.Shift) > roles.ShiftCommandsMax:
		// The shift's encoding would not decode: the chain would not restore.
		return fail(ErrBadShift, "a shift of %d commands, at most %d", len(p.Shift), roles.ShiftCommandsMax)
	case sigs && !v.proposal(&p):
		return fail(ErrBadLeaderSignature, "leader %s", p.Leader.Short())
	}
	if held, ok := shape.Roles(p.Leader); !ok || !held.Has(roles.Etcd) {
		return fail(ErrNotVoter, "leader %s was not a voter", p.Leader.Short())
	}
	next := shape.Clone()
	changed, rej := next.Apply(p.Shift)
	switch {
	case rej != nil:
		return fail(ErrBadShift, "%v", rej)
	case !changed:
		return fail(ErrBadShift, "the shift %v changes nothing", p.Shift)
	}
	return next, nil
}

// ErrNotAttested: a block Follows needs attested has fewer witnesses than
// its threshold.
var ErrNotAttested = errors.New("attest: not attested")

// Follows checks that blocks carry c on past its head, for a node that
// holds c and is told of a newer shape by a node it does not know: the
// blocks at or before c's head are passed over; from the one after it,
// each must be a valid next block, its leader's signature checked, and
// attested: threshold (nil: Majority) of the voters at its index co-signed
// it, each signature checked. Trust so leads back to c's own last shape,
// whose voters signed what came next, and so on. It returns the last block
// and the shape it leaves. Errors: a *BlockError (ErrGap when the blocks
// do not reach back to c's head, ErrNotAttested, or any of Verify's).
func Follows(c *Chain, blocks []Block, threshold Threshold) (Block, roles.Shape, error) {
	if threshold == nil {
		threshold = Majority
	}
	last, head, shape := c.blocks[len(c.blocks)-1], c.Head(), c.shape.Clone()
	i := slices.IndexFunc(blocks, func(b Block) bool { return b.Seq == last.Seq+1 })
	if i < 0 {
		return Block{}, roles.Shape{}, &BlockError{Seq: last.Seq + 1, Reason: ErrGap, Detail: fmt.Sprintf("no block follows block %d", last.Seq)}
	}
	for _, b := range blocks[i:] {
		next, err := checkNext(last, head, shape, b, true, c.verified)
		if err != nil {
			return Block{}, roles.Shape{}, err
		}
		h := BlockHash(b)
		voters, signed := next.Voters(), 0
		for j, w := range b.Witnesses {
			if slices.Contains(voters, w.Signer) && (j == 0 || b.Witnesses[j-1].Signer != w.Signer) && c.verified.witness(&w, h) {
				signed++
			}
		}
		if want := threshold(len(voters)); signed < want {
			return Block{}, roles.Shape{}, &BlockError{Seq: b.Seq, Index: b.Index, Reason: ErrNotAttested,
				Detail: fmt.Sprintf("%d of %d voters co-signed it, %d needed", signed, len(voters), want)}
		}
		last, head, shape = b, h, next
	}
	return last, shape, nil
}

// AddWitness adds a voter's co-signature to the block at seq. It reports
// whether the witness was new; an unknown block, a signer that was not a
// voter at its index, a bad signature or one past WitnessesMax is an error
// (the chain unchanged).
func (c *Chain) AddWitness(seq uint64, w Witness) (bool, error) {
	return c.addWitness(seq, w, true)
}

func (c *Chain) addWitness(seq uint64, w Witness, sigs bool) (bool, error) {
	if seq >= uint64(len(c.blocks)) {
		return false, &BlockError{Seq: seq, Reason: ErrGap, Detail: fmt.Sprintf("a witness for block %d of a chain of %d", seq, len(c.blocks))}
	}
	b := &c.blocks[seq]
	fail := func(reason error, format string, args ...any) (bool, error) {
		return false, &BlockError{Seq: seq, Index: b.Index, Reason: reason, Detail: fmt.Sprintf(format, args...)}
	}
	if _, ok := slices.BinarySearchFunc(c.voters[seq], w.Signer, roles.NodeID.Compare); !ok {
		return fail(ErrNotVoter, "witness %s was not a voter at raft index %d", w.Signer.Short(), b.Index)
	}
	if sigs && !c.verified.witness(&w, c.hashes[seq]) {
		return fail(ErrBadWitness, "witness %s", w.Signer.Short())
	}
	i, found := slices.BinarySearchFunc(b.Witnesses, w.Signer, func(x Witness, id roles.NodeID) int { return x.Signer.Compare(id) })
	switch {
	case found:
		return false, nil
	case len(b.Witnesses) >= WitnessesMax:
		// One more would not encode (a u16 count): the chain would not restore.
		return fail(ErrTooManyWitnesses, "witness %s after %d", w.Signer.Short(), WitnessesMax)
	}
	b.Witnesses = slices.Insert(b.Witnesses, i, w)
	if seq < uint64(len(c.encAt)) {
		c.enc, c.encAt = c.enc[:c.encAt[seq]], c.encAt[:seq]
	}
	return true, nil
}

// Report is what Verify found of a chain that holds together.
type Report struct {
	Blocks   int      // the genesis block included
	Head     Hash     // the last block's hash
	Pending  []uint64 // blocks below the witness threshold (yet), by seq
	Attested int      // blocks at or above it
}

// Verify checks blocks as one chain, from its genesis block: every link,
// leader signature, term, leader and witness a voter at its index, witness
// signature, and shift, naming the first bad block and why. Blocks with
// fewer witnesses than threshold (nil: Majority) are not errors — their
// witnesses may be on their way — and are listed in Report.Pending.
func Verify(blocks []Block, threshold Threshold) (Report, error) {
	return (*Verified)(nil).Verify(blocks, threshold)
}

// Rebuild makes the chain of blocks a replica wrote itself (its snapshot):
// every check of Verify but the signatures, which were checked when the
// blocks were first added.
func Rebuild(blocks []Block, threshold Threshold) (*Chain, error) {
	return replay(blocks, threshold, false, nil)
}

// replay adds blocks one by one to a chain from their genesis block,
// checking their signatures if sigs (remembered in v).
func replay(blocks []Block, threshold Threshold, sigs bool, v *Verified) (*Chain, error) {
	if len(blocks) == 0 || blocks[0].Seq != 0 || blocks[0].Prev != (Hash{}) {
		return nil, &BlockError{Reason: ErrNoGenesis, Detail: "want a first block of seq 0 and no prev"}
	}
	if err := blocks[0].Genesis.Validate(); err != nil {
		return nil, &BlockError{Index: blocks[0].Index, Reason: ErrBadShift, Detail: fmt.Sprintf("genesis shape: %v", err)}
	}
	c := NewChain(blocks[0].Genesis, blocks[0].Index, blocks[0].Term, threshold)
	c.verified = v
	for i, b := range blocks {
		if i > 0 {
			next, err := c.check(b, sigs)
			if err != nil {
				return nil, err
			}
			c.push(Block{Seq: b.Seq, Index: b.Index, Term: b.Term, Prev: b.Prev, Proposal: b.Proposal}, next)
		}
		for _, w := range b.Witnesses {
			if _, err := c.addWitness(b.Seq, w, sigs); err != nil {
				return nil, err
			}
		}
	}
	return c, nil
}

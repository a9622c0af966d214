package attest

import (
	"crypto/ed25519"
	"encoding/binary"
	"errors"
	"fmt"

	"lukechampine.com/blake3"

	"revoada.dev/revoada/core/roles"
)

// Hash is a block's BLAKE3-256 hash.
type Hash [32]byte

func (h Hash) String() string { return fmt.Sprintf("%x", h[:]) }

// Short is the hash's 12-digit display form.
func (h Hash) Short() string { return fmt.Sprintf("%x", h[:6]) }

// Sig is an ed25519 signature.
type Sig [ed25519.SignatureSize]byte

// Block is one link of the chain: the genesis block (Seq 0) holding the
// shape the mesh bootstrapped with, or a committed role change.
type Block struct {
	Seq   uint64 // the block's height: 0 for the genesis block, then 1, 2, ...
	Index uint64 // the raft log index it committed at
	Term  uint64 // that entry's raft term
	Prev  Hash   // the previous block's hash; zero for the genesis block

	// Genesis is the bootstrap shape (the genesis block only).
	Genesis roles.Shape
	// Proposal is the role change and its leader's signature (every block
	// but the genesis block).
	Proposal Proposal

	// Witnesses are the co-signatures of voters over the block's hash,
	// in signer order. They are not part of the hash.
	Witnesses []Witness
}

// Proposal is what a leader signs when it proposes a role change: the
// shift, its term, and its own timestamp, which travels in the proposal
// so that no replica reads its clock to make the block.
type Proposal struct {
	Leader roles.NodeID
	Term   uint64
	Time   int64 // the leader's, in Unix nanoseconds
	Shift  roles.Shift
	Sig    Sig // the leader's over ProposalBytes
}

// Witness is a voter's co-signature over a block's hash.
type Witness struct {
	Signer roles.NodeID
	Sig    Sig // over WitnessBytes(the block's hash)
}

// Domain separation: each signed or hashed message starts with its own
// text, so that no signature of one kind verifies as another.
const (
	proposalDomain = "revoada attest proposal v1\x00"
	witnessDomain  = "revoada attest witness v1\x00"
	blockDomain    = "revoada attest block v1\x00"
)

// ProposalBytes are the bytes a leader signs for a proposal.
func ProposalBytes(p Proposal) []byte { return appendProposalBytes(nil, p) }

func appendProposalBytes(b []byte, p Proposal) []byte {
	b = append(append(b, proposalDomain...), p.Leader[:]...)
	b = binary.BigEndian.AppendUint64(b, p.Term)
	b = binary.BigEndian.AppendUint64(b, uint64(p.Time))
	return roles.AppendShift(b, p.Shift)
}

// Sign makes p's signature with the leader's key.
func (p *Proposal) Sign(key ed25519.PrivateKey) {
	copy(p.Sig[:], ed25519.Sign(key, ProposalBytes(*p)))
}

// Verify checks p's signature against its leader's key.
func (p Proposal) Verify() bool {
	return ed25519.Verify(p.Leader[:], ProposalBytes(p), p.Sig[:])
}

// WitnessBytes are the bytes a voter signs to witness the block hashed h.
func WitnessBytes(h Hash) []byte { return append([]byte(witnessDomain), h[:]...) }

// NewWitness is key's co-signature over the block hashed h.
func NewWitness(key ed25519.PrivateKey, h Hash) Witness {
	w := Witness{}
	copy(w.Signer[:], key.Public().(ed25519.PublicKey))
	copy(w.Sig[:], ed25519.Sign(key, WitnessBytes(h)))
	return w
}

// Verify checks w's signature over the block hashed h.
func (w Witness) Verify(h Hash) bool {
	return ed25519.Verify(w.Signer[:], WitnessBytes(h), w.Sig[:])
}

// Encoding. All integers are big-endian; the encoding is canonical (equal
// blocks encode to equal bytes, and bytes that decode re-encode to
// themselves):
//
//	block     := 1:u8 seq:u64 index:u64 term:u64 prev:[32]u8 body witnesses
//	body      := 0:u8 shape                                   // genesis (seq 0)
//	           | 1:u8 leader:[32]u8 term:u64 time:u64 shift sig:[64]u8
//	witnesses := count:u16 (signer:[32]u8 sig:[64]u8)*         // signers strictly increasing
//	chain     := 1:u8 count:u32 (len:u32 block)*
//
// shape and shift are roles' encodings. A block's hash is BLAKE3-256 over
// a domain text and its encoding without the witnesses.
const (
	blockVersion = 1
	chainVersion = 1
	bodyGenesis  = 0
	bodyChange   = 1
	witnessBytes = 32 + ed25519.SignatureSize
	// blockBytesMin is the shortest a block encodes to (a genesis block of
	// an empty shape, no witnesses; a real one is longer): DecodeChain
	// checks a block count against it before it allocates for the blocks.
	blockBytesMin = 1 + 8 + 8 + 8 + 32 + 1 + 5 + 2
	// WitnessesMax bounds a block's witnesses: what its count (u16) holds.
	// A block of the largest shape, every member a voter, still reaches a
	// majority of witnesses.
	WitnessesMax = 1<<16 - 1
	// BlocksMax bounds the blocks of one chain encoding.
	BlocksMax = 1 << 24
)

// Typed errors. Every decoding or verification error wraps one.
var (
	ErrCorrupt        = errors.New("attest: corrupt encoding")
	ErrUnknownVersion = errors.New("attest: unknown version")
)

// appendBody appends b's encoding without its witnesses.
func appendBody(out []byte, b Block) []byte {
	out = append(out, blockVersion)
	out = binary.BigEndian.AppendUint64(out, b.Seq)
	out = binary.BigEndian.AppendUint64(out, b.Index)
	out = binary.BigEndian.AppendUint64(out, b.Term)
	out = append(out, b.Prev[:]...)
	if b.Seq == 0 {
		return roles.AppendShape(append(out, bodyGenesis), b.Genesis)
	}
	p := b.Proposal
	out = append(append(out, bodyChange), p.Leader[:]...)
	out = binary.BigEndian.AppendUint64(out, p.Term)
	out = binary.BigEndian.AppendUint64(out, uint64(p.Time))
	out = roles.AppendShift(out, p.Shift)
	return append(out, p.Sig[:]...)
}

// AppendBlock appends the canonical encoding of b to out.
func AppendBlock(out []byte, b Block) []byte {
	out = appendBody(out, b)
	out = binary.BigEndian.AppendUint16(out, uint16(len(b.Witnesses)))
	for _, w := range b.Witnesses {
		out = append(append(out, w.Signer[:]...), w.Sig[:]...)
	}
	return out
}

// BlockHash is b's hash: what the next block's Prev names and witnesses sign.
func BlockHash(b Block) Hash {
	return blake3.Sum256(appendBody([]byte(blockDomain), b))
}

// DecodeBlock decodes one block and returns the bytes after it.
func DecodeBlock(in []byte) (Block, []byte, error) {
	var b Block
	if len(in) < 1 {
		return b, nil, fmt.Errorf("%w: an empty block", ErrCorrupt)
	}
	if in[0] != blockVersion {
		return b, nil, fmt.Errorf("%w: block version %d (this build reads %d)", ErrUnknownVersion, in[0], blockVersion)
	}
	const head = 1 + 8 + 8 + 8 + 32 + 1
	if len(in) < head {
		return b, nil, fmt.Errorf("%w: a block header of %d bytes, want %d", ErrCorrupt, len(in), head)
	}
	b.Seq = binary.BigEndian.Uint64(in[1:])
	b.Index = binary.BigEndian.Uint64(in[9:])
	b.Term = binary.BigEndian.Uint64(in[17:])
	copy(b.Prev[:], in[25:57])
	kind, rest := in[57], in[head:]
	var err error
	switch {
	case kind == bodyGenesis && b.Seq == 0:
		if b.Genesis, rest, err = roles.DecodeShape(rest); err != nil {
			return b, nil, fmt.Errorf("%w: the genesis shape: %v", ErrCorrupt, err)
		}
	case kind == bodyChange && b.Seq > 0:
		p := &b.Proposal
		if len(rest) < 32+8+8 {
			return b, nil, fmt.Errorf("%w: a proposal of %d bytes", ErrCorrupt, len(rest))
		}
		copy(p.Leader[:], rest)
		p.Term = binary.BigEndian.Uint64(rest[32:])
		p.Time = int64(binary.BigEndian.Uint64(rest[40:]))
		if p.Shift, rest, err = roles.DecodeShift(rest[48:]); err != nil {
			return b, nil, fmt.Errorf("%w: the proposal's shift: %v", ErrCorrupt, err)
		}
		if len(rest) < len(p.Sig) {
			return b, nil, fmt.Errorf("%w: a leader signature of %d bytes", ErrCorrupt, len(rest))
		}
		rest = rest[copy(p.Sig[:], rest):]
	default:
		return b, nil, fmt.Errorf("%w: body kind %d at seq %d", ErrCorrupt, kind, b.Seq)
	}
	if len(rest) < 2 {
		return b, nil, fmt.Errorf("%w: no witness count", ErrCorrupt)
	}
	n := int(binary.BigEndian.Uint16(rest))
	rest = rest[2:]
	if n > WitnessesMax || len(rest) < n*witnessBytes {
		return b, nil, fmt.Errorf("%w: %d witnesses in %d bytes (limit %d)", ErrCorrupt, n, len(rest), WitnessesMax)
	}
	if n > 0 {
		b.Witnesses = make([]Witness, n)
	}
	for i := range b.Witnesses {
		w := &b.Witnesses[i]
		copy(w.Signer[:], rest)
		copy(w.Sig[:], rest[32:])
		rest = rest[witnessBytes:]
		if i > 0 && b.Witnesses[i-1].Signer.Compare(w.Signer) >= 0 {
			return b, nil, fmt.Errorf("%w: witnesses not in strictly increasing signer order", ErrCorrupt)
		}
	}
	return b, rest, nil
}

// AppendChain appends the encoding of blocks (a chain file's contents).
func AppendChain(out []byte, blocks []Block) []byte {
	out = append(out, chainVersion)
	out = binary.BigEndian.AppendUint32(out, uint32(len(blocks)))
	for _, b := range blocks {
		out = appendFramed(out, b)
	}
	return out
}

// appendFramed appends len:u32 and b's encoding, a block of a chain's.
func appendFramed(out []byte, b Block) []byte {
	at := len(out)
	out = AppendBlock(binary.BigEndian.AppendUint32(out, 0), b)
	binary.BigEndian.PutUint32(out[at:], uint32(len(out)-at-4))
	return out
}

// DecodeChain decodes a chain encoding: blocks, not yet verified (Verify).
func DecodeChain(in []byte) ([]Block, error) {
	if len(in) < 1 {
		return nil, fmt.Errorf("%w: empty", ErrCorrupt)
	}
	if in[0] != chainVersion {
		return nil, fmt.Errorf("%w: chain version %d (this build reads %d)", ErrUnknownVersion, in[0], chainVersion)
	}
	if len(in) < 5 {
		return nil, fmt.Errorf("%w: no block count", ErrCorrupt)
	}
	n := binary.BigEndian.Uint32(in[1:])
	rest := in[5:]
	if n > BlocksMax || uint64(len(rest)) < uint64(n)*(4+blockBytesMin) {
		return nil, fmt.Errorf("%w: %d blocks in %d bytes (limit %d)", ErrCorrupt, n, len(rest), BlocksMax)
	}
	blocks := make([]Block, 0, n)
	for i := range n {
		if len(rest) < 4 {
			return nil, fmt.Errorf("%w: block %d: no length", ErrCorrupt, i)
		}
		size := binary.BigEndian.Uint32(rest)
		rest = rest[4:]
		if uint64(len(rest)) < uint64(size) {
			return nil, fmt.Errorf("%w: block %d: %d bytes announced, %d left", ErrCorrupt, i, size, len(rest))
		}
		b, tail, err := DecodeBlock(rest[:size])
		if err != nil {
			return nil, fmt.Errorf("block %d: %w", i, err)
		}
		if len(tail) != 0 {
			return nil, fmt.Errorf("%w: block %d: %d bytes after it", ErrCorrupt, i, len(tail))
		}
		blocks = append(blocks, b)
		rest = rest[size:]
	}
	if len(rest) != 0 {
		return nil, fmt.Errorf("%w: %d bytes after the last block", ErrCorrupt, len(rest))
	}
	return blocks, nil
}

package content

import (
	"encoding/hex"
	"errors"

	"lukechampine.com/blake3"
)

// Digest is the BLAKE3-256 hash of a blob's bytes.
type Digest [32]byte

// Sum is the Digest of b.
func Sum(b []byte) Digest { return blake3.Sum256(b) }

// String is the digest in lowercase hex, 64 characters.
func (d Digest) String() string { return hex.EncodeToString(d[:]) }

// Short is the 12-hex-digit display form.
func (d Digest) Short() string { return hex.EncodeToString(d[:6]) }

const (
	// BlobMax is the largest blob a Store holds or a Fetcher takes.
	BlobMax = 8 << 20
	// PartMax is the most blob data one Part carries: larger blobs travel in parts.
	PartMax = 16 << 10
	// baoGroup is the Bao chunk group (log2 of 1 KiB chunks per group): one group is one part.
	baoGroup = 4
	// sliceProofMax bounds the header and sibling hashes of one Bao slice
	// path: 8 bytes and 64 per level, 9 levels at BlobMax (more leaves room).
	sliceProofMax = 8 + 64*24
	// PartDataMax bounds a Part's Data: a slice of a range spanning at most
	// two groups (2×PartMax), the last group for the size proof (PartMax),
	// two 8-byte headers and at most three paths of sibling hashes, each
	// 64 bytes per tree level (9 levels at BlobMax); 4 KiB covers the
	// headers and proofs with room to spare.
	PartDataMax = 3*PartMax + 4096
)

// Typed errors; every error the package returns wraps one of them and names
// the digest, offset or field at fault.
var (
	// ErrTooLarge: a blob, claimed size or length over its named limit.
	ErrTooLarge = errors.New("content: too large")
	// ErrCorrupt: data or proof not matching its digest, or a size that contradicts one known.
	ErrCorrupt = errors.New("content: corrupt")
	// ErrMalformed: undecodable bytes.
	ErrMalformed = errors.New("content: malformed")
	// ErrUnasked: a part no in-flight want of the Fetcher asked for.
	ErrUnasked = errors.New("content: unasked part")
)

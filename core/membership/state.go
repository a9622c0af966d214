package membership

import (
	"bytes"
	"crypto/ed25519"
	"encoding/binary"
	"errors"
	"fmt"

	"revoada.dev/revoada/core/roles"
)

// Capacity is what a node offers to the scheduler.
type Capacity struct {
	CPUMilli, MemoryBytes, StorageBytes, Pods uint64
}

// StateRoot is the latest state root a node knows: the Raft index it was
// taken at and the hashes that identify the mesh shape, the resource manifest
// and the attestation chain head there.
type StateRoot struct {
	Index                              uint64
	ShapeHash, ManifestHash, ChainHead [32]byte
}

// State is a node's description of itself. Only the node can sign it, so a
// State about node X is believed only with X's signature (see SignedState).
//
// (Incarnation, Version) orders the states of one node: a higher Incarnation
// wins, and within an incarnation a higher Version. The node raises
// Incarnation when it refutes a suspicion or restarts, and Version with every
// other change.
type State struct {
	Node            roles.NodeID
	Incarnation     uint64
	Version         uint64
	GossipAddr      string // at most StringBytesMax bytes, like every string here
	RaftAddr        string
	Roles           roles.Roles
	Capacity        Capacity
	SoftwareVersion string
	StateRoot       StateRoot
}

// Stamp is the (Incarnation, Version) of one node's state: what a push-pull
// digest carries instead of the state itself.
type Stamp struct {
	Node                 roles.NodeID
	Incarnation, Version uint64
}

// Stamp returns the state's stamp.
func (s State) Stamp() Stamp { return Stamp{s.Node, s.Incarnation, s.Version} }

// Compare orders two stamps of one node: by Incarnation, then Version.
func (s Stamp) Compare(o Stamp) int {
	switch {
	case s.Incarnation != o.Incarnation:
		return cmpUint(s.Incarnation, o.Incarnation)
	default:
		return cmpUint(s.Version, o.Version)
	}
}

func cmpUint(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// SignedState is a State with its node's ed25519 signature over
// SigningBytes(State). Sig is ed25519.SignatureSize bytes.
//
// One made by Sign, or that a Membership verified, carries a proof: a copy
// of the State and signature that verified. Its copies share the proof, and
// Verify of a State and signature equal to the proof's answers true without
// the curve arithmetic, which is pure: the same bytes verify the same way.
// Only this package makes proofs, after a signature or a verification, and
// DecodeSignedState makes none, so nothing from the wire skips the check.
// (The simulator runs every node in one process: each state is verified
// once there, not once by every node that learns it.)
type SignedState struct {
	State State
	Sig   []byte
	proof *proof
}

// proof is a State and a signature that verified against State.Node.
type proof struct {
	state State
	sig   [ed25519.SignatureSize]byte
}

// proven returns s with a proof, made from its own State and Sig. The
// caller has just signed or verified them.
func (s SignedState) proven() SignedState {
	if !s.provenBy(s.proof) {
		s.proof = &proof{state: s.State}
		copy(s.proof.sig[:], s.Sig)
	}
	return s
}

// provenBy reports whether pr is a proof of exactly s's State and Sig.
func (s SignedState) provenBy(pr *proof) bool {
	return pr != nil && pr.state == s.State && bytes.Equal(pr.sig[:], s.Sig)
}

// Encoding (version 2). Integers are big-endian; a string is its length as
// one byte followed by its bytes, so no string exceeds StringBytesMax.
//
//	state  := version:u8 node:[32]u8 incarnation:u64 version:u64
//	          gossipAddr:str raftAddr:str roles:u8
//	          cpuMilli:u64 memoryBytes:u64 storageBytes:u64 pods:u64
//	          softwareVersion:str
//	          rootIndex:u64 shapeHash:[32]u8 manifestHash:[32]u8 chainHead:[32]u8
//	signed := state sig:[64]u8
//	str    := len:u8 bytes
//
// The encoding is canonical: every field has one encoding, in a fixed order,
// so equal states encode to equal bytes and DecodeSignedState accepts exactly
// the bytes AppendSignedState produces. The signature covers
// signingDomain || state, the domain keeping a state signature from being
// taken for any other revoada signature made with the same key.
const (
	stateEncodingVersion = 2 // 2: no uptime (it travels in Message, unsigned)
	// StringBytesMax bounds each string field of a State.
	StringBytesMax  = 255
	stateFixedBytes = 1 + 32 + 8 + 8 + 1 + 1 + 1 + 4*8 + 1 + 8 + 3*32
	// SignedStateBytesMax bounds one encoded SignedState.
	SignedStateBytesMax = stateFixedBytes + 3*StringBytesMax + ed25519.SignatureSize
	signingDomain       = "revoada/membership/state/v1\x00"
)

// ErrCorrupt is returned for bytes that do not decode.
var ErrCorrupt = errors.New("membership: corrupt encoding")

// ErrInvalidState is returned for a State that cannot be encoded or does not
// belong to the node that would sign it.
var ErrInvalidState = errors.New("membership: invalid state")

// Validate reports whether s can be encoded: every string within
// StringBytesMax.
func (s State) Validate() error {
	for _, f := range []struct{ name, v string }{
		{"gossip address", s.GossipAddr}, {"raft address", s.RaftAddr}, {"software version", s.SoftwareVersion},
	} {
		if len(f.v) > StringBytesMax {
			return fmt.Errorf("%w: %s of %d bytes (max %d)", ErrInvalidState, f.name, len(f.v), StringBytesMax)
		}
	}
	return nil
}

// AppendState appends the canonical encoding of s to b. It panics on a state
// that does not Validate: only validated states are ever encoded.
func AppendState(b []byte, s State) []byte {
	if err := s.Validate(); err != nil {
		panic(fmt.Sprintf("membership: encoding %v", err))
	}
	b = append(b, stateEncodingVersion)
	b = append(b, s.Node[:]...)
	b = binary.BigEndian.AppendUint64(b, s.Incarnation)
	b = binary.BigEndian.AppendUint64(b, s.Version)
	b = appendString(b, s.GossipAddr)
	b = appendString(b, s.RaftAddr)
	b = append(b, byte(s.Roles))
	for _, v := range []uint64{s.Capacity.CPUMilli, s.Capacity.MemoryBytes, s.Capacity.StorageBytes, s.Capacity.Pods} {
		b = binary.BigEndian.AppendUint64(b, v)
	}
	b = appendString(b, s.SoftwareVersion)
	b = binary.BigEndian.AppendUint64(b, s.StateRoot.Index)
	b = append(b, s.StateRoot.ShapeHash[:]...)
	b = append(b, s.StateRoot.ManifestHash[:]...)
	return append(b, s.StateRoot.ChainHead[:]...)
}

func appendString(b []byte, s string) []byte { return append(append(b, byte(len(s))), s...) }

// AppendSignedState appends the canonical encoding of s to b. It panics if
// Sig is not ed25519.SignatureSize bytes (no such value comes from Sign or
// DecodeSignedState).
func AppendSignedState(b []byte, s SignedState) []byte {
	if len(s.Sig) != ed25519.SignatureSize {
		panic(fmt.Sprintf("membership: encoding a signature of %d bytes", len(s.Sig)))
	}
	return append(AppendState(b, s.State), s.Sig...)
}

// DecodeSignedState decodes one SignedState and returns the bytes that follow
// it. It checks the structure only: Verify checks the signature.
func DecodeSignedState(b []byte) (SignedState, []byte, error) {
	var s SignedState
	rest, err := decodeSignedOver(&s, b)
	if err != nil {
		return SignedState{}, nil, err
	}
	return s, rest, nil
}

// decodeSignedOver is DecodeSignedState writing over *s: the signature
// reuses s.Sig's array, a string equal to the one it replaces is kept,
// and the proof is dropped. On error *s is partly written.
func decodeSignedOver(s *SignedState, b []byte) ([]byte, error) {
	d := decoder{b: b}
	s.proof = nil
	if d.byte() != stateEncodingVersion {
		return nil, fmt.Errorf("%w: state version", ErrCorrupt)
	}
	st := &s.State
	d.bytes(st.Node[:])
	st.Incarnation, st.Version = d.uint64(), d.uint64()
	st.GossipAddr, st.RaftAddr = d.stringOver(st.GossipAddr), d.stringOver(st.RaftAddr)
	st.Roles = roles.Roles(d.byte())
	st.Capacity = Capacity{d.uint64(), d.uint64(), d.uint64(), d.uint64()}
	st.SoftwareVersion = d.stringOver(st.SoftwareVersion)
	st.StateRoot.Index = d.uint64()
	d.bytes(st.StateRoot.ShapeHash[:])
	d.bytes(st.StateRoot.ManifestHash[:])
	d.bytes(st.StateRoot.ChainHead[:])
	s.Sig = append(s.Sig[:0], d.take(ed25519.SignatureSize)...)
	if d.short {
		return nil, fmt.Errorf("%w: signed state truncated", ErrCorrupt)
	}
	return d.b, nil
}

// decoder reads fields in order; a read past the end sets short and yields
// zeros, so the caller checks once at the end. Every length it reads is one
// byte, so no field claims more than StringBytesMax, and a short read
// allocates nothing.
type decoder struct {
	b     []byte
	short bool
}

// zeros is what a read past the end yields; no reader writes to it.
var zeros [StringBytesMax]byte

func (d *decoder) take(n int) []byte {
	if d.short || len(d.b) < n {
		d.short = true
		return zeros[:n:n]
	}
	v := d.b[:n]
	d.b = d.b[n:]
	return v
}

func (d *decoder) byte() byte       { return d.take(1)[0] }
func (d *decoder) bytes(dst []byte) { copy(dst, d.take(len(dst))) }
func (d *decoder) uint64() uint64   { return binary.BigEndian.Uint64(d.take(8)) }

// stringOver reads a string, and returns old if it has the same bytes
// (comparing allocates nothing; converting would).
func (d *decoder) stringOver(old string) string {
	switch b := d.take(int(d.byte())); {
	case d.short:
		return ""
	case string(b) == old:
		return old
	default:
		return string(b)
	}
}

// SigningBytes is what a node signs for s: signingDomain || AppendState(s).
func SigningBytes(s State) []byte {
	return AppendState([]byte(signingDomain), s)
}

// Sign signs s with key. ed25519 signing is deterministic, so equal states
// signed by one key give equal SignedStates. It returns ErrInvalidState if s
// does not Validate or s.Node is not key's public key.
func Sign(key ed25519.PrivateKey, s State) (SignedState, error) {
	if err := s.Validate(); err != nil {
		return SignedState{}, err
	}
	if len(key) != ed25519.PrivateKeySize {
		return SignedState{}, fmt.Errorf("%w: private key of %d bytes", ErrInvalidState, len(key))
	}
	if pub := key.Public().(ed25519.PublicKey); !bytes.Equal(pub, s.Node[:]) {
		return SignedState{}, fmt.Errorf("%w: state of %s signed by %s", ErrInvalidState, s.Node.Short(), roles.NodeID(pub).Short())
	}
	return SignedState{State: s, Sig: ed25519.Sign(key, SigningBytes(s))}.proven(), nil
}

// Verify reports whether Sig is the signature of State by State.Node: the
// only key whose word about that node is taken. A state equal to its proof
// verified before (see SignedState).
func (s SignedState) Verify() bool {
	if s.provenBy(s.proof) {
		return true
	}
	return len(s.Sig) == ed25519.SignatureSize && s.State.Validate() == nil &&
		ed25519.Verify(ed25519.PublicKey(s.State.Node[:]), SigningBytes(s.State), s.Sig)
}

package attest

import (
	"crypto/ed25519"

	"revoada.dev/revoada/core/roles"
)

// VerifiedMax bounds the signatures a Verified remembers: one more makes it
// forget them all and start over.
const VerifiedMax = 1 << 14

// Verified remembers the signatures of role-history blocks that verified, so
// that a chain that uses it (Chain.Remember, Verified.Verify) does the
// curve arithmetic for a leader's or a witness's signature once, not at
// every check of it. It remembers exactly the key, the signature and the
// signed bytes (a block's hash, for a witness), and only signatures that
// verified: verification is pure, so it only remembers an answer, and a
// block altered anywhere is verified in full. The simulator shares one
// among a run's nodes, which each apply the same blocks and verify their
// whole history again at every restart.
//
// The zero value is ready to use; a nil *Verified remembers nothing. Not
// safe for concurrent use.
type Verified struct {
	good map[string]struct{} // key, signature and signed bytes, concatenated
	key  []byte              // scratch for the map key
}

// check reports whether sig is signer's signature over the bytes msg
// appends.
func (v *Verified) check(signer roles.NodeID, sig *Sig, msg func([]byte) []byte) bool {
	if v == nil {
		return ed25519.Verify(signer[:], msg(nil), sig[:])
	}
	v.key = msg(append(append(v.key[:0], signer[:]...), sig[:]...))
	if _, ok := v.good[string(v.key)]; ok {
		return true
	}
	if !ed25519.Verify(signer[:], v.key[len(signer)+len(sig):], sig[:]) {
		return false
	}
	if v.good == nil || len(v.good) >= VerifiedMax {
		v.good = make(map[string]struct{})
	}
	v.good[string(v.key)] = struct{}{}
	return true
}

// proposal is p.Verify, remembered.
func (v *Verified) proposal(p *Proposal) bool {
	return v.check(p.Leader, &p.Sig, func(b []byte) []byte { return appendProposalBytes(b, *p) })
}

// witness is w.Verify(h), remembered.
func (v *Verified) witness(w *Witness, h Hash) bool {
	return v.check(w.Signer, &w.Sig, func(b []byte) []byte { return append(append(b, witnessDomain...), h[:]...) })
}

// Verify is the package's Verify, remembering in v the signatures that
// verified and skipping those v holds.
func (v *Verified) Verify(blocks []Block, threshold Threshold) (Report, error) {
	c, err := replay(blocks, threshold, true, v)
	if err != nil {
		return Report{}, err
	}
	r := Report{Blocks: c.Len(), Head: c.Head()}
	for seq := range uint64(c.Len()) {
		if c.Attested(seq) {
			r.Attested++
		} else {
			r.Pending = append(r.Pending, seq)
		}
	}
	return r, nil
}

// Remember makes c check signatures against v (nil: verify each in full),
// and remember there those that verified.
func (c *Chain) Remember(v *Verified) { c.verified = v }

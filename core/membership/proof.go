package membership

// WithProofOf returns s carrying o's proof of verification, if o has one
// (see SignedState). A proof vouches only for exactly the State and
// signature it was made from, so s skips the curve arithmetic only when it
// is o's state and signature, and anything else is verified in full:
// verification is pure, so this only remembers an answer. The simulator
// uses it on the messages it decodes from their wire encoding, so that a
// state is verified once per run, not once by every node that learns it.
func (s SignedState) WithProofOf(o SignedState) SignedState {
	s.proof = o.proof
	return s
}

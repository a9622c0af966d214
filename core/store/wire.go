package store

// AppendRef appends a ref's canonical encoding, the one a resource envelope
// and a delete command carry (three u16-length strings: kind, namespace,
// name), to b. It panics on a string over NameBytesMax: validated refs never
// have one.
func AppendRef(b []byte, ref Ref) []byte { return appendRef(b, ref) }

// DecodeRef decodes one ref from the front of b and returns the bytes after
// it. It checks the structure and the length limits only (Ref.Validate
// checks the content).
//
// Errors: *InvalidError (ErrInvalid) for truncated or oversize fields.
func DecodeRef(b []byte) (Ref, []byte, error) {
	d := decoder{b: b, what: "ref"}
	r := d.ref()
	if d.err != nil {
		return Ref{}, nil, d.err
	}
	return r, d.b, nil
}

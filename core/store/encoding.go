package store

import (
	"encoding/binary"
	"fmt"
)

// envelopeVersion is the version byte of the resource envelope and of a
// command; snapshotVersion is the snapshot's.
const (
	envelopeVersion = 1
	commandVersion  = 1
	snapshotVersion = 1
)

// AppendResource appends r's native envelope (see the package doc) to b.
func AppendResource(b []byte, r Resource) []byte {
	b = append(b, envelopeVersion)
	b = appendRef(b, r.Ref)
	b = appendString(b, r.Face)
	b = append(b, byte(r.Format))
	b = binary.BigEndian.AppendUint64(b, uint64(r.CreateRevision))
	b = binary.BigEndian.AppendUint64(b, uint64(r.ModRevision))
	b = binary.BigEndian.AppendUint64(b, uint64(r.Version))
	b = binary.BigEndian.AppendUint32(b, uint32(len(r.Payload)))
	return append(b, r.Payload...)
}

// DecodeResource decodes one native envelope from the front of b and returns
// the bytes after it. It checks the structure and the length limits only
// (Apply validates the content); the payload is copied, never aliased to b.
//
// Errors: *InvalidError (ErrInvalid) for truncated or oversize fields;
// ErrUnsupported for an envelope version this build does not know.
func DecodeResource(b []byte) (Resource, []byte, error) {
	d := decoder{b: b, what: "envelope"}
	r := d.resource()
	if d.err != nil {
		return Resource{}, nil, d.err
	}
	return r, d.b, nil
}

func appendRef(b []byte, ref Ref) []byte {
	b = appendString(b, ref.Kind)
	b = appendString(b, ref.Namespace)
	return appendString(b, ref.Name)
}

// appendString writes a u16 length and the bytes. Callers keep s within
// NameBytesMax; a longer string is a programming error.
func appendString(b []byte, s string) []byte {
	if len(s) > NameBytesMax {
		panic(fmt.Sprintf("store: encoding a %d-byte name, limit %d", len(s), NameBytesMax))
	}
	b = binary.BigEndian.AppendUint16(b, uint16(len(s)))
	return append(b, s...)
}

// decoder reads big-endian fields from b. The first failure sticks in err and
// every later read returns zero values, so a parent reads all its fields and
// checks err once.
type decoder struct {
	b    []byte
	err  error
	what string // envelope, command or snapshot: names the encoding in errors
}

func (d *decoder) fail(reason string, args ...any) {
	if d.err == nil {
		d.err = &InvalidError{Field: d.what, Reason: fmt.Sprintf(reason, args...)}
	}
}

func (d *decoder) take(n int, field string) []byte {
	if d.err != nil {
		return nil
	}
	if n > len(d.b) {
		d.fail("%s: need %d bytes, have %d", field, n, len(d.b))
		return nil
	}
	out := d.b[:n]
	d.b = d.b[n:]
	return out
}

func (d *decoder) u8(field string) uint8 {
	if p := d.take(1, field); p != nil {
		return p[0]
	}
	return 0
}

func (d *decoder) u32(field string) uint32 {
	if p := d.take(4, field); p != nil {
		return binary.BigEndian.Uint32(p)
	}
	return 0
}

func (d *decoder) u64(field string) uint64 {
	if p := d.take(8, field); p != nil {
		return binary.BigEndian.Uint64(p)
	}
	return 0
}

func (d *decoder) str(field string) string {
	var n int
	if p := d.take(2, field); p != nil {
		n = int(binary.BigEndian.Uint16(p))
	}
	if n > NameBytesMax {
		d.fail("%s: %d bytes, limit %d", field, n, NameBytesMax)
	}
	return string(d.take(n, field))
}

func (d *decoder) payload() []byte {
	n := d.u32("payload length")
	if n > PayloadBytesMax {
		d.fail("payload: %d bytes, limit %d", n, PayloadBytesMax)
	}
	return clonePayload(d.take(int(n), "payload"))
}

// version reads the version byte of encoding and fails with ErrUnsupported
// unless it is want.
func (d *decoder) version(encoding string, want uint8) {
	v := d.u8(encoding + " version")
	if d.err == nil && v != want {
		d.err = fmt.Errorf("%w: %s version %d (this build reads %d)", ErrUnsupported, encoding, v, want)
	}
}

func (d *decoder) ref() Ref {
	return Ref{Kind: d.str("kind"), Namespace: d.str("namespace"), Name: d.str("name")}
}

func (d *decoder) resource() Resource {
	d.version("envelope", envelopeVersion)
	return Resource{
		Ref:            d.ref(),
		Face:           d.str("face"),
		Format:         Format(d.u8("format")),
		CreateRevision: Revision(d.u64("create revision")),
		ModRevision:    Revision(d.u64("mod revision")),
		Version:        int64(d.u64("version")),
		Payload:        d.payload(),
	}
}

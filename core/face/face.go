package face

import (
	"bytes"
	"fmt"
	"slices"
	"unicode/utf8"

	"revoada.dev/revoada/core/store"
)

// Face is one front door to the store: it turns input files into resources
// and renders stored resources back.
type Face interface {
	// Name is the face's name, the Face field of the resources it makes.
	Name() string
	// Decode parses one input file. file is the file's base name (systemd
	// takes the unit name and kind from it; the others use it in errors).
	// The resources come back ready to apply: Ref, Face, Format and Payload
	// set, revisions zero. An error wraps store.ErrInvalid (usually a
	// *store.InvalidError naming the field) or store.ErrUnsupported.
	Decode(file string, data []byte, f store.Format) ([]store.Resource, error)
	// Encode renders a stored resource in format f; an error wrapping
	// store.ErrUnsupported when the face cannot.
	Encode(r store.Resource, f store.Format) ([]byte, error)
	// Formats lists the formats Encode can produce.
	Formats() []store.Format
}

// The face names.
const (
	Kubernetes = "kubernetes"
	Nomad      = "nomad"
	Systemd    = "systemd"
	PureRaft   = "pureraft"
	BareMetal  = "baremetal"
)

// Limits.
const (
	// InputBytesMax bounds one input file; larger inputs are rejected before
	// parsing.
	InputBytesMax = store.PayloadBytesMax
	// ResourcesMax bounds the resources one input yields (documents, list
	// items, envelopes).
	ResourcesMax = 10000
	// NestingMax bounds bracket nesting in HCL input: the HCL parser is
	// recursive descent, and a Go stack overflow cannot be recovered.
	NestingMax = 100
	// OperatorsMax bounds the operators and conditionals in one HCL file.
	OperatorsMax = 1000
	// CollectionMax bounds the elements of any list, map or object an HCL
	// file builds: go-cty unifies element types pairwise, n² work.
	CollectionMax = 1000
	// EvalCallsMax bounds the function calls and operators evaluated for
	// one HCL file, all its attributes, defaults and validations together.
	EvalCallsMax = 5000
	// EvalBytesMax bounds the bytes the function results and template
	// interpolations of one HCL file produce, all together and
	// intermediate results included. Each is checked before it is made,
	// from a bound on its size, so evaluation never holds much more.
	EvalBytesMax = 4 * InputBytesMax
	// HCLTokensMax bounds the tokens of one HCL file, counted before it is
	// lexed: hclsyntax lexes a whole file into one slice (about 100 bytes
	// a token, grown by copying), once to check nesting and once to parse,
	// so this bounds parsing's memory (20,000 tokens: about 30 MB).
	HCLTokensMax = 20_000
	// LiteralJoinBytesMax bounds what hclsyntax copies to join the literal
	// pieces of one HCL file's templates (heredoc lines, the pieces of a
	// quoted string around $${ and %%{ escapes): it appends them one at a
	// time, so k pieces of B bytes in all copy about k·B.
	LiteralJoinBytesMax = 32 << 20
	// DigitRunMax bounds the digits in a row of any HCL number, and of any
	// string in the file or made while evaluating it: cty reads a decimal
	// number in time and memory quadratic in its digits (a megabyte of
	// them costs gigabytes), and a string becomes a number wherever one is
	// wanted. No float64 needs more than a few hundred.
	DigitRunMax = 1000
)

var faces = []Face{kubernetes{}, nomad{}, systemd{}, pureRaft{}, bareMetal{}}

// All returns the five faces in a fixed order.
func All() []Face { return slices.Clone(faces) }

// ByName returns the face called name.
// Errors: ErrUnsupported (wrapped) for an unknown name.
func ByName(name string) (Face, error) {
	for _, f := range faces {
		if f.Name() == name {
			return f, nil
		}
	}
	return nil, &UnsupportedError{Field: "face", Reason: fmt.Sprintf("%q is not a face (want kubernetes, nomad, systemd, pureraft or baremetal)", name)}
}

// UnsupportedError says an input is well formed but asks for something the
// face does not serve: a kind, a format, a feature. It wraps
// store.ErrUnsupported.
type UnsupportedError struct {
	Field  string
	Reason string
}

func (e *UnsupportedError) Error() string {
	return fmt.Sprintf("face: unsupported: %s: %s", e.Field, e.Reason)
}

func (e *UnsupportedError) Unwrap() error { return store.ErrUnsupported }

// invalid is shorthand for a *store.InvalidError.
func invalid(field, format string, args ...any) error {
	return &store.InvalidError{Field: field, Reason: fmt.Sprintf(format, args...)}
}

// unsupported is shorthand for an *UnsupportedError.
func unsupported(field, format string, args ...any) error {
	return &UnsupportedError{Field: field, Reason: fmt.Sprintf(format, args...)}
}

// checkSize rejects inputs over InputBytesMax.
func checkSize(data []byte) error {
	if len(data) > InputBytesMax {
		return invalid("input", "%d bytes, limit %d", len(data), InputBytesMax)
	}
	return nil
}

// checkText rejects inputs that are too large, not UTF-8 or hold a NUL byte:
// every text format the faces read forbids them.
func checkText(data []byte) error {
	if err := checkSize(data); err != nil {
		return err
	}
	if !utf8.Valid(data) {
		return invalid("input", "not UTF-8")
	}
	if i := bytes.IndexByte(data, 0); i >= 0 {
		return invalid("input", "NUL byte at line %d", lineOf(data, i))
	}
	return nil
}

// lineOf is the 1-based line number of byte offset i in data.
func lineOf(data []byte, i int) int {
	return bytes.Count(data[:i], []byte{'\n'}) + 1
}

// checkOwner rejects rendering a resource another face stored, or stored in
// a format the face does not keep.
func checkOwner(face string, r store.Resource, stored store.Format) error {
	if r.Face != face {
		return unsupported("face", "%s is a %q resource; the %s face renders its own", r.Ref, r.Face, face)
	}
	if r.Format != stored {
		return unsupported("format", "%s is stored as %s; the %s face stores %s", r.Ref, r.Format, face, stored)
	}
	return nil
}

// checkCount enforces ResourcesMax.
func checkCount(n int) error {
	if n > ResourcesMax {
		return invalid("input", "more than %d resources", ResourcesMax)
	}
	return nil
}

// errFormat is the error for a format a face does not read or write.
func errFormat(face string, f store.Format, want []store.Format) error {
	return unsupported("format", "the %s face does not handle %s (it handles %v)", face, f, want)
}

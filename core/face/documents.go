package face

import (
	"errors"
	"fmt"
	"strings"

	"sigs.k8s.io/yaml"

	"revoada.dev/revoada/core/store"
)

// Decoded is one unit of an input file that stands or falls on its own: a
// document of a YAML stream, or a whole file in any other format.
type Decoded struct {
	Where     string           // "document 2" (1-based, counting empty documents); "" for a whole file
	Resources []store.Resource // what the unit holds, ready to apply; nil when Err is set
	Err       error            // as Face.Decode's errors, naming this document
}

// DecodeEach decodes data as f.Decode(file, data, fm) does, but a YAML
// stream read by the kubernetes or baremetal face document by document, so
// that one invalid document spoils only itself: this is kubectl apply's
// behaviour, where each document is its own object. Documents are split
// with splitYAML, as Decode splits them, and numbered by position; empty
// documents (nothing but comments, or null) are skipped, as Decode skips
// them. Every other face and format is decoded whole, as one unit.
//
// The checks Decode makes of the whole input still apply to the whole: a
// file that is too large, not UTF-8 or holds a NUL byte, that holds no
// manifest at all, or whose documents hold more than ResourcesMax
// resources in all, comes back as one unit with that error, so that
// nothing of it is applied.
//
// Concatenating the Resources of the units gives what f.Decode returns for
// a file where every document is valid.
func DecodeEach(f Face, file string, data []byte, fm store.Format) []Decoded {
	if fm != store.YAML || (f.Name() != Kubernetes && f.Name() != BareMetal) {
		rs, err := f.Decode(file, data, fm)
		return []Decoded{{Resources: rs, Err: err}}
	}
	if err := checkText(data); err != nil {
		return []Decoded{{Err: fmt.Errorf("face: %s: %s: %w", f.Name(), file, err)}}
	}
	if err := checkNesting(data, true); err != nil { // as Decode checks the whole stream
		return []Decoded{{Err: fmt.Errorf("face: %s: %s: %w", f.Name(), file, err)}}
	}
	var out []Decoded
	total := 0
	for i, doc := range splitYAML(data) {
		if emptyDocument(doc) {
			continue
		}
		d := Decoded{Where: fmt.Sprintf("document %d", i+1)}
		d.Resources, d.Err = f.Decode(file, doc, fm)
		if d.Err != nil {
			d.Resources, d.Err = nil, renumber(d.Err, i+1)
		}
		if total += len(d.Resources); checkCount(total) != nil {
			return []Decoded{{Err: fmt.Errorf("face: %s: %s: %w", f.Name(), file, checkCount(total))}}
		}
		out = append(out, d)
	}
	if len(out) == 0 {
		err := invalid("input", "no manifest (as kubectl: no objects passed to apply)")
		return []Decoded{{Err: fmt.Errorf("face: %s: %s: %w", f.Name(), file, err)}}
	}
	return out
}

// emptyDocument reports whether a YAML document holds nothing: Decode skips
// those, and decoding one alone would be "no manifest".
func emptyDocument(doc []byte) bool {
	if checkNesting(doc, true) != nil {
		return false // not parsed here: Decode refuses it cheaply
	}
	j, err := yaml.YAMLToJSONStrict(doc)
	return err == nil && string(j) == "null"
}

// renumber turns the error of a document decoded alone, where the face
// calls it "document 1", into one that names its place n in the file. The
// error keeps its type: the *store.InvalidError or *UnsupportedError at its
// root is copied with its Field renumbered, under the text the face wrapped
// it in ("face: kubernetes: FILE: "). Any other error is prefixed with the
// document's place.
func renumber(err error, n int) error {
	var inv *store.InvalidError
	var uns *UnsupportedError
	var cause, renumberedCause error
	switch {
	case errors.As(err, &inv):
		c := *inv
		c.Field = renumberField(c.Field, n)
		cause, renumberedCause = inv, &c
	case errors.As(err, &uns):
		c := *uns
		c.Field = renumberField(c.Field, n)
		cause, renumberedCause = uns, &c
	}
	prefix, ok := strings.CutSuffix(err.Error(), fmt.Sprint(cause))
	if cause == nil || !ok {
		return fmt.Errorf("document %d: %w", n, err)
	}
	return &renumbered{prefix: prefix, cause: renumberedCause}
}

// renumberField makes "document 1" and "document 1: x" name document n.
func renumberField(field string, n int) string {
	rest, ok := strings.CutPrefix(field, "document 1")
	if !ok || rest != "" && !strings.HasPrefix(rest, ":") {
		return fmt.Sprintf("document %d: %s", n, field)
	}
	return fmt.Sprintf("document %d%s", n, rest)
}

// renumbered is an error whose cause was renumbered: its text is the
// original prefix and the new cause, and it unwraps to the new cause.
type renumbered struct {
	prefix string
	cause  error
}

func (e *renumbered) Error() string { return e.prefix + e.cause.Error() }

func (e *renumbered) Unwrap() error { return e.cause }

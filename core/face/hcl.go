package face

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
)

// hclClosers pairs each HCL opening token with the token that closes it.
var hclClosers = map[hclsyntax.TokenType]hclsyntax.TokenType{
	hclsyntax.TokenOBrace:          hclsyntax.TokenCBrace,
	hclsyntax.TokenOBrack:          hclsyntax.TokenCBrack,
	hclsyntax.TokenOParen:          hclsyntax.TokenCParen,
	hclsyntax.TokenOQuote:          hclsyntax.TokenCQuote,
	hclsyntax.TokenOHeredoc:        hclsyntax.TokenCHeredoc,
	hclsyntax.TokenTemplateInterp:  hclsyntax.TokenTemplateSeqEnd,
	hclsyntax.TokenTemplateControl: hclsyntax.TokenTemplateSeqEnd,
}

var hclIsCloser = map[hclsyntax.TokenType]bool{
	hclsyntax.TokenCBrace: true, hclsyntax.TokenCBrack: true, hclsyntax.TokenCParen: true,
	hclsyntax.TokenCQuote: true, hclsyntax.TokenCHeredoc: true, hclsyntax.TokenTemplateSeqEnd: true,
}

// hclNesting tracks nesting while checkHCLNesting scans tokens.
type hclNesting struct {
	open       []hclsyntax.TokenType // the closers expected, innermost last
	directives int                   // open %{if} and %{for} directives
	unary      int                   // the current run of '-' and '!'
	afterCtl   bool                  // the previous token opened a directive
}

// checkHCLNesting bounds what drives hclsyntax's recursive-descent parser
// deep: bracket, quote and template nesting, template directive nesting and
// runs of unary operators, each at most NestingMax. It works on the token
// stream (the scanner is a state machine) and rejects mismatched closers,
// which no valid file has. A Go stack overflow is fatal, so this runs before
// parsing.
func checkHCLNesting(src []byte, file string) error {
	toks, _ := hclsyntax.LexConfig(src, file, hcl.InitialPos)
	var n hclNesting
	for _, t := range toks {
		if why := n.step(t); why != "" {
			return invalid(fmt.Sprintf("line %d", t.Range.Start.Line), "%s", why)
		}
	}
	return nil
}

// step takes one token and says why the nesting is refused, or "".
func (n *hclNesting) step(t hclsyntax.Token) string {
	if n.afterCtl && t.Type == hclsyntax.TokenIdent {
		switch string(t.Bytes) {
		case "if", "for":
			n.directives++
		case "endif", "endfor":
			n.directives--
		}
	}
	n.afterCtl = t.Type == hclsyntax.TokenTemplateControl
	if t.Type == hclsyntax.TokenMinus || t.Type == hclsyntax.TokenBang {
		n.unary++
	} else if t.Type != hclsyntax.TokenNewline && t.Type != hclsyntax.TokenComment {
		n.unary = 0
	}
	if closer, ok := hclClosers[t.Type]; ok {
		n.open = append(n.open, closer)
	} else if hclIsCloser[t.Type] {
		if len(n.open) == 0 || n.open[len(n.open)-1] != t.Type {
			return fmt.Sprintf("unexpected %q", t.Bytes)
		}
		n.open = n.open[:len(n.open)-1]
	}
	if len(n.open)+n.directives > NestingMax || n.unary > NestingMax {
		return fmt.Sprintf("nested more than %d deep", NestingMax)
	}
	return ""
}

// rejectForExprs refuses for expressions and %{for} directives anywhere in
// body: nested iteration grows output with the product of collection sizes,
// and the core has no clock to stop a runaway evaluation. Nomad's job files
// rarely iterate; the refusal names the line.
func rejectForExprs(body *hclsyntax.Body) error {
	var found *hclsyntax.ForExpr
	hclsyntax.VisitAll(body, func(node hclsyntax.Node) hcl.Diagnostics {
		if f, ok := node.(*hclsyntax.ForExpr); ok && found == nil {
			found = f
		}
		return nil
	})
	if found != nil {
		return unsupported(fmt.Sprintf("line %d", found.SrcRange.Start.Line), "for expressions are not supported")
	}
	return nil
}

// diagError turns HCL diagnostics into an InvalidError naming field (or the
// position when field is empty).
func diagError(field string, diags hcl.Diagnostics) error {
	d := diags[0]
	for _, x := range diags {
		if x.Severity == hcl.DiagError {
			d = x
			break
		}
	}
	where := ""
	if d.Subject != nil {
		where = fmt.Sprintf("line %d", d.Subject.Start.Line)
	}
	if field == "" {
		return invalid(cmp.Or(where, "hcl"), "%s; %s", d.Summary, d.Detail)
	}
	return invalid(field, "%s: %s; %s", cmp.Or(where, "?"), d.Summary, d.Detail)
}

// ctyJSON converts an evaluated HCL value to the plain JSON value tree
// encoding/json writes: objects and maps to map[string]any, lists, tuples and
// sets to []any, numbers to json.Number.
func ctyJSON(v cty.Value) (any, error) {
	v, _ = v.UnmarkDeep()
	switch t := v.Type(); {
	case !v.IsWhollyKnown():
		return nil, fmt.Errorf("value is not known")
	case v.IsNull():
		return nil, nil
	case t == cty.String:
		return v.AsString(), nil
	case t == cty.Bool:
		return v.True(), nil
	case t == cty.Number:
		return numberJSON(v.AsBigFloat())
	case t.IsListType() || t.IsTupleType() || t.IsSetType():
		return ctyList(v)
	case t.IsMapType() || t.IsObjectType():
		return ctyObject(v)
	default:
		return nil, fmt.Errorf("value of type %s has no JSON form", t.FriendlyName())
	}
}

func ctyList(v cty.Value) (any, error) {
	out := make([]any, 0, v.LengthInt())
	for it := v.ElementIterator(); it.Next(); {
		_, e := it.Element()
		j, err := ctyJSON(e)
		if err != nil {
			return nil, err
		}
		out = append(out, j)
	}
	return out, nil
}

func ctyObject(v cty.Value) (any, error) {
	out := make(map[string]any, v.LengthInt())
	for it := v.ElementIterator(); it.Next(); {
		k, e := it.Element()
		j, err := ctyJSON(e)
		if err != nil {
			return nil, err
		}
		out[k.AsString()] = j
	}
	return out, nil
}

// numberJSON writes an integer that fits int64 as one and any other number
// as the nearest float64; numbers beyond float64's range are refused (their
// decimal form could be millions of digits).
func numberJSON(f *big.Float) (json.Number, error) {
	if !inRange(f) {
		return "", errNumberRange
	}
	if i, acc := f.Int64(); acc == big.Exact {
		return json.Number(strconv.FormatInt(i, 10)), nil
	}
	x, _ := f.Float64()
	return json.Number(strconv.FormatFloat(x, 'g', -1, 64)), nil
}

var errNumberRange = errors.New("number beyond float64's range")

// inRange reports whether f is zero or a finite float64 that does not
// underflow: the numbers revoada lets evaluation create.
func inRange(f *big.Float) bool {
	if f.IsInf() {
		return false
	}
	x, _ := f.Float64()
	return f.Sign() == 0 || x != 0 && !math.IsInf(x, 0)
}

// checkValue fails if v holds a number beyond float64's range or a
// collection of more than CollectionMax elements.
func checkValue(v cty.Value) error {
	v, _ = v.Unmark()
	switch t := v.Type(); {
	case !v.IsKnown() || v.IsNull():
		return nil
	case t == cty.Number:
		if !inRange(v.AsBigFloat()) {
			return errNumberRange
		}
	case t.IsCollectionType() || t.IsTupleType() || t.IsObjectType():
		if v.LengthInt() > CollectionMax {
			return errCollection
		}
		for it := v.ElementIterator(); it.Next(); {
			if _, e := it.Element(); checkValue(e) != nil {
				return checkValue(e) // the first failure, named
			}
		}
	}
	return nil
}

var errCollection = fmt.Errorf("more than %d elements in a list, map or object", CollectionMax)

// checkLiterals refuses number literals beyond float64's range and list or
// object constructors of more than CollectionMax elements.
func checkLiterals(body *hclsyntax.Body) error {
	var bad hcl.Range
	var why error
	hclsyntax.VisitAll(body, func(n hclsyntax.Node) hcl.Diagnostics {
		if why == nil {
			why = literalProblem(n)
			bad = n.Range()
		}
		return nil
	})
	if why != nil {
		return invalid(fmt.Sprintf("line %d", bad.Start.Line), "%v", why)
	}
	return nil
}

func literalProblem(n hclsyntax.Node) error {
	switch e := n.(type) {
	case *hclsyntax.LiteralValueExpr:
		if e.Val.Type() == cty.Number && !e.Val.IsNull() && !inRange(e.Val.AsBigFloat()) {
			return errNumberRange
		}
	case *hclsyntax.TupleConsExpr:
		if len(e.Exprs) > CollectionMax {
			return errCollection
		}
	case *hclsyntax.ObjectConsExpr:
		if len(e.Items) > CollectionMax {
			return errCollection
		}
	}
	return nil
}

// ctySize estimates the bytes a value takes as JSON, to bound evaluation.
func ctySize(v cty.Value) int {
	v, _ = v.Unmark()
	switch t := v.Type(); {
	case !v.IsKnown() || v.IsNull():
		return 4
	case t == cty.String:
		return len(v.AsString()) + 2
	case t == cty.Number || t == cty.Bool:
		return 8
	case t.IsCollectionType() || t.IsTupleType() || t.IsObjectType():
		n := 2
		for it := v.ElementIterator(); it.Next(); {
			k, e := it.Element()
			n += ctySize(e) + 1
			if t.IsMapType() || t.IsObjectType() {
				n += ctySize(k)
			}
		}
		return n
	}
	return 8
}

// traversalNames lists a reference's root and attribute names, stopping at
// the first step that is not an attribute: attr.kernel.name gives
// [attr kernel name].
func traversalNames(t hcl.Traversal) []string {
	names := []string{t.RootName()}
	for _, step := range t[1:] {
		a, ok := step.(hcl.TraverseAttr)
		if !ok {
			break
		}
		names = append(names, a.Name)
	}
	return names
}

// blockPath names a block in errors: job["web"].group["app"].
func blockPath(parent string, b *hclsyntax.Block) string {
	var s strings.Builder
	if parent != "" {
		s.WriteString(parent + ".")
	}
	s.WriteString(b.Type)
	for _, l := range b.Labels {
		fmt.Fprintf(&s, "[%q]", l)
	}
	return s.String()
}

package face

import (
	"bytes"
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
	"github.com/zclconf/go-cty/cty/convert"
	"github.com/zclconf/go-cty/cty/function"
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
		return nestedTooDeep
	}
	return ""
}

var nestedTooDeep = fmt.Sprintf("nested more than %d deep", NestingMax)

// checkHCLTokens refuses, before anything lexes src, a file that would lex
// to more than HCLTokensMax tokens, whose templates would cost hclsyntax
// more than LiteralJoinBytesMax to join, whose strings and templates nest
// more than NestingMax deep, or that holds more than DigitRunMax digits in
// a row (see digitRuns). hclsyntax lexes a whole file into a
// slice of tokens (about 100 bytes each, and the slice grows by copying),
// once for checkHCLNesting and once to parse, so a megabyte of dense HCL
// costs half a gigabyte before any other check can run.
func checkHCLTokens(src []byte) error {
	if _, err := digitRuns(0, src); err != nil {
		return invalid("input", "%v", err)
	}
	s := newHCLScan(src)
	s.run(HCLTokensMax)
	switch {
	case s.why != "":
		return invalid(fmt.Sprintf("line %d", lineOf(src, min(s.i, len(src)))), "%s", s.why)
	case s.tokens > HCLTokensMax:
		return invalid("input", "more than %d tokens of HCL (HCLTokensMax)", HCLTokensMax)
	}
	return nil
}

// hclScan counts tokens as hclsyntax's lexer would make them, or more,
// without making them: identifiers and literal runs count one, every other
// byte outside templates one (so numbers, operators and non-ASCII
// identifiers count more than the lexer makes), white space none. It
// follows quoted strings, heredocs and their interpolations on a stack.
// The bound holds for text checkText admits (UTF-8 without NUL); every
// step is linear, so the scan is too.
type hclScan struct {
	src       []byte
	i         int
	tokens    int
	joinBytes int // what joining the templates' literal runs costs hclsyntax
	depth     int // brackets and templates open, as checkHCLNesting counts them or fewer
	unary     int // the current run of '-' and '!'
	// openComments is where a /* first found no */ after it, so that no
	// later /* searches again.
	openComments int
	stack        []scanFrame
	why          string // the refusal, once found
}

type scanMode uint8

const (
	scanExpr    scanMode = iota // configuration, or an interpolation's expression
	scanQuoted                  // a quoted template
	scanHeredoc                 // a heredoc template
)

// scanFrame is one open template, or an interpolation within one.
type scanFrame struct {
	mode     scanMode
	braces   int    // scanExpr: plain braces open, so "}" closes the interpolation at 0
	marker   []byte // scanHeredoc: the closing marker
	midLine  bool   // scanHeredoc: past the start of a line
	runBytes int    // templates: the bytes of the literals since the last interpolation
}

func newHCLScan(src []byte) *hclScan {
	return &hclScan{src: src, openComments: len(src) + 1, stack: []scanFrame{{mode: scanExpr}}}
}

// run scans until the end of the file, a refusal, or past limit tokens.
func (s *hclScan) run(limit int) {
	for s.i < len(s.src) && s.why == "" && s.tokens <= limit {
		switch top := &s.stack[len(s.stack)-1]; top.mode {
		case scanExpr:
			s.expr(top)
		default:
			s.template(top)
		}
	}
}

// open and close follow the nesting, refusing it past NestingMax before
// anything lexes the file (checkHCLNesting then checks it exactly).
func (s *hclScan) open() {
	if s.depth++; s.depth > NestingMax {
		s.why = nestedTooDeep
	}
}

func (s *hclScan) close() { s.depth = max(s.depth-1, 0) }

func (s *hclScan) push(f scanFrame) {
	s.open()
	s.stack = append(s.stack, f)
}

func (s *hclScan) pop() {
	if len(s.stack) > 1 {
		s.stack = s.stack[:len(s.stack)-1]
		s.close()
	}
}

func (s *hclScan) peek(k int) byte {
	if s.i+k < len(s.src) {
		return s.src[s.i+k]
	}
	return 0
}

// expr takes one token (or white space) outside templates.
func (s *hclScan) expr(top *scanFrame) {
	c, rest := s.src[s.i], s.src[s.i:]
	comment := false
	switch {
	case c == ' ' || c == '\t':
		s.i++
		return
	case c == '#' || bytes.HasPrefix(rest, []byte("//")):
		comment = true
		if end := bytes.IndexByte(rest, '\n'); end >= 0 {
			s.i += end // the newline counts apart
		} else {
			s.i = len(s.src)
		}
	case bytes.HasPrefix(rest, []byte("/*")) && s.i < s.openComments:
		if end := bytes.Index(rest[2:], []byte("*/")); end >= 0 {
			s.i += 2 + end + 2
			comment = true
		} else {
			s.openComments = s.i // no comment closes from here on: "/" and "*" lex apart
			s.i++
		}
	case digit(c):
		s.number()
	case identByte(c):
		for s.i < len(s.src) && identByte(s.src[s.i]) {
			s.i++
		}
	case c == '"':
		s.i++
		s.push(scanFrame{mode: scanQuoted})
	case c == '<' && s.peek(1) == '<' && heredocMarker(rest) != nil:
		marker := heredocMarker(rest)
		s.i += bytes.IndexByte(rest, '\n') + 1 // just past the marker
		s.push(scanFrame{mode: scanHeredoc, marker: marker})
	case c == '{':
		s.i++
		top.braces++
		s.open()
	case c == '}':
		s.i++
		if top.braces > 0 {
			top.braces--
			s.close()
		} else {
			s.pop() // the end of an interpolation
		}
	case c == '(' || c == '[':
		s.i++
		s.open()
	case c == ')' || c == ']':
		s.i++
		s.close()
	default:
		s.i++
	}
	s.tokens++
	switch {
	case c == '-' || c == '!':
		if s.unary++; s.unary > NestingMax {
			s.why = nestedTooDeep
		}
	case c != '\n' && !comment:
		s.unary = 0
	}
}

// template takes one token of a quoted string or heredoc.
func (s *hclScan) template(top *scanFrame) {
	rest := s.src[s.i:]
	if top.mode == scanHeredoc && !top.midLine {
		line, _, _ := bytes.Cut(rest, []byte("\n"))
		if bytes.Equal(bytes.TrimSpace(line), top.marker) {
			s.i += len(line)
			s.tokens++
			s.pop()
			return
		}
	}
	switch {
	case top.mode == scanQuoted && rest[0] == '"':
		s.i++
		s.pop()
	case top.mode == scanQuoted && rest[0] == '\n':
		s.i++ // a token of its own, in a string left open
		s.literal(top, 1)
	case bytes.HasPrefix(rest, []byte("$${")) || bytes.HasPrefix(rest, []byte("%%{")):
		s.i += 3
		top.midLine = true
		s.literal(top, 3)
	case bytes.HasPrefix(rest, []byte("${")) || bytes.HasPrefix(rest, []byte("%{")):
		s.i += 2
		top.midLine, top.runBytes = true, 0
		s.push(scanFrame{mode: scanExpr})
	default:
		start := s.i
		top.midLine = true
		s.i = s.literalEnd(top)
		s.literal(top, s.i-start)
	}
	s.tokens++
}

// literalEnd is where the literal run at s.i ends: before a '$', '%' or
// '\r' (each a token of its own) or a closing quote; in a heredoc, after the
// newline.
func (s *hclScan) literalEnd(top *scanFrame) int {
	if c := s.src[s.i]; c == '$' || c == '%' || c == '\r' {
		return s.i + 1 // a token of its own
	}
	for i := s.i; i < len(s.src); i++ {
		switch c := s.src[i]; {
		case c == '\\' && top.mode == scanQuoted:
			if i+1 == len(s.src) || s.src[i+1] == '\n' || s.src[i+1] == '\r' {
				// A backslash ending the line or the file escapes nothing:
				// the lexer makes it a token of its own.
				return max(i, s.i+1)
			}
			i++ // an escape stays in the run
		case (c == '"' || c == '\n') && top.mode == scanQuoted:
			return i
		case c == '\n':
			top.midLine = false
			return i + 1
		case c == '$' || c == '%' || c == '\r':
			return i // the lexer splits literals at each: one may start an interpolation
		}
	}
	return len(s.src)
}

// literal records a literal token of n bytes in the template's current run
// and charges joining it: hclsyntax appends each literal of a run to the
// string of those before it, so k pieces of B bytes copy up to k·B.
func (s *hclScan) literal(top *scanFrame, n int) {
	top.runBytes += n
	if s.joinBytes += top.runBytes; s.joinBytes > LiteralJoinBytesMax {
		s.why = fmt.Sprintf("a template's literal text would cost more than %d bytes to join (LiteralJoinBytesMax)", LiteralJoinBytesMax)
	}
}

// number takes a number literal as the lexer does: digits, then a fraction
// and an exponent where digits follow.
func (s *hclScan) number() {
	s.digits()
	if s.peek(0) == '.' && digit(s.peek(1)) {
		s.i++
		s.digits()
	}
	if e := s.peek(0); e == 'e' || e == 'E' {
		switch sign := s.peek(1); {
		case digit(sign):
			s.i++
			s.digits()
		case (sign == '+' || sign == '-') && digit(s.peek(2)):
			s.i += 2
			s.digits()
		}
	}
}

func (s *hclScan) digits() {
	for s.i < len(s.src) && digit(s.src[s.i]) {
		s.i++
	}
}

func digit(c byte) bool  { return '0' <= c && c <= '9' }
func letter(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }

// identByte reports whether c continues an identifier or a number.
func identByte(c byte) bool { return c == '_' || digit(c) || letter(c) }

// heredocMarker is the marker of the heredoc that src opens (<<EOF or
// <<-EOF, then a newline), or nil. It reads no further than the marker.
func heredocMarker(src []byte) []byte {
	start := 2
	if len(src) > start && src[start] == '-' {
		start++
	}
	if len(src) == start || src[start] != '_' && !letter(src[start]) {
		return nil // a marker is an identifier
	}
	end := start
	for end < len(src) && (identByte(src[end]) || src[end] == '-') {
		end++
	}
	rest := src[end:]
	if !bytes.HasPrefix(rest, []byte("\n")) && !bytes.HasPrefix(rest, []byte("\r\n")) {
		return nil
	}
	return src[start:end]
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

// boundTemplates makes every part of every string template in body (an
// interpolation, a directive's result or literal text) a call of
// templatePart, which charges it to the file's budget before the template
// appends it and keeps runs of digits across parts within DigitRunMax, so
// that no template builds a string the budget has not allowed or one that
// costs more to read as a number than its size. It edits only this file's
// syntax tree; a call, unlike a wrapper type, leaves every part visible to
// hclsyntax's walks (hclsyntax.Variables among them). A template that is
// one interpolation alone ("${x}") copies nothing and is left alone.
func boundTemplates(body *hclsyntax.Body, budget *evalBudget) {
	var templates []*hclsyntax.TemplateExpr
	hclsyntax.VisitAll(body, func(n hclsyntax.Node) hcl.Diagnostics {
		if t, ok := n.(*hclsyntax.TemplateExpr); ok {
			templates = append(templates, t)
		}
		return nil
	})
	budget.runs = make([]int, len(templates))
	// Rewritten after the walk, which would otherwise step over a
	// template that is a part of another.
	for ti, t := range templates {
		for i, part := range t.Parts {
			r := part.Range()
			at := func(n int) hclsyntax.Expression {
				return &hclsyntax.LiteralValueExpr{Val: cty.NumberIntVal(int64(n)), SrcRange: r}
			}
			t.Parts[i] = &hclsyntax.FunctionCallExpr{
				Name: templatePart, Args: []hclsyntax.Expression{part, at(ti), at(i)},
				NameRange: r, OpenParenRange: r, CloseParenRange: r,
			}
		}
	}
}

// templatePart names the function boundTemplates calls: templatePart(value,
// template, part) is value, charged. A name with a space cannot be written
// in a file.
const templatePart = "template part"

// templatePartFunc is templatePart for a file's budget.
func templatePartFunc(budget *evalBudget) function.Function {
	any := function.Parameter{Name: "value", Type: cty.DynamicPseudoType, AllowNull: true, AllowUnknown: true, AllowDynamicType: true, AllowMarked: true}
	return function.New(&function.Spec{
		Params: []function.Parameter{any, {Name: "template", Type: cty.Number}, {Name: "part", Type: cty.Number}},
		Type:   func(args []cty.Value) (cty.Type, error) { return args[0].Type(), nil },
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			v, _ := args[0].Unmark()
			t, _ := args[1].AsBigFloat().Int64()
			if i, _ := args[2].AsBigFloat().Int64(); i == 0 {
				budget.runs[t] = 0 // the template starts again
			}
			if err := budget.spend("template", ctySize(v)); err != nil {
				return cty.NilVal, err
			}
			if text, ok := templateText(v); ok {
				run, err := digitRuns(budget.runs[t], text)
				if err != nil {
					return cty.NilVal, fmt.Errorf("template: %w", err)
				}
				budget.runs[t] = run
			}
			return args[0], nil
		},
	})
}

// templateText is v as a template writes it, if it is known and has a text.
func templateText(v cty.Value) (string, bool) {
	if !v.IsKnown() || v.IsNull() {
		return "", false
	}
	s, err := convert.Convert(v, cty.String)
	if err != nil {
		return "", false
	}
	return s.AsString(), true
}

// digitRuns follows the runs of ASCII digits through text, which continues
// a run of before digits, and returns the run it ends with. It fails on a
// run longer than DigitRunMax: cty reads a decimal number (converting a
// string to a number, parsing JSON) in time and memory quadratic in its
// digits.
func digitRuns[T string | []byte](before int, text T) (int, error) {
	run := before
	for i := 0; i < len(text); i++ {
		if !digit(text[i]) {
			run = 0
			continue
		}
		if run++; run > DigitRunMax {
			return 0, errDigits
		}
	}
	return run, nil
}

var errDigits = fmt.Errorf("more than %d digits in a row (DigitRunMax)", DigitRunMax)

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

// checkValue fails if v holds a number beyond float64's range, a string
// with more than DigitRunMax digits in a row or a collection of more than
// CollectionMax elements.
func checkValue(v cty.Value) error {
	v, _ = v.Unmark()
	switch t := v.Type(); {
	case !v.IsKnown() || v.IsNull():
		return nil
	case t == cty.Number:
		if !inRange(v.AsBigFloat()) {
			return errNumberRange
		}
	case t == cty.String:
		if _, err := digitRuns(0, v.AsString()); err != nil {
			return err
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

// ctySize bounds the bytes a value takes as JSON (before escaping) or as
// template text, to bound evaluation.
func ctySize(v cty.Value) int {
	v, _ = v.Unmark()
	switch t := v.Type(); {
	case !v.IsKnown() || v.IsNull():
		return 4
	case t == cty.String:
		return len(v.AsString()) + 2
	case t == cty.Number:
		return numberBytes(v.AsBigFloat())
	case t == cty.Bool:
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

// numberBytes bounds the length of a number's decimal text as cty writes it
// (big.Float's shortest 'f' form, in templates, jsonencode and format): its
// integer digits, and for a fraction its leading zeros and as many
// significant digits as its precision holds. 1e-300 takes 300 bytes, though
// the source wrote it in six.
func numberBytes(f *big.Float) int {
	const log10of2 = 30103 // per 100000
	exp := f.MantExp(nil)
	n := 2 + max(exp, 1)*log10of2/100000 // sign and integer digits
	if !f.IsInt() {
		n += 2 + (max(-exp, 0)+int(f.Prec()))*log10of2/100000
	}
	return n
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

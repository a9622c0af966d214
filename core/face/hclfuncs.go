package face

import (
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/ext/tryfunc"
	"github.com/hashicorp/hcl/v2/ext/typeexpr"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/function"
	"github.com/zclconf/go-cty/cty/function/stdlib"
)

// Numbers: cty keeps numbers as 512-bit big.Floats with an unbounded
// exponent, and formatting one (string conversion, JSON, equality) costs
// time and memory in proportion to the exponent: "${1e999999999}" would
// never finish. So every number that evaluation creates must lie in
// float64's range: literals and variable values are checked, and operators
// and functions refuse such arguments and results (boundOperators,
// boundedFunc). By induction no out-of-range number is ever formatted.

// nomadFunctions are the HCL functions a job may call: the deterministic,
// file-system-free part of Nomad's jobspec2 function table, each wrapped so
// that no call can produce more than InputBytesMax and all calls together
// stay within the file's budget (see boundedFunc). Nomad's other functions
// are present as stubs that fail with the reason.
func nomadFunctions(budget *evalBudget) map[string]function.Function {
	fs := map[string]function.Function{"can": tryfunc.CanFunc, "try": tryfunc.TryFunc, templatePart: templatePartFunc(budget)}
	for name, fn := range pureFunctions {
		pre := preBounds[name]
		if pre == nil {
			pre = argsBound
		}
		fs[name] = boundedFunc(name, fn, pre, budget)
	}
	for why, names := range refusedFunctions {
		for _, name := range strings.Fields(names) {
			fs[name] = refusedFunc(name, why)
		}
	}
	return fs
}

// pureFunctions come from go-cty's stdlib (and one of ours), under Nomad's names.
var pureFunctions = map[string]function.Function{
	"abs": stdlib.AbsoluteFunc, "ceil": stdlib.CeilFunc, "chomp": stdlib.ChompFunc,
	"chunklist": stdlib.ChunklistFunc, "coalesce": stdlib.CoalesceFunc, "coalescelist": stdlib.CoalesceListFunc,
	"compact": stdlib.CompactFunc, "concat": stdlib.ConcatFunc, "contains": stdlib.ContainsFunc,
	"convert": typeexpr.ConvertFunc, "csvdecode": stdlib.CSVDecodeFunc, "distinct": stdlib.DistinctFunc,
	"element": stdlib.ElementFunc, "flatten": stdlib.FlattenFunc, "floor": stdlib.FloorFunc,
	"format": stdlib.FormatFunc, "formatdate": stdlib.FormatDateFunc, "index": stdlib.IndexFunc,
	"join": stdlib.JoinFunc, "jsondecode": stdlib.JSONDecodeFunc, "jsonencode": stdlib.JSONEncodeFunc,
	"keys": stdlib.KeysFunc, "length": stdlib.LengthFunc, "log": stdlib.LogFunc,
	"lookup": stdlib.LookupFunc, "lower": stdlib.LowerFunc, "max": stdlib.MaxFunc,
	"merge": stdlib.MergeFunc, "min": stdlib.MinFunc, "parseint": stdlib.ParseIntFunc,
	"regex_replace": stdlib.RegexReplaceFunc, "replace": stdlib.ReplaceFunc, "reverse": stdlib.ReverseListFunc,
	"setintersection": stdlib.SetIntersectionFunc, "setunion": stdlib.SetUnionFunc, "signum": stdlib.SignumFunc,
	"slice": stdlib.SliceFunc, "sort": stdlib.SortFunc, "split": stdlib.SplitFunc,
	"strlen": stdlib.StrlenFunc, "strrev": stdlib.ReverseFunc, "substr": stdlib.SubstrFunc,
	"timeadd": stdlib.TimeAddFunc, "title": stdlib.TitleFunc, "trim": stdlib.TrimFunc,
	"trimprefix": stdlib.TrimPrefixFunc, "trimspace": stdlib.TrimSpaceFunc, "trimsuffix": stdlib.TrimSuffixFunc,
	"upper": stdlib.UpperFunc, "uuidv5": uuidV5Func, "values": stdlib.ValuesFunc,
	"zipmap": stdlib.ZipmapFunc,
}

// refusedFunctions are Nomad's other functions, by the reason revoada
// refuses them.
var refusedFunctions = map[string]string{
	"reads the file system, and revoada evaluates jobs without one": "abspath basename dirname file filebase64 fileexists fileset pathexpand templatefile",
	"is not deterministic; every replica must store the same bytes": "uuidv4 uuid bcrypt timestamp",
	"can expand its input far beyond the payload limit":             "range formatlist setproduct indent pow",
	"is not provided by revoada's Nomad face":                       "base64decode base64encode cidrhost cidrnetmask cidrsubnet cidrsubnets md5 rsadecrypt sha1 sha256 sha512 urlencode yamldecode yamlencode",
}

// preBounds bound, before the call, the size of each function's result (or
// its work), as ctySize counts, so that no call makes a result its file
// cannot afford. A function not listed returns no more than its arguments
// (argsBound).
var preBounds = map[string]func(args []cty.Value) int{
	"join":          joinBound,
	"replace":       replaceBound,
	"regex_replace": regexReplaceBound,
	"format":        formatBound,
	"formatdate":    scaledBound(3), // "MMMM" writes "September"
	"timeadd":       addBound(64),   // an RFC 3339 timestamp
	"convert":       addBound(32),   // a number written as a string
	"csvdecode":     csvBound,
	"jsondecode":    scaledBound(5), // "1," decodes to a number ctySize counts 9
	"jsonencode":    scaledBound(6), // "<" encodes as "\u003c"
	"lower":         scaledBound(2), // case mapping can lengthen a rune
	"upper":         scaledBound(2),
	"title":         scaledBound(2),
	"chunklist":     scaledBound(2), // a list per element at worst
	"split":         splitBound,
	"uuidv5":        addBound(40),
	"distinct":      quadraticBound, // cty compares every pair
	"parseint":      parseBound,
}

// preElements bound, before the call, the elements of the collections a
// function makes where that can exceed the arguments' own (checkValue
// bounds those), so that none is built over CollectionMax.
var preElements = map[string]func(args []cty.Value) int{
	"split":     splitPieces,
	"csvdecode": csvCells,
	"concat":    sumLengths,
	"merge":     sumLengths,
	"setunion":  sumLengths,
	"flatten":   flatLength,
}

// boundedFunc wraps fn with the file's bounds. Before the call (in the
// type check, which for some functions already does the work) it counts
// the call against EvalCallsMax, refuses arguments that fail checkValue
// (numbers beyond float64, collections over CollectionMax), collections the
// call would build over CollectionMax (preElements), and a call whose
// result could exceed InputBytesMax or the file's remaining EvalBytesMax
// (pre). After the call it charges the result's size to the budget and
// checks the result as it checked the arguments.
func boundedFunc(name string, fn function.Function, pre func([]cty.Value) int, budget *evalBudget) function.Function {
	return function.New(&function.Spec{
		Description: fn.Description(),
		Params:      fn.Params(),
		VarParam:    fn.VarParam(),
		Type: func(args []cty.Value) (cty.Type, error) {
			if err := preCheck(name, args, pre, budget); err != nil {
				return cty.NilType, err
			}
			return fn.ReturnTypeForValues(args)
		},
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			v, err := fn.Call(args)
			if err != nil {
				return cty.NilVal, err
			}
			size := ctySize(v)
			if size > InputBytesMax {
				return cty.NilVal, fmt.Errorf("%s produced more than %d bytes", name, InputBytesMax)
			}
			if err := budget.spend(name, size); err != nil {
				return cty.NilVal, err
			}
			if err := checkValue(v); err != nil {
				return cty.NilVal, fmt.Errorf("%s: %w", name, err)
			}
			return v, nil
		},
	})
}

// preCheck is boundedFunc's check before a call.
func preCheck(name string, args []cty.Value, pre func([]cty.Value) int, budget *evalBudget) error {
	if err := budget.call(name); err != nil {
		return err
	}
	for _, a := range args {
		if err := checkValue(a); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
	}
	if !argsKnown(args) {
		return nil
	}
	if count := preElements[name]; count != nil && count(args) > CollectionMax {
		return fmt.Errorf("%s: %w", name, errCollection)
	}
	if pre == nil {
		return nil
	}
	n := pre(args)
	if n > InputBytesMax {
		return fmt.Errorf("%s: these arguments could cost more than %d bytes or steps", name, InputBytesMax)
	}
	return budget.reserve(name, n)
}

// evalBudget is what evaluating one HCL file may spend, all attributes,
// variable defaults and validations together: EvalCallsMax function calls
// and operators, and EvalBytesMax bytes (as ctySize counts them) of function
// results and template interpolations, intermediate results included. A
// bounded function reserves its pre-bound before it runs and spends what it
// produced; a template part spends its size before the template appends it.
//
// The first overrun sticks: every later call fails at once, and the
// attribute being evaluated fails even where try or can swallowed the
// function's error (see jobEval.attr), so a file either fits its budget or
// is refused.
type evalBudget struct {
	calls int
	bytes int
	err   error // the first overrun
	runs  []int // each template's run of digits so far (boundTemplates)
}

// call counts one function call or operator.
func (b *evalBudget) call(name string) error {
	if b.calls++; b.calls > EvalCallsMax && b.err == nil {
		b.err = fmt.Errorf("%s: the file makes more than %d function calls and operators (EvalCallsMax)", name, EvalCallsMax)
	}
	return b.err
}

// reserve checks that n more bytes fit the budget, without spending them.
func (b *evalBudget) reserve(what string, n int) error {
	if b.err == nil && n > EvalBytesMax-b.bytes {
		b.err = fmt.Errorf("%s: the file's functions and templates would produce more than %d bytes (EvalBytesMax)", what, EvalBytesMax)
	}
	return b.err
}

// spend charges n bytes produced.
func (b *evalBudget) spend(what string, n int) error {
	if err := b.reserve(what, n); err != nil {
		return err
	}
	b.bytes += n
	return nil
}

// boundOperators gives every operator in the parsed file (arithmetic,
// comparison, logic) a bounded implementation, as boundedFunc does for
// functions, charged to the file's budget; it edits only this file's syntax
// tree. It refuses a file with more than OperatorsMax operators and
// conditionals: each costs a function call, and a long chain makes a deep
// tree.
func boundOperators(body *hclsyntax.Body, budget *evalBudget) error {
	bounded := map[*hclsyntax.Operation]*hclsyntax.Operation{}
	wrap := func(op *hclsyntax.Operation) *hclsyntax.Operation {
		if w, ok := bounded[op]; ok {
			return w
		}
		w := *op
		w.Impl = boundedFunc("operator", op.Impl, nil, budget)
		bounded[op] = &w
		return &w
	}
	n := 0
	hclsyntax.VisitAll(body, func(node hclsyntax.Node) hcl.Diagnostics {
		switch e := node.(type) {
		case *hclsyntax.BinaryOpExpr:
			e.Op, n = wrap(e.Op), n+1
		case *hclsyntax.UnaryOpExpr:
			e.Op, n = wrap(e.Op), n+1
		case *hclsyntax.ConditionalExpr:
			n++
		}
		return nil
	})
	if n > OperatorsMax {
		return invalid("input", "%d operators and conditionals, limit %d", n, OperatorsMax)
	}
	return nil
}

func argsKnown(args []cty.Value) bool {
	for _, a := range args {
		if !a.IsWhollyKnown() || a.IsNull() {
			return false
		}
	}
	return true
}

// refusedFunc is a stand-in that fails every call with why.
func refusedFunc(name, why string) function.Function {
	return function.New(&function.Spec{
		VarParam: &function.Parameter{Name: "args", Type: cty.DynamicPseudoType, AllowNull: true, AllowUnknown: true, AllowDynamicType: true},
		Type: func([]cty.Value) (cty.Type, error) {
			return cty.NilType, fmt.Errorf("function %s %s", name, why)
		},
	})
}

// argsBound is the size of the arguments: the bound of a function whose
// result is made of what it was given.
func argsBound(args []cty.Value) int {
	n := 0
	for _, a := range args {
		n += ctySize(a)
	}
	return n
}

// scaledBound is k times the arguments' size.
func scaledBound(k int) func([]cty.Value) int {
	return func(args []cty.Value) int { return k * argsBound(args) }
}

// addBound is the arguments' size and n more bytes.
func addBound(n int) func([]cty.Value) int {
	return func(args []cty.Value) int { return argsBound(args) + n }
}

// quadraticBound charges distinct(list) its n² comparisons, refusing lists
// of more than about a thousand elements.
func quadraticBound(args []cty.Value) int {
	n := 0
	if args[0].CanIterateElements() {
		n = args[0].LengthInt()
	}
	return n * n
}

// parseBound charges parseint(s, base) the square of s's length: math/big
// reads a number in a base that is not a power of two in quadratic time.
func parseBound(args []cty.Value) int {
	n := len(args[0].AsString())
	return n * n
}

// joinBound is join(sep, lists...): every element plus a separator each.
func joinBound(args []cty.Value) int {
	n := 0
	sep := ctySize(args[0])
	for _, list := range args[1:] {
		n += ctySize(list)
		if list.CanIterateElements() {
			n += sep * list.LengthInt()
		}
	}
	return n
}

// replaceBound is replace(s, old, new), a plain substring replacement:
// each match of old becomes new, and an empty old matches between every
// two runes and at both ends.
func replaceBound(args []cty.Value) int {
	s, old, repl := args[0].AsString(), args[1].AsString(), args[2].AsString()
	matches := strings.Count(s, old)
	return len(s) + matches*max(len(repl)-len(old), 0) + 2
}

// regexReplaceBound is regex_replace(s, pattern, new): at most one match
// per byte and one more (a pattern can match empty), each writing new with
// every $ reference expanded; the matches do not overlap, so all the
// expansions of one reference together copy s at most once.
func regexReplaceBound(args []cty.Value) int {
	s, repl := args[0].AsString(), args[2].AsString()
	return len(s) + (len(s)+1)*len(repl) + strings.Count(repl, "$")*len(s) + 2
}

// formatBound is format(f, args...): each verb can print the largest
// argument (JSON-escaped, for %#v; a number in binary, for %b, takes less
// than six times the decimal ctySize counts), padded by any width or
// precision written in f.
var formatWidth = regexp.MustCompile(`[0-9]+`)

func formatBound(args []cty.Value) int {
	f := args[0].AsString()
	largest := 0
	for _, a := range args[1:] {
		largest = max(largest, 6*ctySize(a)) // %#v writes JSON, "<" as "\u003c"
	}
	n := len(f) + strings.Count(f, "%")*largest
	for _, w := range formatWidth.FindAllString(f, -1) {
		if len(w) > 7 {
			return InputBytesMax + 1
		}
		x, _ := strconv.Atoi(w)
		n += x
	}
	return n
}

// csvBound is csvdecode(s): every row an object repeating the header's
// names and a few bytes a cell.
func csvBound(args []cty.Value) int {
	s := args[0].AsString()
	header := csvHeader(s)
	return len(s) + csvRows(s)*(len(header)+4*csvColumns(header))
}

// csvCells is csvdecode(s)'s largest collection: its rows, or the
// attributes of one.
func csvCells(args []cty.Value) int {
	s := args[0].AsString()
	return max(csvRows(s), csvColumns(csvHeader(s)))
}

// csvHeader is the first line of s, or all of s where a quote on the first
// line may carry the header past it.
func csvHeader(s string) string {
	if line, _, _ := strings.Cut(s, "\n"); !strings.Contains(line, `"`) {
		return line
	}
	return s
}

func csvRows(s string) int         { return strings.Count(s, "\n") + 1 }
func csvColumns(header string) int { return strings.Count(header, ",") + 1 }

// splitBound is split(sep, s): s's bytes, and a string's overhead a piece.
func splitBound(args []cty.Value) int {
	return ctySize(args[1]) + 3*splitPieces(args)
}

// splitPieces is split(sep, s)'s length: one more than the separators, and
// one per rune for an empty separator.
func splitPieces(args []cty.Value) int {
	return strings.Count(args[1].AsString(), args[0].AsString()) + 1
}

// sumLengths is the elements of all the arguments together: concat's,
// merge's and setunion's most.
func sumLengths(args []cty.Value) int {
	n := 0
	for _, a := range args {
		if a.CanIterateElements() {
			n += a.LengthInt()
		}
	}
	return n
}

// flatLength is flatten(list)'s length: the elements that are not lists,
// counted down every level, stopping once past CollectionMax.
func flatLength(args []cty.Value) int {
	n := 0
	var walk func(v cty.Value)
	walk = func(v cty.Value) {
		for it := v.ElementIterator(); it.Next() && n <= CollectionMax; {
			_, e := it.Element()
			if t := e.Type(); (t.IsListType() || t.IsTupleType() || t.IsSetType()) && e.IsKnown() && !e.IsNull() {
				walk(e)
			} else {
				n++
			}
		}
	}
	if args[0].CanIterateElements() {
		walk(args[0])
	}
	return n
}

// uuidV5Func is Nomad's uuidv5(namespace, name): an RFC 4122 version 5 UUID
// (SHA-1, name-based). namespace is "dns", "url", "oid", "x500" or a UUID.
var uuidV5Func = function.New(&function.Spec{
	Params: []function.Parameter{{Name: "namespace", Type: cty.String}, {Name: "name", Type: cty.String}},
	Type:   function.StaticReturnType(cty.String),
	Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
		ns, err := uuidNamespace(args[0].AsString())
		if err != nil {
			return cty.NilVal, err
		}
		return cty.StringVal(uuidV5(ns, args[1].AsString())), nil
	},
})

var uuidNamespaces = map[string]string{
	"dns":  "6ba7b810-9dad-11d1-80b4-00c04fd430c8",
	"url":  "6ba7b811-9dad-11d1-80b4-00c04fd430c8",
	"oid":  "6ba7b812-9dad-11d1-80b4-00c04fd430c8",
	"x500": "6ba7b814-9dad-11d1-80b4-00c04fd430c8",
}

func uuidNamespace(s string) ([]byte, error) {
	if u, ok := uuidNamespaces[s]; ok {
		s = u
	}
	b, err := hex.DecodeString(strings.ReplaceAll(s, "-", ""))
	if err != nil || len(b) != 16 || len(s) != 36 || !utf8.ValidString(s) {
		return nil, fmt.Errorf("uuidv5: namespace %q is not dns, url, oid, x500 or a UUID", s)
	}
	return b, nil
}

func uuidV5(ns []byte, name string) string {
	h := sha1.New()
	h.Write(ns)
	h.Write([]byte(name))
	u := h.Sum(nil)[:16]
	u[6] = u[6]&0x0f | 0x50 // version 5
	u[8] = u[8]&0x3f | 0x80 // RFC 4122 variant
	x := hex.EncodeToString(u)
	return x[:8] + "-" + x[8:12] + "-" + x[12:16] + "-" + x[16:20] + "-" + x[20:]
}

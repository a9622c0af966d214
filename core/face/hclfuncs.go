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
// that no call can produce more than InputBytesMax (see boundedFunc).
// Nomad's other functions are present as stubs that fail with the reason.
func nomadFunctions() map[string]function.Function {
	fs := map[string]function.Function{"can": tryfunc.CanFunc, "try": tryfunc.TryFunc}
	for name, fn := range pureFunctions {
		fs[name] = boundedFunc(name, fn, preBounds[name])
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

// preBounds bound, before the call, the output (or work) of the functions
// whose output can grow with the product of their inputs.
var preBounds = map[string]func(args []cty.Value) int{
	"join":          joinBound,
	"replace":       replaceBound,
	"regex_replace": replaceBound,
	"format":        formatBound,
	"distinct":      quadraticBound, // cty compares every pair
}

// boundedFunc wraps fn: it refuses arguments and results that fail
// checkValue (numbers beyond float64, collections over CollectionMax), a
// call whose pre-bound exceeds InputBytesMax, and a result larger than
// that.
func boundedFunc(name string, fn function.Function, pre func([]cty.Value) int) function.Function {
	return function.New(&function.Spec{
		Description: fn.Description(),
		Params:      fn.Params(),
		VarParam:    fn.VarParam(),
		Type:        fn.ReturnTypeForValues,
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			for _, a := range args {
				if err := checkValue(a); err != nil {
					return cty.NilVal, fmt.Errorf("%s: %w", name, err)
				}
			}
			if pre != nil && argsKnown(args) && pre(args) > InputBytesMax {
				return cty.NilVal, fmt.Errorf("%s: these arguments could cost more than %d bytes or steps", name, InputBytesMax)
			}
			v, err := fn.Call(args)
			if err != nil {
				return cty.NilVal, err
			}
			if ctySize(v) > InputBytesMax {
				return cty.NilVal, fmt.Errorf("%s produced more than %d bytes", name, InputBytesMax)
			}
			if err := checkValue(v); err != nil {
				return cty.NilVal, fmt.Errorf("%s: %w", name, err)
			}
			return v, nil
		},
	})
}

// boundOperators gives every operator in the parsed file (arithmetic,
// comparison, logic) a bounded implementation, as boundedFunc does for
// functions; it edits only this file's syntax tree. It refuses a file with
// more than OperatorsMax operators and conditionals: each costs a function
// call, and a long chain makes a deep tree.
func boundOperators(body *hclsyntax.Body) error {
	bounded := map[*hclsyntax.Operation]*hclsyntax.Operation{}
	wrap := func(op *hclsyntax.Operation) *hclsyntax.Operation {
		if w, ok := bounded[op]; ok {
			return w
		}
		w := *op
		w.Impl = boundedFunc("operator", op.Impl, nil)
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

// quadraticBound charges distinct(list) its n² comparisons, refusing lists
// of more than about a thousand elements.
func quadraticBound(args []cty.Value) int {
	n := 0
	if args[0].CanIterateElements() {
		n = args[0].LengthInt()
	}
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

// replaceBound is replace(s, old, new): at most one new per match, and for
// a pattern (or an empty old) one match per byte.
func replaceBound(args []cty.Value) int {
	s, old, repl := args[0].AsString(), args[1].AsString(), args[2].AsString()
	matches := len(s) + 1
	if !strings.HasPrefix(old, "/") && old != "" {
		matches = strings.Count(s, old)
	}
	return len(s) + matches*len(repl)
}

// formatBound is format(f, args...): each verb can print the largest
// argument, padded by any width written in f.
var formatWidth = regexp.MustCompile(`[0-9]+`)

func formatBound(args []cty.Value) int {
	f := args[0].AsString()
	largest := 0
	for _, a := range args[1:] {
		largest = max(largest, ctySize(a))
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

package face

import (
	"slices"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/ext/typeexpr"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
	"github.com/zclconf/go-cty/cty/function"
)

// jobFile is the top level of an HCL job file.
type jobFile struct {
	job       *hclsyntax.Block
	variable  []*hclsyntax.Block // variable "name" { default = ... }
	variables []*hclsyntax.Block // variables { name = ... }
}

// decodeJobHCL parses and evaluates an HCL2 job file (see the package doc
// for the evaluation rules) into the API form (nomadapi.go).
func decodeJobHCL(file string, data []byte) (nomadJob, error) {
	budget := &evalBudget{}
	body, err := parseHCL(file, data, budget)
	if err != nil {
		return nomadJob{}, err
	}
	jf, err := splitJobFile(body)
	if err != nil {
		return nomadJob{}, err
	}
	vars, err := jf.values(budget)
	if err != nil {
		return nomadJob{}, err
	}
	ev, err := newJobEval(jf.job.Body, vars, budget)
	if err != nil {
		return nomadJob{}, err
	}
	path := blockPath("", jf.job)
	jb, err := ev.body(jf.job.Body, path)
	if err != nil {
		return nomadJob{}, err
	}
	return convertJob(jf.job.Labels[0], jb, path)
}

// parseHCL parses a file with the guards that keep parsing and evaluation
// bounded: its tokens counted (before anything lexes it), nesting (before
// the recursive parser runs), then no for expressions, number literals in
// range, and operators and templates charged to the file's evaluation
// budget (functions are charged by nomadFunctions).
func parseHCL(file string, data []byte, budget *evalBudget) (*hclsyntax.Body, error) {
	if err := checkHCLTokens(data); err != nil {
		return nil, err
	}
	if err := checkHCLNesting(data, file); err != nil {
		return nil, err
	}
	f, diags := hclsyntax.ParseConfig(data, file, hcl.InitialPos)
	if diags.HasErrors() {
		return nil, diagError("", diags)
	}
	body := f.Body.(*hclsyntax.Body)
	if err := rejectForExprs(body); err != nil {
		return nil, err
	}
	if err := checkLiterals(body); err != nil {
		return nil, err
	}
	if err := boundOperators(body, budget); err != nil {
		return nil, err
	}
	boundTemplates(body, budget)
	return body, nil
}

// splitJobFile sorts the top-level blocks: exactly one job, any variable
// and variables blocks, nothing else.
func splitJobFile(body *hclsyntax.Body) (jobFile, error) {
	if attrs := sortedAttrs(body); len(attrs) > 0 {
		return jobFile{}, invalid(attrs[0].Name, "line %d: top-level attribute; a job file holds job, variable and variables blocks", attrs[0].SrcRange.Start.Line)
	}
	var jf jobFile
	var other []*hclsyntax.Block
	for _, b := range body.Blocks {
		if err := jf.add(b); err != nil {
			return jobFile{}, err
		}
		if b.Type != "job" && b.Type != "variable" && b.Type != "variables" {
			other = append(other, b)
		}
	}
	switch {
	case jf.job == nil && len(other) > 0:
		return jobFile{}, unsupported("job", "not a job: the file holds a %s block", blockPath("", other[0]))
	case jf.job == nil:
		return jobFile{}, unsupported("job", "not a job: the file has no job block")
	case len(other) > 0:
		return jobFile{}, invalid(blockPath("", other[0]), "line %d: unexpected top-level block; a job file holds job, variable and variables blocks", other[0].DefRange().Start.Line)
	}
	return jf, nil
}

func (jf *jobFile) add(b *hclsyntax.Block) error {
	line := b.DefRange().Start.Line
	switch b.Type {
	case "job":
		if jf.job != nil {
			return invalid(blockPath("", b), "line %d: a second job; a file holds exactly one", line)
		}
		if len(b.Labels) != 1 {
			return invalid("job", "line %d: want one label, the job ID", line)
		}
		jf.job = b
	case "variable":
		if len(b.Labels) != 1 {
			return invalid("variable", "line %d: want one label, the variable name", line)
		}
		jf.variable = append(jf.variable, b)
	case "variables":
		jf.variables = append(jf.variables, b)
	case "locals":
		return unsupported("locals", "line %d: locals blocks are not supported; use variable defaults", line)
	}
	return nil
}

// values evaluates the input variables. A variable takes its default,
// evaluated without variables or functions as Nomad does; revoada takes no
// -var input, so a variable without a default is an error.
func (jf *jobFile) values(budget *evalBudget) (map[string]cty.Value, error) {
	vars := map[string]cty.Value{}
	set := func(name, field string, v cty.Value) error {
		if !hclsyntax.ValidIdentifier(name) {
			return invalid(field, "%q is not a valid variable name", name)
		}
		if _, dup := vars[name]; dup {
			return invalid(field, "variable %q is declared twice", name)
		}
		if err := checkValue(v); err != nil {
			return invalid(field, "%v", err)
		}
		vars[name] = v
		return nil
	}
	for _, b := range jf.variable {
		field := blockPath("", b)
		v, err := variableValue(b, field, budget)
		if err == nil {
			err = set(b.Labels[0], field, v)
		}
		if err != nil {
			return nil, err
		}
	}
	for _, b := range jf.variables {
		if len(b.Body.Blocks) > 0 || len(b.Labels) > 0 {
			return nil, invalid("variables", "line %d: a variables block holds only name = default attributes", b.DefRange().Start.Line)
		}
		for _, a := range sortedAttrs(b.Body) {
			field := "variables." + a.Name
			v, diags := a.Expr.Value(defaultsContext(budget))
			if err := evalError(field, a.SrcRange.Start.Line, budget, diags); err != nil {
				return nil, err
			}
			if err := set(a.Name, field, v); err != nil {
				return nil, err
			}
		}
	}
	return vars, nil
}

// variableValue evaluates one variable block: its default, converted to its
// type, checked by its validation blocks.
func variableValue(b *hclsyntax.Block, field string, budget *evalBudget) (cty.Value, error) {
	for _, a := range sortedAttrs(b.Body) {
		if a.Name != "default" && a.Name != "type" && a.Name != "description" {
			return cty.NilVal, invalid(field+"."+a.Name, "line %d: unexpected; a variable has default, type and description", a.SrcRange.Start.Line)
		}
	}
	def, ok := b.Body.Attributes["default"]
	if !ok {
		return cty.NilVal, invalid(field, "line %d: no default: the job needs input variables, and revoada takes none", b.DefRange().Start.Line)
	}
	v, diags := def.Expr.Value(defaultsContext(budget))
	if err := evalError(field+".default", def.SrcRange.Start.Line, budget, diags); err != nil {
		return cty.NilVal, err
	}
	if t, ok := b.Body.Attributes["type"]; ok {
		ty, diags := typeexpr.Type(t.Expr)
		if diags.HasErrors() {
			return cty.NilVal, diagError(field+".type", diags)
		}
		var err error
		if v, err = convert.Convert(v, ty); err != nil {
			return cty.NilVal, invalid(field+".default", "line %d: not a %s: %v", def.SrcRange.Start.Line, ty.FriendlyName(), err)
		}
	}
	if err := checkValue(v); err != nil {
		return cty.NilVal, invalid(field+".default", "line %d: %v", def.SrcRange.Start.Line, err)
	}
	return v, validateVariable(b, field, v, budget)
}

// validateVariable checks v against the variable's validation blocks.
func validateVariable(b *hclsyntax.Block, field string, v cty.Value, budget *evalBudget) error {
	ctx := &hcl.EvalContext{
		Variables: map[string]cty.Value{"var": cty.ObjectVal(map[string]cty.Value{b.Labels[0]: v})},
		Functions: nomadFunctions(budget),
	}
	for _, vb := range b.Body.Blocks {
		if vb.Type != "validation" {
			return invalid(field+"."+vb.Type, "line %d: unexpected block", vb.DefRange().Start.Line)
		}
		cond, ok := vb.Body.Attributes["condition"]
		if !ok {
			return invalid(field+".validation", "line %d: no condition", vb.DefRange().Start.Line)
		}
		ok, diags := evalBool(cond.Expr, ctx)
		if err := evalError(field+".validation.condition", cond.SrcRange.Start.Line, budget, diags); err != nil {
			return err
		}
		if !ok {
			return invalid(field, "default fails its validation: %s", validationMessage(vb, budget))
		}
	}
	return nil
}

// defaultsContext evaluates variable defaults and messages as Nomad does,
// without variables or functions: only boundTemplates' bookkeeping runs.
func defaultsContext(budget *evalBudget) *hcl.EvalContext {
	return &hcl.EvalContext{Functions: map[string]function.Function{templatePart: templatePartFunc(budget)}}
}

// evalError is the error of one evaluation: the budget's overrun first,
// even where try or can swallowed it, else the first diagnostic's.
func evalError(field string, line int, budget *evalBudget, diags hcl.Diagnostics) error {
	switch {
	case budget.err != nil:
		return invalid(field, "line %d: %v", line, budget.err)
	case diags.HasErrors():
		return diagError(field, diags)
	}
	return nil
}

func evalBool(expr hclsyntax.Expression, ctx *hcl.EvalContext) (bool, hcl.Diagnostics) {
	v, diags := expr.Value(ctx)
	if diags.HasErrors() {
		return false, diags
	}
	b, err := convert.Convert(v, cty.Bool)
	if err != nil || !b.IsKnown() || b.IsNull() {
		r := expr.Range()
		return false, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Invalid validation result", Detail: "want true or false", Subject: &r}}
	}
	return b.True(), nil
}

func validationMessage(vb *hclsyntax.Block, budget *evalBudget) string {
	if a, ok := vb.Body.Attributes["error_message"]; ok {
		if v, diags := a.Expr.Value(defaultsContext(budget)); !diags.HasErrors() && v.Type() == cty.String && v.IsKnown() && !v.IsNull() {
			return v.AsString()
		}
	}
	return "(no error_message)"
}

// sortedAttrs lists a body's attributes in source order.
func sortedAttrs(b *hclsyntax.Body) []*hclsyntax.Attribute {
	attrs := make([]*hclsyntax.Attribute, 0, len(b.Attributes))
	for _, a := range b.Attributes {
		attrs = append(attrs, a)
	}
	slices.SortFunc(attrs, func(x, y *hclsyntax.Attribute) int { return x.SrcRange.Start.Byte - y.SrcRange.Start.Byte })
	return attrs
}

// refBytesMax bounds the bytes a job's references may bring into its
// evaluation, all attributes together: each reference (var.x, or a run-time
// one) counts the size of the value it names. With for expressions refused
// and the functions bounded, it bounds evaluation work by a few passes over
// a few MiB, whatever the file repeats.
const refBytesMax = 4 * InputBytesMax

// jobEval evaluates a job block's attributes.
type jobEval struct {
	ctx      *hcl.EvalContext
	vars     map[string]cty.Value
	refBytes int            // bytes brought in by references so far
	sizes    map[string]int // the size of each reference's value, memoised
	total    int            // bytes evaluated so far
	budget   *evalBudget    // the file's, shared with its variables
}

// newJobEval makes the evaluation context: var.* from the variables, Nomad's
// functions, and every other reference root (attr, node, meta, NOMAD_*,
// ...) bound so that it evaluates to its own text, "${attr.kernel.name}".
// Nomad keeps those references for the client to interpolate at run time;
// its HCL fork does it with an UnknownVariable hook, which upstream hcl
// lacks, so revoada binds the references the job actually makes.
func newJobEval(job *hclsyntax.Body, vars map[string]cty.Value, budget *evalBudget) (*jobEval, error) {
	e := &jobEval{vars: vars, sizes: map[string]int{}, budget: budget, ctx: &hcl.EvalContext{Variables: map[string]cty.Value{}, Functions: nomadFunctions(budget)}}
	roots := refNode{}
	hclsyntax.VisitAll(job, func(n hclsyntax.Node) hcl.Diagnostics {
		if a, ok := n.(*hclsyntax.Attribute); ok {
			for _, t := range a.Expr.Variables() {
				if r := t.RootName(); r != "var" && r != "local" {
					roots.add(traversalNames(t))
				}
			}
		}
		return nil
	})
	if len(roots) > CollectionMax || roots.wide() {
		return nil, invalid("input", "more than %d distinct run-time references under one name", CollectionMax)
	}
	for root, n := range roots {
		e.ctx.Variables[root] = n.value([]string{root})
	}
	e.ctx.Variables["var"] = cty.ObjectVal(vars)
	return e, nil
}

// refNode is a tree of the run-time references a job makes.
type refNode map[string]refNode

func (n refNode) add(names []string) {
	for _, name := range names {
		child, ok := n[name]
		if !ok {
			child = refNode{}
			n[name] = child
		}
		n = child
	}
}

// wide reports whether any node below n has more than CollectionMax
// children.
func (n refNode) wide() bool {
	for _, child := range n {
		if len(child) > CollectionMax || child.wide() {
			return true
		}
	}
	return false
}

// value is the node's binding: its own text at a leaf, an object of its
// children otherwise.
func (n refNode) value(path []string) cty.Value {
	if len(n) == 0 {
		return cty.StringVal("${" + strings.Join(path, ".") + "}")
	}
	attrs := make(map[string]cty.Value, len(n))
	for name, child := range n {
		attrs[name] = child.value(append(slices.Clip(path), name))
	}
	return cty.ObjectVal(attrs)
}

// body evaluates a block body: attributes by name as JSON values, blocks
// by type as []hclBlock in file order, for apiJob to convert.
func (e *jobEval) body(b *hclsyntax.Body, path string) (map[string]any, error) {
	out := make(map[string]any, len(b.Attributes)+len(b.Blocks))
	for _, a := range sortedAttrs(b) {
		v, err := e.attr(a, path+"."+a.Name)
		if err != nil {
			return nil, err
		}
		out[a.Name] = v
	}
	for _, blk := range b.Blocks {
		p := blockPath(path, blk)
		if blk.Type == "dynamic" {
			return nil, unsupported(p, "line %d: dynamic blocks are not supported", blk.DefRange().Start.Line)
		}
		if _, clash := b.Attributes[blk.Type]; clash {
			return nil, invalid(p, "line %d: a block and an attribute share the name %q", blk.DefRange().Start.Line, blk.Type)
		}
		v, err := e.body(blk.Body, p)
		if err != nil {
			return nil, err
		}
		have, _ := out[blk.Type].([]hclBlock)
		if len(have) > 0 && len(have[0].labels) != len(blk.Labels) {
			return nil, invalid(p, "line %d: blocks of one type must have the same number of labels", blk.DefRange().Start.Line)
		}
		out[blk.Type] = append(have, hclBlock{labels: blk.Labels, body: v, path: p})
	}
	return out, nil
}

// attr evaluates one attribute, after checking its references and that its
// variable references cannot blow the payload limit.
func (e *jobEval) attr(a *hclsyntax.Attribute, field string) (any, error) {
	line := a.SrcRange.Start.Line
	if err := e.checkRefs(a.Expr, field, line); err != nil {
		return nil, err
	}
	v, diags := a.Expr.Value(e.ctx)
	if err := evalError(field, line, e.budget, diags); err != nil {
		return nil, err
	}
	if e.total += ctySize(v); e.total > InputBytesMax {
		return nil, invalid(field, "line %d: the job evaluates to more than %d bytes", line, InputBytesMax)
	}
	j, err := ctyJSON(v)
	if err != nil {
		return nil, invalid(field, "line %d: %v", line, err)
	}
	return j, nil
}

// checkRefs refuses references to locals and to undeclared variables, and
// charges each reference's value size to the job's refBytesMax budget.
func (e *jobEval) checkRefs(expr hclsyntax.Expression, field string, line int) error {
	for _, t := range expr.Variables() {
		names := traversalNames(t)
		switch names[0] {
		case "local":
			return unsupported(field, "line %d: needs locals (%s); locals blocks are not supported", line, strings.Join(names, "."))
		case "var":
			name := "" // a bare "var" names no variable
			if len(names) > 1 {
				name = names[1]
			}
			if _, ok := e.vars[name]; !ok {
				return invalid(field, "line %d: needs input variables: %s is not declared with a default", line, strings.Join(names, "."))
			}
		}
		if e.refBytes += e.refSize(names); e.refBytes > refBytesMax {
			return invalid(field, "line %d: the job's references bring in more than %d bytes", line, refBytesMax)
		}
	}
	return nil
}

// refSize is the size of the value a reference names, as far as its
// attribute names reach into the bound values.
func (e *jobEval) refSize(names []string) int {
	key := strings.Join(names, ".")
	if n, ok := e.sizes[key]; ok {
		return n
	}
	v, ok := e.ctx.Variables[names[0]]
	if !ok {
		return 0
	}
	for _, name := range names[1:] {
		if !v.Type().IsObjectType() || !v.Type().HasAttribute(name) {
			break
		}
		v = v.GetAttr(name)
	}
	e.sizes[key] = ctySize(v)
	return e.sizes[key]
}

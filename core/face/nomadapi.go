package face

import (
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"time"
)

// The Nomad face stores a job in the form Nomad's HTTP API takes and
// returns, {"Job": {"ID": ..., "TaskGroups": [...]}}: what api.Job marshals
// to and PUT /v1/jobs accepts. A job file (HCL, or HCL's JSON syntax) is
// evaluated into a tree of attributes and blocks (nomadhcl.go), then
// converted here as Nomad's own parser, jobspec2 in Nomad v1.6.1, decodes
// it into api.Job with gohcl: each block and attribute by the hcl tag of the
// api struct field it fills (the table nomadAPITypes, generated from the
// api package), each value converted to the field's type (cpu = "500" is the
// integer 500, "30s" a duration in nanoseconds), plus jobspec2's own rules
// (normalizeJob and its block decoders): a task directly under the job gets
// a group of its own name, constraint and affinity shorthands set Operand,
// ports with a static value are reserved ports, templates, vault and change
// scripts get jobspec2's defaults, a group's and the job's vault block go to
// their tasks, a task's scaling "cpu" and "mem" blocks are vertical scaling
// policies. Only the fields a file sets appear; Nomad fills the rest when it
// registers the job.

// apiKind says how a job file's value becomes the API's.
type apiKind uint8

const (
	apiLabel      apiKind = iota + 1 // the block's label
	apiString                        // a string; numbers and bools are written out
	apiBool                          // true, false, "true" or "false"
	apiInt8                          // an integer, or a string holding one, in the type's range
	apiInt16                         //
	apiInt32                         //
	apiInt64                         //
	apiUint8                         //
	apiUint16                        //
	apiUint32                        //
	apiUint64                        //
	apiFloat                         // a number, or a string holding one
	apiDuration                      // a Go duration string ("30s") or nanoseconds
	apiStrings                       // a list of strings
	apiStringMap                     // string values by key: an attribute or a block of attributes
	apiStringsMap                    // lists of strings by key, a block
	apiRaw                           // a block kept as evaluated: a driver's config, a scaling policy
	apiBlock                         // one block of struct elem
	apiBlocks                        // blocks of struct elem, in file order
	apiBlockMap                      // labelled blocks of struct elem, by label
)

// apiField is one field of an api struct that a job file can set.
type apiField struct {
	hcl      string  // the name in the job file
	api      string  // the key in the API's JSON
	kind     apiKind // how the value is read
	elem     string  // the struct of a block
	required bool    // gohcl refuses a block without it
}

// hclBlock is one evaluated block: its labels and body, in file order.
type hclBlock struct {
	labels []string
	body   map[string]any
	path   string // for errors: job["x"].group["y"]
}

// apiJob converts an evaluated job block (its ID and body) to the API form
// {"Job": {...}}, with jobspec2's normalizeJob applied.
func apiJob(id string, body map[string]any, path string) (map[string]any, error) {
	body = maps.Clone(body)
	tasks, err := takeBlocks(body, "task", 1, path)
	if err != nil {
		return nil, err
	}
	vault, err := takeVault(body, path)
	if err != nil {
		return nil, err
	}
	job, err := apiObject("Job", hclBlock{labels: nil, body: body, path: path})
	if err != nil {
		return nil, err
	}
	if _, ok := job["ID"]; !ok {
		job["ID"] = id
	}
	if _, ok := job["Name"]; !ok {
		job["Name"] = id
	}
	if p, ok := job["Periodic"].(map[string]any); ok {
		if _, ok := p["Spec"]; ok {
			p["SpecType"] = "cron"
		}
	}
	var groups []any
	for _, t := range tasks {
		task, err := apiTask(t)
		if err != nil {
			return nil, err
		}
		groups = append(groups, map[string]any{"Name": t.labels[0], "Tasks": []any{task}})
	}
	if have, ok := job["TaskGroups"].([]any); ok {
		groups = append(groups, have...)
	}
	if len(groups) > 0 {
		job["TaskGroups"] = groups
	}
	for _, g := range groups {
		normalizeGroup(g.(map[string]any), vault)
	}
	return map[string]any{"Job": job}, nil
}

// normalizeGroup applies normalizeJob's rules to a group and its tasks.
func normalizeGroup(g map[string]any, jobVault map[string]any) {
	normalizePorts(g["Networks"])
	tasks, _ := g["Tasks"].([]any)
	for _, t := range tasks {
		task := t.(map[string]any)
		if r, ok := task["Resources"].(map[string]any); ok {
			normalizePorts(r["Networks"])
		}
		if tmpls, ok := task["Templates"].([]any); ok {
			for _, tm := range tmpls {
				normalizeTemplate(tm.(map[string]any))
			}
		}
		if v, ok := task["Vault"].(map[string]any); ok {
			normalizeVault(v)
		} else if jobVault != nil {
			task["Vault"] = clone(jobVault)
		}
	}
}

// normalizePorts moves the port blocks with a static value to
// ReservedPorts, replacing any reserved_ports blocks, as jobspec2's
// normalizeNetworkPorts does for a network with port blocks.
func normalizePorts(v any) {
	networks, _ := v.([]any)
	for _, n := range networks {
		net := n.(map[string]any)
		ports, ok := net["DynamicPorts"].([]any)
		if !ok {
			continue
		}
		var dynamic, reserved []any
		for _, p := range ports {
			if static, ok := p.(map[string]any)["Value"]; ok && static != json.Number("0") {
				reserved = append(reserved, p)
			} else {
				dynamic = append(dynamic, p)
			}
		}
		delete(net, "DynamicPorts")
		delete(net, "ReservedPorts") // jobspec2 replaces reserved_ports blocks too
		if len(dynamic) > 0 {
			net["DynamicPorts"] = dynamic
		}
		if len(reserved) > 0 {
			net["ReservedPorts"] = reserved
		}
	}
}

func listOf(v any) []any {
	l, _ := v.([]any)
	return l
}

// jobspec2's defaults for blocks a file names without setting.
var (
	templateDefaults     = map[string]any{"ChangeMode": "restart", "Perms": "0644", "Splay": json.Number(strconv.FormatInt(int64(5*time.Second), 10)), "ErrMissingKey": false}
	vaultDefaults        = map[string]any{"Env": true, "DisableFile": false, "ChangeMode": "restart"}
	changeScriptDefaults = map[string]any{"Args": []any{}, "Timeout": json.Number(strconv.FormatInt(int64(5*time.Second), 10)), "FailOnError": false}
)

func normalizeTemplate(t map[string]any) {
	setDefaults(t, templateDefaults)
	if cs, ok := t["ChangeScript"].(map[string]any); ok {
		setDefaults(cs, changeScriptDefaults)
	}
}

func normalizeVault(v map[string]any) { setDefaults(v, vaultDefaults) }

func setDefaults(m, defaults map[string]any) {
	for _, k := range sortedKeys(defaults) {
		if _, ok := m[k]; !ok {
			m[k] = clone(defaults[k])
		}
	}
}

// takeVault removes a job's or group's vault block, which jobspec2 gives
// to the tasks that have none, and converts it.
func takeVault(body map[string]any, path string) (map[string]any, error) {
	blocks, err := takeBlocks(body, "vault", 0, path)
	if err != nil || len(blocks) == 0 {
		return nil, err
	}
	if len(blocks) > 1 {
		return nil, invalid(blocks[1].path, "a second vault block; Nomad allows one")
	}
	v, err := apiObject("Vault", blocks[0])
	if err == nil {
		normalizeVault(v)
	}
	return v, err
}

// takeBlocks removes the blocks of one type (with nLabels labels) from a
// body and returns them in file order.
func takeBlocks(body map[string]any, typ string, nLabels int, path string) ([]hclBlock, error) {
	v, ok := body[typ]
	if !ok {
		return nil, nil
	}
	delete(body, typ)
	return blocksOf(v, nLabels, path+"."+typ)
}

// apiTask converts a task block, with decodeTask's scaling rule.
func apiTask(b hclBlock) (map[string]any, error) {
	body := maps.Clone(b.body)
	scaling, err := takeBlocks(body, "scaling", 1, b.path)
	if err != nil {
		return nil, err
	}
	task, err := apiObject("Task", hclBlock{labels: b.labels, body: body, path: b.path})
	if err != nil {
		return nil, err
	}
	var policies []any
	seen := map[string]bool{}
	for _, s := range scaling {
		typ := map[string]string{"cpu": "vertical_cpu", "mem": "vertical_mem"}[s.labels[0]]
		if typ == "" {
			return nil, invalid(s.path, "a task's scaling policy is named \"cpu\" or \"mem\"")
		}
		if seen[typ] {
			return nil, invalid(s.path, "a second scaling %q block", s.labels[0])
		}
		seen[typ] = true
		p, err := apiObject("ScalingPolicy", hclBlock{body: s.body, path: s.path})
		if err != nil {
			return nil, err
		}
		if have, ok := p["Type"]; ok && have != typ {
			return nil, invalid(s.path+".type", "%v; a %q policy has type %q", have, s.labels[0], typ)
		}
		p["Type"] = typ
		policies = append(policies, p)
	}
	if len(policies) > 0 {
		task["ScalingPolicies"] = policies
	}
	return task, nil
}

// apiGroup converts a group block, with decodeTaskGroup's rules: its vault
// block goes to its tasks, its scaling policy is horizontal.
func apiGroup(b hclBlock) (map[string]any, error) {
	body := maps.Clone(b.body)
	vault, err := takeVault(body, b.path)
	if err != nil {
		return nil, err
	}
	g, err := apiObject("TaskGroup", hclBlock{labels: b.labels, body: body, path: b.path})
	if err != nil {
		return nil, err
	}
	if s, ok := g["Scaling"].(map[string]any); ok {
		if _, ok := s["Type"]; !ok {
			s["Type"] = "horizontal"
		}
		if _, ok := s["Max"]; !ok {
			return nil, invalid(b.path+".scaling", "a group's scaling block needs max")
		}
	}
	if vault != nil {
		tasks, _ := g["Tasks"].([]any)
		for _, t := range tasks {
			if task := t.(map[string]any); task["Vault"] == nil {
				task["Vault"] = clone(vault)
			}
		}
	}
	return g, nil
}

// apiObject converts one block to the api struct typ.
func apiObject(typ string, b hclBlock) (map[string]any, error) {
	fields, ok := nomadAPITypes[typ]
	if !ok {
		panic(fmt.Sprintf("face: nomad: no api struct %q in nomadAPITypes", typ))
	}
	out := map[string]any{}
	labels := b.labels
	byName := make(map[string]apiField, len(fields))
	for _, f := range fields {
		if f.kind != apiLabel {
			byName[f.hcl] = f
			continue
		}
		if len(labels) == 0 {
			return nil, invalid(b.path, "want a label, the %s", f.api)
		}
		out[f.api], labels = labels[0], labels[1:]
	}
	if len(labels) > 0 {
		return nil, invalid(b.path, "unexpected label %q", labels[0])
	}
	body, short := splitShorthands(b.body, typ)
	for _, k := range sortedKeys(body) {
		path := b.path + "." + k
		f, ok := byName[k]
		if !ok {
			return nil, invalid(path, "Nomad v1.6 has no %q here", k)
		}
		v, err := apiValue(f, body[k], path)
		if err != nil {
			return nil, err
		}
		if v != nil {
			out[f.api] = v
		}
	}
	for _, f := range fields {
		if _, ok := b.body[f.hcl]; f.required && !ok {
			return nil, invalid(b.path+"."+f.hcl, "required")
		}
	}
	if ops := shorthandOps[typ]; ops != nil {
		return shorthands(b.path, out, short, ops)
	}
	return out, nil
}

// apiValue converts one attribute or block value to its field's.
func apiValue(f apiField, v any, path string) (any, error) {
	switch f.kind {
	case apiBlock:
		b, ok, err := oneBlock(f, v, path)
		if !ok {
			return nil, err
		}
		return apiObject(f.elem, b)
	case apiBlocks:
		return apiBlockList(f, v, path)
	case apiBlockMap:
		blocks, err := blocksOf(v, 1, path)
		if err != nil {
			return nil, err
		}
		out := map[string]any{}
		for _, b := range blocks {
			if _, dup := out[b.labels[0]]; dup {
				return nil, invalid(b.path, "a second %s block %q", f.hcl, b.labels[0])
			}
			if out[b.labels[0]], err = apiObject(f.elem, b); err != nil {
				return nil, err
			}
		}
		return out, nil
	case apiStringMap:
		return stringMap(v, path)
	case apiStringsMap:
		return stringsMap(v, path)
	case apiRaw:
		b, ok, err := oneBlock(f, v, path)
		if !ok {
			return nil, err
		}
		return rawBody(b.body), nil
	}
	if _, isBlock := v.([]hclBlock); isBlock {
		return nil, invalid(path, "an argument, not a block: write %s = ...", f.hcl)
	}
	return apiScalar(f.kind, v, path)
}

// oneBlock reads a field that takes one unlabelled block; ok is false
// when there is none, or on error.
func oneBlock(f apiField, v any, path string) (hclBlock, bool, error) {
	blocks, err := blocksOf(v, 0, path)
	switch {
	case err != nil || len(blocks) == 0:
		return hclBlock{}, false, err
	case len(blocks) > 1:
		return hclBlock{}, false, invalid(path, "a second %s block; Nomad allows one", f.hcl)
	}
	return blocks[0], true, nil
}

// apiBlockList converts repeated blocks, in file order.
func apiBlockList(f apiField, v any, path string) (any, error) {
	nLabels := 0
	for _, ef := range nomadAPITypes[f.elem] {
		if ef.kind == apiLabel {
			nLabels++
		}
	}
	blocks, err := blocksOf(v, nLabels, path)
	if err != nil {
		return nil, err
	}
	out := make([]any, 0, len(blocks))
	for _, b := range blocks {
		var o map[string]any
		switch f.elem {
		case "TaskGroup":
			o, err = apiGroup(b)
		case "Task":
			o, err = apiTask(b)
		default:
			o, err = apiObject(f.elem, b)
		}
		if err != nil {
			return nil, err
		}
		out = append(out, o)
	}
	return out, nil
}

// blocksOf reads a value as blocks with nLabels labels: the evaluator's
// []hclBlock, or HCL's JSON syntax, an object (or array of objects) nested
// one object per label, labels in key order.
func blocksOf(v any, nLabels int, path string) ([]hclBlock, error) {
	if bs, ok := v.([]hclBlock); ok {
		for _, b := range bs {
			if len(b.labels) != nLabels {
				return nil, invalid(b.path, "want %d labels, have %d", nLabels, len(b.labels))
			}
		}
		return bs, nil
	}
	return jsonBlocks(v, nil, nLabels, path)
}

func jsonBlocks(v any, labels []string, nLabels int, path string) ([]hclBlock, error) {
	if len(labels) < nLabels {
		m, ok := v.(map[string]any)
		if !ok {
			return nil, invalid(path, "want an object of blocks by label, not %s", jsonType(v))
		}
		var out []hclBlock
		for _, k := range sortedKeys(m) {
			bs, err := jsonBlocks(m[k], append(slices.Clip(labels), k), nLabels, fmt.Sprintf("%s[%q]", path, k))
			if err != nil {
				return nil, err
			}
			out = append(out, bs...)
		}
		return out, nil
	}
	switch x := v.(type) {
	case map[string]any:
		return []hclBlock{{labels: labels, body: x, path: path}}, nil
	case []any:
		out := make([]hclBlock, 0, len(x))
		for i, e := range x {
			m, ok := e.(map[string]any)
			if !ok {
				return nil, invalid(fmt.Sprintf("%s[%d]", path, i), "want a block (an object), not %s", jsonType(e))
			}
			out = append(out, hclBlock{labels: labels, body: m, path: fmt.Sprintf("%s[%d]", path, i)})
		}
		return out, nil
	}
	return nil, invalid(path, "want a block (an object), not %s", jsonType(v))
}

// rawBody is a block kept as evaluated, as jobspec2 keeps a driver's
// config: nested blocks become lists of objects (nested by label).
func rawBody(body map[string]any) map[string]any {
	out := make(map[string]any, len(body))
	for k, v := range body {
		out[k] = rawValue(v)
	}
	return out
}

func rawValue(v any) any {
	bs, ok := v.([]hclBlock)
	if !ok {
		return v
	}
	var list []any
	byLabel := map[string]any{}
	for _, b := range bs {
		if len(b.labels) == 0 {
			list = append(list, rawBody(b.body))
			continue
		}
		node := byLabel
		for _, l := range b.labels[:len(b.labels)-1] {
			child, _ := node[l].(map[string]any)
			if child == nil {
				child = map[string]any{}
				node[l] = child
			}
			node = child
		}
		last := b.labels[len(b.labels)-1]
		node[last] = append(listOf(node[last]), rawBody(b.body))
	}
	if len(byLabel) > 0 {
		return byLabel
	}
	return list
}

// stringMap reads meta, env and the like: an attribute holding an object,
// or a block of attributes; values convert to strings as HCL does.
func stringMap(v any, path string) (map[string]any, error) {
	var body map[string]any
	switch x := v.(type) {
	case map[string]any:
		body = x
	default:
		blocks, err := blocksOf(v, 0, path)
		if err != nil {
			return nil, err
		}
		if len(blocks) > 1 {
			return nil, invalid(path, "a second block; Nomad allows one")
		}
		body = blocks[0].body
	}
	out := make(map[string]any, len(body))
	for _, k := range sortedKeys(body) {
		s, err := apiScalar(apiString, body[k], fmt.Sprintf("%s[%q]", path, k))
		if err != nil {
			return nil, err
		}
		out[k] = s
	}
	return out, nil
}

// stringsMap reads a check's header block: lists of strings by name.
func stringsMap(v any, path string) (map[string]any, error) {
	blocks, err := blocksOf(v, 0, path)
	if err != nil {
		return nil, err
	}
	out := map[string]any{}
	for _, b := range blocks {
		for _, k := range sortedKeys(b.body) {
			l, err := apiScalar(apiStrings, b.body[k], fmt.Sprintf("%s[%q]", path, k))
			if err != nil {
				return nil, err
			}
			out[k] = l
		}
	}
	return out, nil
}

// apiScalar converts an attribute's value as gohcl converts it to the Go
// field's type (cty's conversions: a number to a string, a numeric string
// to a number, "true" to a bool).
func apiScalar(k apiKind, v any, path string) (any, error) {
	if v == nil {
		return nil, nil
	}
	switch k {
	case apiString:
		switch x := v.(type) {
		case string:
			return x, nil
		case json.Number:
			return x.String(), nil
		case bool:
			return strconv.FormatBool(x), nil
		}
	case apiBool:
		switch x := v.(type) {
		case bool:
			return x, nil
		case string:
			if b, err := strconv.ParseBool(x); err == nil && (x == "true" || x == "false") {
				return b, nil
			}
		}
	case apiInt8, apiInt16, apiInt32, apiInt64, apiUint8, apiUint16, apiUint32, apiUint64:
		return apiInteger(k, v, path)
	case apiFloat:
		if n, ok := number(v); ok {
			if _, err := strconv.ParseFloat(string(n), 64); err == nil {
				return n, nil
			}
		}
	case apiDuration:
		switch x := v.(type) {
		case string:
			d, err := time.ParseDuration(x)
			if err != nil {
				return nil, invalid(path, "not a duration: %v", err)
			}
			return json.Number(strconv.FormatInt(int64(d), 10)), nil
		case json.Number:
			return apiInteger(apiInt64, x, path)
		}
	case apiStrings:
		l, ok := v.([]any)
		if !ok {
			break
		}
		out := make([]any, len(l))
		for i, e := range l {
			s, err := apiScalar(apiString, e, fmt.Sprintf("%s[%d]", path, i))
			if err != nil {
				return nil, err
			}
			if s == nil {
				return nil, invalid(fmt.Sprintf("%s[%d]", path, i), "null in a list of strings")
			}
			out[i] = s
		}
		return out, nil
	}
	return nil, invalid(path, "want %s, not %s", kindName[k], jsonType(v))
}

var kindName = map[apiKind]string{
	apiString: "a string", apiBool: "a bool", apiFloat: "a number", apiDuration: "a duration",
	apiStrings: "a list of strings", apiInt8: "an integer", apiInt16: "an integer", apiInt32: "an integer",
	apiInt64: "an integer", apiUint8: "an integer", apiUint16: "an integer", apiUint32: "an integer", apiUint64: "an integer",
}

// number is v as a JSON number: a number, or a string holding one.
func number(v any) (json.Number, bool) {
	switch x := v.(type) {
	case json.Number:
		return x, true
	case string:
		if _, err := strconv.ParseFloat(x, 64); err == nil {
			n, err := normalNumber(json.Number(x))
			if err != nil {
				return "", false
			}
			return json.Number(fmt.Sprint(n)), true
		}
	}
	return "", false
}

// integer bounds by kind.
var intRange = map[apiKind][2]float64{
	apiInt8: {math.MinInt8, math.MaxInt8}, apiInt16: {math.MinInt16, math.MaxInt16},
	apiInt32: {math.MinInt32, math.MaxInt32}, apiInt64: {math.MinInt64, math.MaxInt64},
	apiUint8: {0, math.MaxUint8}, apiUint16: {0, math.MaxUint16}, apiUint32: {0, math.MaxUint32},
	apiUint64: {0, math.MaxUint64},
}

// apiInteger reads an integer field; out of the field's range is ErrInvalid,
// as gocty makes it, except that jobspec2 wraps an affinity's weight to
// int8 (300 is 44) where the face refuses it.
func apiInteger(k apiKind, v any, path string) (any, error) {
	n, ok := number(v)
	if !ok {
		return nil, invalid(path, "want an integer, not %s", jsonType(v))
	}
	i, err := strconv.ParseInt(string(n), 10, 64)
	if err != nil {
		if u, uerr := strconv.ParseUint(string(n), 10, 64); uerr == nil && k == apiUint64 {
			return json.Number(strconv.FormatUint(u, 10)), nil
		}
		return nil, invalid(path, "want an integer, not %s", n)
	}
	r := intRange[k]
	if float64(i) < r[0] || float64(i) > r[1] {
		return nil, invalid(path, "%d is out of range [%v, %v]", i, r[0], r[1])
	}
	return json.Number(strconv.FormatInt(i, 10)), nil
}

// shorthandOps are the shorthand attributes of constraint and affinity
// blocks (decodeConstraint, decodeAffinity), in the order jobspec2 applies
// them, a later one winning: each names the operator and carries the value
// ("version", "semver", "regexp", "set_contains", ...; distinct_hosts and
// distinct_property for constraints); the operator defaults to "=". A
// constraint's set_contains_all, set_contains_any, is_set and is_not_set
// are in jobspec2's schema but set nothing there, and set nothing here.
var shorthandOps = map[string][]string{
	"Constraint": {"version", "semver", "regexp", "set_contains", "distinct_hosts", "distinct_property"},
	"Affinity":   {"version", "semver", "regexp", "set_contains_any", "set_contains_all", "set_contains"},
}

// ignoredShorthands are accepted and ignored, as jobspec2 does.
var ignoredShorthands = map[string][]string{
	"Constraint": {"set_contains_all", "set_contains_any", "is_set", "is_not_set"},
}

// splitShorthands separates a block's shorthand attributes from its fields.
func splitShorthands(body map[string]any, typ string) (fields, short map[string]any) {
	ops, ok := shorthandOps[typ]
	if !ok {
		return body, nil
	}
	fields, short = maps.Clone(body), map[string]any{}
	for _, op := range ops {
		if v, ok := fields[op]; ok {
			short[op] = v
			delete(fields, op)
		}
	}
	for _, op := range ignoredShorthands[typ] {
		delete(fields, op)
	}
	return fields, short
}

func shorthands(path string, out, short map[string]any, ops []string) (map[string]any, error) {
	for _, op := range ops {
		v, ok := short[op]
		if !ok {
			continue
		}
		switch op {
		case "distinct_hosts":
			bv, err := apiScalar(apiBool, v, path+"."+op)
			if err != nil {
				return nil, err
			}
			if bv != nil {
				out["Operand"], out["RTarget"] = op, strconv.FormatBool(bv.(bool))
			}
		case "distinct_property":
			s, err := apiScalar(apiString, v, path+"."+op)
			if err != nil {
				return nil, err
			}
			if s != nil && s != "" {
				out["Operand"], out["LTarget"] = op, s
			}
		default:
			s, err := apiScalar(apiString, v, path+"."+op)
			if err != nil {
				return nil, err
			}
			if s != nil && s != "" {
				out["Operand"], out["RTarget"] = op, s
			}
		}
	}
	if _, ok := out["Operand"]; !ok {
		out["Operand"] = "="
	}
	return out, nil
}

// clone deep-copies a converted value, so that two tasks never share one.
func clone(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = clone(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = clone(e)
		}
		return out
	}
	return v
}

package face

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"

	goyaml "go.yaml.in/yaml/v2"
	yamlv3 "gopkg.in/yaml.v3"
	"sigs.k8s.io/yaml"

	"revoada.dev/revoada/core/store"
)

// kubernetes is the Kubernetes face: manifests in YAML or JSON.
type kubernetes struct{}

var _ Face = kubernetes{}

func (kubernetes) Name() string { return Kubernetes }

func (kubernetes) Formats() []store.Format { return []store.Format{store.YAML, store.JSON} }

func (k kubernetes) Decode(file string, data []byte, f store.Format) ([]store.Resource, error) {
	objs, err := decodeObjects(data, f)
	if err != nil {
		return nil, fmt.Errorf("face: kubernetes: %s: %w", file, err)
	}
	out := make([]store.Resource, 0, len(objs))
	for _, o := range objs {
		r, err := objectResource(o)
		if err != nil {
			return nil, fmt.Errorf("face: kubernetes: %s: %w", file, err)
		}
		r.Face = Kubernetes
		out = append(out, r)
	}
	return out, nil
}

func (k kubernetes) Encode(r store.Resource, f store.Format) ([]byte, error) {
	return encodeObject(Kubernetes, r, f)
}

// object is one manifest, with where it sat in its file ("document 2: ",
// "items[3].") to prefix field names in errors.
type object struct {
	where string
	body  map[string]any
}

// decodeObjects parses a YAML stream or a JSON value into manifests,
// expanding lists.
func decodeObjects(data []byte, f store.Format) ([]object, error) {
	if err := checkText(data); err != nil {
		return nil, err
	}
	if err := checkNesting(data, f == store.YAML); err != nil {
		return nil, err
	}
	var objs []object
	var err error
	switch f {
	case store.JSON:
		var v any
		if v, err = parseJSON(data, "input"); err == nil {
			objs, err = expandList(v, "", nil)
		}
	case store.YAML:
		objs, err = decodeYAMLStream(data)
	default:
		err = errFormat(Kubernetes, f, kubernetes{}.Formats())
	}
	if err == nil && len(objs) == 0 {
		err = invalid("input", "no manifest (as kubectl: no objects passed to apply)")
	}
	return objs, err
}

// decodeYAMLStream splits a YAML stream into documents the way kubectl does
// and converts each to JSON with sigs.k8s.io/yaml in strict mode (duplicate
// keys are errors). Empty documents are skipped.
func decodeYAMLStream(data []byte) ([]object, error) {
	var out []object
	for i, doc := range splitYAML(data) {
		where := fmt.Sprintf("document %d: ", i+1)
		if err := checkYAMLIntegers(doc); err != nil {
			return nil, invalid(strings.TrimSuffix(where, ": "), "%v", err)
		}
		j, err := yaml.YAMLToJSONStrict(doc)
		if err != nil {
			return nil, invalid(strings.TrimSuffix(where, ": "), "%v", err)
		}
		if string(j) == "null" {
			continue
		}
		if secondDocument(doc) {
			return nil, invalid(strings.TrimSuffix(where, ": "), "holds a second YAML document (after \"--- text\" or \"...\"), which would be dropped; separate documents with a line of ---")
		}
		v, err := parseJSON(j, strings.TrimSuffix(where, ": "))
		if err != nil {
			return nil, err
		}
		if out, err = expandList(v, where, out); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// checkYAMLIntegers refuses an integer scalar beyond int64 in a YAML
// document. sigs.k8s.io/yaml turns one into a float64 before anything else
// sees it, so 18446744073709551617 would be stored as 18446744073709552000:
// the scalar's own text is read here instead (with gopkg.in/yaml.v3's node
// tree, only for a document with a run of 19 or more digits, the shortest
// integer beyond int64).
func checkYAMLIntegers(doc []byte) error {
	if !hasDigitRun(doc, 19) {
		return nil
	}
	var root yamlv3.Node
	if err := yamlv3.Unmarshal(doc, &root); err != nil {
		return nil // the YAML parser that stores the document reports it
	}
	return walkYAMLIntegers(&root, 0)
}

func walkYAMLIntegers(n *yamlv3.Node, depth int) error {
	if depth > NestingMax {
		return nil // refused by the depth check of the stored form
	}
	quoted := n.Style&(yamlv3.DoubleQuotedStyle|yamlv3.SingleQuotedStyle|yamlv3.LiteralStyle|yamlv3.FoldedStyle) != 0
	if n.Kind == yamlv3.ScalarNode && !quoted && n.Tag != "!!str" { // yaml.v3 tags an integer beyond uint64 a float
		digits := strings.TrimLeft(strings.ReplaceAll(n.Value, "_", ""), "+-")
		if digits != "" && strings.Trim(digits, "0123456789") == "" {
			if _, err := strconv.ParseInt(strings.ReplaceAll(n.Value, "_", ""), 10, 64); err != nil {
				return fmt.Errorf("line %d: integer %.40s: %w", n.Line, n.Value, errIntRange)
			}
		}
	}
	for _, c := range n.Content {
		if err := walkYAMLIntegers(c, depth+1); err != nil {
			return err
		}
	}
	return nil
}

// hasDigitRun reports whether data holds n or more ASCII digits in a row.
func hasDigitRun(data []byte, n int) bool {
	run := 0
	for _, c := range data {
		if isDigit(c) {
			if run++; run >= n {
				return true
			}
		} else {
			run = 0
		}
	}
	return false
}

// secondDocument reports whether doc holds more than one YAML document:
// sigs.k8s.io/yaml reads the first and silently ignores the rest.
func secondDocument(doc []byte) bool {
	dec := goyaml.NewDecoder(bytes.NewReader(doc))
	var v any
	if dec.Decode(&v) != nil {
		return false
	}
	return dec.Decode(&v) != io.EOF
}

// splitYAML cuts a stream at document separators: lines that start with
// "---" followed by nothing, blanks or a comment. This is kubectl's rule
// (k8s.io/apimachinery/pkg/util/yaml.YAMLReader); a line like "--- foo"
// stays in its document, where the YAML parser judges it.
func splitYAML(data []byte) [][]byte {
	var docs [][]byte
	start := 0
	for off := 0; off < len(data); {
		end := bytes.IndexByte(data[off:], '\n')
		next := len(data)
		if end >= 0 {
			next = off + end + 1
		}
		if isSeparator(data[off:next]) {
			docs = append(docs, data[start:off])
			start = next
		}
		off = next
	}
	return append(docs, data[start:])
}

func isSeparator(line []byte) bool {
	rest, ok := bytes.CutPrefix(line, []byte("---"))
	if !ok {
		return false
	}
	rest = bytes.TrimSpace(rest)
	return len(rest) == 0 || rest[0] == '#'
}

// expandList appends v to out, or v's items when v is a list (kind List, or
// any kind ending in "List" that has items: kubectl flattens those too).
func expandList(v any, where string, out []object) ([]object, error) {
	body, ok := v.(map[string]any)
	if !ok {
		return nil, invalid(where+"manifest", "must be an object, not %s", jsonType(v))
	}
	kind, _ := body["kind"].(string)
	items, hasItems := body["items"]
	if !strings.HasSuffix(kind, "List") || !hasItems {
		if err := checkCount(len(out) + 1); err != nil {
			return nil, err
		}
		return append(out, object{where: where, body: body}), nil
	}
	list, ok := items.([]any)
	if !ok {
		return nil, invalid(where+"items", "must be an array, not %s", jsonType(items))
	}
	for i, item := range list {
		m, ok := item.(map[string]any)
		if !ok {
			return nil, invalid(fmt.Sprintf("%sitems[%d]", where, i), "must be an object, not %s", jsonType(item))
		}
		if err := checkCount(len(out) + 1); err != nil {
			return nil, err
		}
		out = append(out, object{where: fmt.Sprintf("%sitems[%d].", where, i), body: m})
	}
	return out, nil
}

func jsonType(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case map[string]any:
		return "an object"
	case []any:
		return "an array"
	case string:
		return "a string"
	case bool:
		return "a boolean"
	}
	return "a number"
}

// objectResource checks a manifest's identity, normalises its metadata and
// makes the resource (Face left for the caller).
func objectResource(o object) (store.Resource, error) {
	kind, err := requiredString(o, o.body, "kind", "kind")
	if err != nil {
		return store.Resource{}, err
	}
	if err := checkKind(o.where, kind); err != nil {
		return store.Resource{}, err
	}
	apiVersion, err := checkAPIVersion(o)
	if err != nil {
		return store.Resource{}, err
	}
	if err := checkServed(o.where, apiVersion, kind); err != nil {
		return store.Resource{}, err
	}
	meta, ok := o.body["metadata"].(map[string]any)
	if !ok {
		return store.Resource{}, invalid(o.where+"metadata", "required object (have %s)", jsonType(o.body["metadata"]))
	}
	ref, err := objectRef(o, kind, meta)
	if err != nil {
		return store.Resource{}, err
	}
	delete(meta, "resourceVersion") // the store's revision, written back by Encode
	delete(meta, "uid")
	payload, err := canonicalJSON(o.body)
	if err != nil {
		return store.Resource{}, invalid(o.where+"object", "%v", err)
	}
	if err := checkPayload(o.where+"object", payload); err != nil {
		return store.Resource{}, err
	}
	if err := checkTyped(o.where, apiVersion, kind, o.body, payload); err != nil {
		return store.Resource{}, err
	}
	return store.Resource{Ref: ref, Format: store.JSON, Payload: payload}, nil
}

func checkAPIVersion(o object) (string, error) {
	v, err := requiredString(o, o.body, "apiVersion", "apiVersion")
	if err != nil {
		return "", err
	}
	if strings.IndexFunc(v, func(r rune) bool { return r <= ' ' || r == 0x7f }) >= 0 || strings.Count(v, "/") > 1 {
		return "", invalid(o.where+"apiVersion", "%q is not group/version or version", v)
	}
	return v, nil
}

// objectRef reads metadata.name and metadata.namespace, applying the
// namespace default and the cluster-scoped table; it writes the effective
// namespace back into meta, as the API server does.
func objectRef(o object, kind string, meta map[string]any) (store.Ref, error) {
	name, err := requiredString(o, meta, "name", "metadata.name")
	if err != nil {
		return store.Ref{}, err
	}
	if err := checkObjectName(kind, name); err != nil {
		return store.Ref{}, withWhere(o.where+"metadata.name", err)
	}
	ns, err := optionalString(o, meta, "namespace", "metadata.namespace")
	if err != nil {
		return store.Ref{}, err
	}
	switch {
	case ClusterScoped(kind):
		ns = ""
		delete(meta, "namespace")
	case ns == "":
		ns = "default"
		meta["namespace"] = ns
	}
	if ns != "" {
		if err := checkDNSLabel(ns, 63); err != nil {
			return store.Ref{}, withWhere(o.where+"metadata.namespace", err)
		}
	}
	ref := store.Ref{Kind: kind, Namespace: ns, Name: name}
	return ref, ref.Validate()
}

func requiredString(o object, m map[string]any, key, field string) (string, error) {
	s, err := optionalString(o, m, key, field)
	if err == nil && s == "" {
		err = invalid(o.where+field, "required")
	}
	return s, err
}

func optionalString(o object, m map[string]any, key, field string) (string, error) {
	v, ok := m[key]
	if !ok || v == nil {
		return "", nil
	}
	s, ok := v.(string)
	if !ok {
		return "", invalid(o.where+field, "must be a string, not %s", jsonType(v))
	}
	return s, nil
}

// withWhere turns a name-check reason into an InvalidError naming field.
func withWhere(field string, err error) error {
	return &store.InvalidError{Field: field, Reason: err.Error()}
}

// checkKind accepts the CamelCase identifiers Kubernetes kinds are.
func checkKind(where, kind string) error {
	ok := len(kind) <= 63 && isLetter(kind[0])
	for i := 0; ok && i < len(kind); i++ {
		ok = isLetter(kind[i]) || isDigit(kind[i])
	}
	if !ok {
		return invalid(where+"kind", "%q is not a kind (ASCII letters and digits, starting with a letter, at most 63)", kind)
	}
	return nil
}

// encodeObject renders a stored manifest as JSON or YAML, with
// metadata.resourceVersion set to the resource's ModRevision.
func encodeObject(face string, r store.Resource, f store.Format) ([]byte, error) {
	if f != store.JSON && f != store.YAML {
		return nil, fmt.Errorf("face: %s: %w", face, errFormat(face, f, []store.Format{store.YAML, store.JSON}))
	}
	if err := checkOwner(face, r, store.JSON); err != nil {
		return nil, fmt.Errorf("face: %s: %w", face, err)
	}
	body, err := withResourceVersion(r)
	var out []byte
	if err == nil && f == store.JSON {
		out, err = canonicalJSON(body)
	} else if err == nil {
		out, err = goyaml.Marshal(yamlValue(body))
	}
	if err != nil {
		return nil, fmt.Errorf("face: %s: %s: %w", face, r.Ref, invalid("payload", "%v", err))
	}
	return out, nil
}

// withResourceVersion parses a stored manifest (numbers normalised) and
// sets metadata.resourceVersion to the resource's ModRevision.
func withResourceVersion(r store.Resource) (map[string]any, error) {
	v, err := parseJSON(r.Payload, "payload")
	if err == nil {
		v, err = normalNumbers(v)
	}
	if err != nil {
		return nil, err
	}
	body, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("stored manifest is %s, not an object", jsonType(v))
	}
	meta, ok := body["metadata"].(map[string]any)
	if !ok {
		return nil, fmt.Errorf("stored manifest has no metadata object")
	}
	if r.ModRevision != 0 {
		meta["resourceVersion"] = strconv.FormatUint(uint64(r.ModRevision), 10)
	}
	return body, nil
}

// yamlValue turns a decoded JSON tree into what go-yaml v2 (the YAML library
// under sigs.k8s.io/yaml, so writer and reader agree on YAML 1.1 quoting)
// marshals in a fixed order: objects become MapSlices with sorted keys.
// go-yaml quotes strings that would read back as another type and escapes
// control characters, which converting JSON text to YAML cannot.
func yamlValue(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := make(goyaml.MapSlice, 0, len(x))
		for _, k := range sortedKeys(x) {
			out = append(out, goyaml.MapItem{Key: k, Value: yamlValue(x[k])})
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = yamlValue(e)
		}
		return out
	case json.Number: // a float beyond int64 (see normalNumber): go-yaml writes it with its exponent
		f, _ := x.Float64()
		return f
	}
	return v
}

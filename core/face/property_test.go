package face_test

import (
	"bytes"
	"encoding/json"
	"math"
	"strconv"
	"testing"

	"pgregory.net/rapid"

	"revoada.dev/revoada/core/face"
	"revoada.dev/revoada/core/store"
)

// tricky are strings YAML 1.1 would read as something else unless quoted.
var tricky = []string{"yes", "no", "on", "off", "y", "n", "~", "null", "true", "0x1f", "0o17", "017", "1e3", ".inf", "-.nan",
	"12:30", "- a", "a: b", "#x", " lead", "trail ", "", "'", "\"", "\\", "\t", "\n", "é", "\u2028", "\x01", "---", "...", "\x7f", "&a", "*a", "!t", "%", "@", "`"}

func jsonValue(t *rapid.T, depth int) any {
	kinds := 5
	if depth > 0 {
		kinds = 7
	}
	switch rapid.IntRange(0, kinds-1).Draw(t, "kind") {
	case 0:
		return rapid.SampledFrom(tricky).Draw(t, "tricky")
	case 1:
		return rapid.String().Draw(t, "string")
	case 2:
		return rapid.Int64().Draw(t, "int")
	case 3:
		f := rapid.Float64().Draw(t, "float")
		if f == math.Trunc(f) && math.Abs(f) >= 1<<63 {
			// encoding/json writes it as an integer of rounded digits, which
			// the face refuses (it would lose digits); a JSON writer that
			// means a float writes its exponent.
			return json.Number(strconv.FormatFloat(f, 'e', -1, 64))
		}
		return f
	case 4:
		return rapid.SampledFrom([]any{true, false, nil}).Draw(t, "literal")
	case 5:
		n := rapid.IntRange(0, 3).Draw(t, "len")
		out := make([]any, n)
		for i := range out {
			out[i] = jsonValue(t, depth-1)
		}
		return out
	}
	n := rapid.IntRange(0, 3).Draw(t, "len")
	out := map[string]any{}
	for range n {
		out[rapid.SampledFrom(append(tricky, "k", "k2")).Draw(t, "key")] = jsonValue(t, depth-1)
	}
	return out
}

// TestKubernetesYAMLFidelity: any JSON value (in a custom resource, whose
// body the face does not type) survives JSON → stored → YAML
// → stored unchanged, and reads back as the same JSON value.
func TestKubernetesYAMLFidelity(t *testing.T) {
	k, _ := face.ByName(face.Kubernetes)
	rapid.Check(t, func(t *rapid.T) {
		spec := jsonValue(t, 3)
		manifest := map[string]any{"apiVersion": "example.com/v1", "kind": "Widget", "metadata": map[string]any{"name": "a"}, "spec": spec}
		in, err := json.Marshal(manifest)
		if err != nil {
			t.Skip("not JSON:", err)
		}
		rs, err := k.Decode("x.json", in, store.JSON)
		if err != nil {
			t.Fatalf("decode: %v\n%s", err, in)
		}
		y, err := k.Encode(rs[0], store.YAML)
		if err != nil {
			t.Fatalf("encode: %v", err)
		}
		back, err := k.Decode("x.yaml", y, store.YAML)
		if err != nil {
			t.Fatalf("decode YAML: %v\n%s", err, y)
		}
		if !bytes.Equal(back[0].Payload, rs[0].Payload) {
			t.Fatalf("YAML changed it:\n%s\n%s\nYAML:\n%s", rs[0].Payload, back[0].Payload, y)
		}
	})
}

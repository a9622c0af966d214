package face_test

import (
	"bytes"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"

	"revoada.dev/revoada/core/face"
	"revoada.dev/revoada/core/store"
)

// TestDeepNestingIsRefusedCheaply (found by a hostile review of issue 10): a
// 1 MB file of arrays nested 9,990 deep took 22 s and 450 MB before the
// parsers refused it, and a megabyte of values cost 128 MB (JSON) to 343 MB
// (YAML) to parse; each is now refused before any parser runs, allocating
// little.
func TestDeepNestingIsRefusedCheaply(t *testing.T) {
	deepArrays := func(depth, copies int) string {
		one := strings.Repeat("[", depth) + strings.Repeat("]", depth)
		return `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a"},"x":[` + strings.TrimSuffix(strings.Repeat(one+",", copies), ",") + "]}"
	}
	var block strings.Builder
	block.WriteString("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\ndata:\n")
	for i := range face.NestingMax + 1 {
		block.WriteString(strings.Repeat(" ", i+1) + "k:\n")
	}
	for _, c := range []struct {
		name, file string
		format     store.Format
		data       string
	}{
		{"JSON arrays, 1 MB, 9990 deep", "x.json", store.JSON, deepArrays(9990, 50)},
		{"JSON just over the limit", "x.json", store.JSON, deepArrays(face.NestingMax, 1)},
		{"YAML flow", "x.yaml", store.YAML, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\ndata: " + strings.Repeat("[", 5000) + strings.Repeat("]", 5000) + "\n"},
		{"YAML sequences on one line", "x.yaml", store.YAML, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\ndata:\n" + strings.Repeat("- ", 200000) + "x\n"},
		{"YAML block indentation", "x.yaml", store.YAML, block.String()},
		{"JSON, 1 MB of values", "x.json", store.JSON, `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a"},"x":[` + strings.Repeat("1,", 500000) + "1]}"},
		{"YAML, 1 MB of values", "x.yaml", store.YAML, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\nx:\n" + strings.Repeat("- 1\n", 250000)},
		{"YAML flow after a quote in a plain scalar", "x.yaml", store.YAML, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: it's}\ndata: " + strings.Repeat("[", 5000) + strings.Repeat("]", 5000) + "\n"},
	} {
		t.Run(c.name, func(t *testing.T) {
			k := mustFace(t, face.Kubernetes)
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			_, err := k.Decode(c.file, []byte(c.data), c.format)
			runtime.ReadMemStats(&after)
			if !errors.Is(err, store.ErrInvalid) || !strings.Contains(err.Error(), "NestingMax") && !strings.Contains(err.Error(), "ManifestTokensMax") {
				t.Fatalf("err %v, want the nesting or the token limit", err)
			}
			if got := after.TotalAlloc - before.TotalAlloc; got > 1<<20 {
				t.Errorf("allocated %d bytes to refuse it", got)
			}
			if f, _, _ := face.Detect(c.file, []byte(c.data)); f == nil || f.Name() != face.Kubernetes {
				t.Errorf("Detect: %v", f)
			}
		})
	}
	// Nesting a real manifest needs is untouched: strings, comments and
	// block scalars with brackets and quotes do not count.
	decode(t, face.Kubernetes, "x.yaml", store.YAML, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\ndata:\n  # don't [[[[\n  s: \"[[[[{{{{\"\n  t: '[[[['\n  u: |\n    [[[[[[\n")
	var deep bytes.Buffer
	deep.WriteString(`{"apiVersion":"example.com/v1","kind":"Widget","metadata":{"name":"a"},"spec":`)
	deep.WriteString(strings.Repeat(`{"a":`, face.NestingMax-3) + "1" + strings.Repeat("}", face.NestingMax-3) + "}")
	decode(t, face.Kubernetes, "x.json", store.JSON, deep.String())
	var big strings.Builder // a ConfigMap of 20,000 keys: as many values as a large CRD
	big.WriteString("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\ndata:\n")
	for i := range 20000 {
		fmt.Fprintf(&big, "  k%d: \"v: %d\"\n", i, i)
	}
	decode(t, face.Kubernetes, "x.yaml", store.YAML, big.String())
}

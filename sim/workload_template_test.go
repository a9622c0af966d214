package sim

import (
	"fmt"
	"reflect"
	"testing"

	"pgregory.net/rapid"

	"revoada.dev/revoada/core/store"
)

// TestWorkloadTemplateIsTheDecoding: for every face, a resource cut from a
// key's template is the one the face decodes from the manifest itself.
func TestWorkloadTemplateIsTheDecoding(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		f := rapid.SampledFrom([]string{"kubernetes", "nomad", "systemd", "pureraft", "baremetal"}).Draw(t, "face")
		key := rapid.IntRange(0, 1000).Draw(t, "key")
		value := fmt.Sprintf("wv-%d-%d", rapid.IntRange(0, 1<<20).Draw(t, "client"), rapid.Uint64().Draw(t, "seq"))
		ref := store.Ref{Kind: workloadKinds[f], Namespace: workloadNamespace(f), Name: workloadName(f, key)}
		if workloadTemplateOf(f, ref) == nil {
			t.Fatalf("%s: no template for %v", f, ref)
		}
		if got, want := workloadResource(f, ref, value), decodeWorkload(f, ref, value); !reflect.DeepEqual(got, want) {
			t.Fatalf("%s %v %s: templated %+v, decoded %+v", f, ref, value, got, want)
		}
	})
}

func TestIsWorkloadValue(t *testing.T) {
	for v, want := range map[string]bool{"wv-0-1": true, "wv-12-345": true, "wv--1": false, "wv-1-": false, "wv-1": false,
		"wv-1-2-3": false, "xv-1-2": false, "wv-a-1": false, "": false} {
		if got := isWorkloadValue(v); got != want {
			t.Errorf("isWorkloadValue(%q) = %v, want %v", v, got, want)
		}
	}
}

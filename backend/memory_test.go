package backend_test

import (
	"fmt"
	"testing"

	"revoada.dev/revoada/backend"
	"revoada.dev/revoada/backend/storetest"
	"revoada.dev/revoada/core/store"
)

func TestMemoryConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) backend.Backend { return backend.NewMemory() })
}

func BenchmarkMemoryApply(b *testing.B) {
	m := backend.NewMemory()
	refs := benchRefs(1000)
	payload := make([]byte, 256)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		r := store.Resource{Ref: refs[i%len(refs)], Face: "kubernetes", Format: store.JSON, Payload: payload}
		if _, err := m.Apply(b.Context(), r, store.Expect{}); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

func BenchmarkMemoryGet(b *testing.B) {
	m := backend.NewMemory()
	refs := benchRefs(1000)
	for _, ref := range refs {
		if _, err := m.Apply(b.Context(), store.Resource{Ref: ref, Face: "kubernetes", Format: store.JSON, Payload: []byte("{}")}, store.Expect{}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, err := m.Get(b.Context(), refs[i%len(refs)], backend.ReadOptions{}); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

func benchRefs(n int) []store.Ref {
	refs := make([]store.Ref, n)
	for i := range refs {
		refs[i] = store.Ref{Kind: "ConfigMap", Namespace: fmt.Sprintf("ns-%d", i%10), Name: fmt.Sprintf("cm-%d", i)}
	}
	return refs
}

package node

import (
	"errors"
	"math/rand/v2"
	"strings"
	"testing"

	"revoada.dev/revoada/core/store"
)

// A read naming what no store can hold is refused when submitted, before it
// reaches an encoder whose limits it breaks (a name over
// store.NameBytesMax panicked net/wire's AppendRequest).
func TestSubmitRefusesBadReads(t *testing.T) {
	n, err := New(DefaultConfig(nid(1), bootShape(t), rand.New(rand.NewPCG(1, 2))), Durable{})
	if err != nil {
		t.Fatal(err)
	}
	long := strings.Repeat("a", store.NameBytesMax+1)
	for _, rd := range []Read{
		{Op: ReadGet, Ref: store.Ref{Kind: "ConfigMap", Name: long}},
		{Op: ReadGet, Ref: store.Ref{Kind: "ConfigMap", Namespace: long, Name: "x"}},
		{Op: ReadGet, Ref: store.Ref{Kind: "ConfigMap", Name: "a/b"}},
		{Op: ReadList, Kind: long},
		{Op: ReadList, Kind: "ConfigMap", Namespace: long},
	} {
		if _, err := n.Read(rd); !errors.Is(err, ErrInvalidRequest) {
			t.Errorf("read %+v: %v, want ErrInvalidRequest", rd, err)
		}
	}
	if _, err := n.Read(Read{Op: ReadGet, Ref: store.Ref{Kind: "ConfigMap", Namespace: "default", Name: "x"}}); err != nil {
		t.Fatalf("a good read: %v", err)
	}
}

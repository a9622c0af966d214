package memtransport

import (
	"crypto/ed25519"
	"fmt"
	"testing"

	"revoada.dev/revoada/core/roles"
	"revoada.dev/revoada/net/transport"
	"revoada.dev/revoada/net/transport/transporttest"
)

// Endpoints is a transporttest.Factory over a fresh Network: a transport
// per key at address "mem-i", each decorated by wrap when it is set (a
// decorator's conformance runs over it).
func Endpoints(wrap func(i int, t transport.Transport) transport.Transport) transporttest.Factory {
	return func(t *testing.T, keys []ed25519.PrivateKey, hs []transport.Handler) []transporttest.Endpoint {
		n := NewNetwork()
		eps := make([]transporttest.Endpoint, len(keys))
		for i, k := range keys {
			addr := fmt.Sprintf("mem-%d", i)
			tr, err := n.New(roles.NodeID(k.Public().(ed25519.PublicKey)), addr, hs[i])
			if err != nil {
				t.Fatal(err)
			}
			var wrapped transport.Transport = tr
			if wrap != nil {
				wrapped = wrap(i, tr)
			}
			eps[i] = transporttest.Endpoint{Transport: wrapped, Addr: addr}
		}
		return eps
	}
}

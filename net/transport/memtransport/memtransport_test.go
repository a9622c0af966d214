package memtransport_test

import (
	"crypto/ed25519"
	"fmt"
	"testing"

	"revoada.dev/revoada/core/roles"
	"revoada.dev/revoada/net/transport"
	"revoada.dev/revoada/net/transport/memtransport"
	"revoada.dev/revoada/net/transport/transporttest"
)

func TestConformance(t *testing.T) {
	transporttest.Run(t, func(t *testing.T, keys []ed25519.PrivateKey, hs []transport.Handler) []transporttest.Endpoint {
		n := memtransport.NewNetwork()
		eps := make([]transporttest.Endpoint, len(keys))
		for i, k := range keys {
			addr := fmt.Sprintf("mem-%d", i)
			tr, err := n.New(roles.NodeID(k.Public().(ed25519.PublicKey)), addr, hs[i])
			if err != nil {
				t.Fatal(err)
			}
			eps[i] = transporttest.Endpoint{Transport: tr, Addr: addr}
		}
		return eps
	})
}

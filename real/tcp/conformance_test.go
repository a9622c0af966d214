package tcp_test

import (
	"crypto/ed25519"
	"testing"
	"time"

	"revoada.dev/revoada/core/roles"
	"revoada.dev/revoada/net/transport"
	"revoada.dev/revoada/net/transport/transporttest"
	"revoada.dev/revoada/real/tcp"
)

// testMesh names the mesh of every transport the tests make.
var testMesh = roles.Digest{0x6d, 0x65, 0x73, 0x68}

func TestConformance(t *testing.T) {
	transporttest.Run(t, func(t *testing.T, keys []ed25519.PrivateKey, hs []transport.Handler) []transporttest.Endpoint {
		eps := make([]transporttest.Endpoint, len(keys))
		for i, k := range keys {
			tr, err := tcp.New(tcp.Config{Key: k, Mesh: testMesh, Listen: "127.0.0.1:0", Handler: hs[i],
				DialTimeout: 10 * time.Second}) // a loaded machine's handshake under -race; a refused dial fails at once
			if err != nil {
				t.Fatal(err)
			}
			eps[i] = transporttest.Endpoint{Transport: tr, Addr: tr.Addr()}
		}
		return eps
	})
}

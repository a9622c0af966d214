package memtransport_test

import (
	"testing"

	"revoada.dev/revoada/net/transport/memtransport"
	"revoada.dev/revoada/net/transport/transporttest"
)

func TestConformance(t *testing.T) {
	transporttest.Run(t, memtransport.Endpoints(nil))
}

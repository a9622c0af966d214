package tcp

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"

	"revoada.dev/revoada/core/roles"
	"revoada.dev/revoada/net/wire"
)

// Identify asks the node listening at addr who it is: a TLS 1.3 handshake
// that accepts any ed25519 key, and the Hello each way, whose node must be
// that key and whose mesh this transport's; then it hangs up (a listener
// takes a connection that ends after the Hellos as a peer leaving, not as
// a refusal). The answer is proven — the peer holds the key of the ID it
// gives — but the trust in it is the caller's: it names whoever answers at
// addr, in this mesh (trust on first use, as 'revoada node --join' uses it
// to learn its peers before the mesh starts). Within DialTimeout.
func (t *Transport) Identify(ctx context.Context, addr string) (roles.NodeID, error) {
	ctx, cancel := context.WithTimeout(ctx, t.cfg.DialTimeout)
	defer cancel()
	var d net.Dialer
	raw, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return roles.NodeID{}, fmt.Errorf("tcp: dialling %s: %w", addr, err)
	}
	defer raw.Close()
	var id roles.NodeID
	cfg := clientConfig(t.cert, roles.NodeID{})
	cfg.VerifyConnection = func(cs tls.ConnectionState) (err error) {
		id, err = peerID(cs)
		return err
	}
	conn := tls.Client(raw, cfg)
	stop := context.AfterFunc(ctx, func() { raw.Close() })
	defer stop()
	if err := conn.HandshakeContext(ctx); err != nil {
		return roles.NodeID{}, fmt.Errorf("tcp: TLS with %s: %w", addr, err)
	}
	if _, err := conn.Write(t.hello); err != nil {
		return roles.NodeID{}, fmt.Errorf("tcp: hello to %s: %w", addr, err)
	}
	f, err := wire.ReadFrame(conn, wire.HelloBytes)
	if err != nil {
		return roles.NodeID{}, fmt.Errorf("tcp: hello from %s: %w", addr, err)
	}
	if err := t.checkHello(f, id); err != nil {
		return roles.NodeID{}, fmt.Errorf("tcp: %s: %w", addr, err)
	}
	return id, nil
}

package tcp

import (
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math/big"
	"net/url"
	"time"

	"revoada.dev/revoada/core/roles"
)

// SPIFFEPrefix begins the URI SAN of a node's certificate; the node's ID in
// hex follows. It is there for tools (openssl, SPIFFE-aware proxies): the
// transport trusts only the key.
const SPIFFEPrefix = "spiffe://revoada/node/"

// errWrongKey is a peer whose certificate key is not the node ID expected.
var errWrongKey = errors.New("tcp: peer key is not the node id it claims")

// Certificate returns the self-signed certificate node key presents: an
// ed25519 certificate of that key, with the URI SAN SPIFFEPrefix+<hex id>.
// It is deterministic (serial from the key, fixed validity, ed25519's
// deterministic signature): validity dates and the issuer are never
// checked, only the key, whose possession TLS 1.3's CertificateVerify
// proves.
func Certificate(key ed25519.PrivateKey) (tls.Certificate, error) {
	id := NodeID(key)
	sum := sha256.Sum256(id[:])
	uri, err := url.Parse(SPIFFEPrefix + id.String())
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("tcp: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: new(big.Int).SetBytes(sum[:16]),
		Subject:      pkix.Name{CommonName: "revoada node " + id.Short()},
		NotBefore:    time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC),
		NotAfter:     time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC),
		URIs:         []*url.URL{uri},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(nil, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("tcp: making the node certificate: %w", err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("tcp: %w", err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, nil
}

// NodeID is the node ID of key: its public key.
func NodeID(key ed25519.PrivateKey) roles.NodeID {
	return roles.NodeID(key.Public().(ed25519.PublicKey))
}

// peerID is the node ID a handshake's peer proved: its leaf's ed25519 key.
func peerID(cs tls.ConnectionState) (roles.NodeID, error) {
	if len(cs.PeerCertificates) == 0 {
		return roles.NodeID{}, fmt.Errorf("%w: no certificate", errWrongKey)
	}
	pub, ok := cs.PeerCertificates[0].PublicKey.(ed25519.PublicKey)
	if !ok || len(pub) != ed25519.PublicKeySize {
		return roles.NodeID{}, fmt.Errorf("%w: a %T key, want ed25519", errWrongKey, cs.PeerCertificates[0].PublicKey)
	}
	return roles.NodeID(pub), nil
}

// serverConfig is the listener's TLS: 1.3 only, a client certificate of an
// ed25519 key required. Which node the key must be is known only from the
// Hello frame that follows, so the pin is checked there.
func serverConfig(cert tls.Certificate) *tls.Config {
	return &tls.Config{
		MinVersion:             tls.VersionTLS13,
		MaxVersion:             tls.VersionTLS13,
		Certificates:           []tls.Certificate{cert},
		ClientAuth:             tls.RequireAnyClientCert,
		SessionTicketsDisabled: true, // every connection proves its key afresh
		VerifyConnection: func(cs tls.ConnectionState) error {
			_, err := peerID(cs)
			return err
		},
	}
}

// clientConfig is the dialer's TLS: 1.3 only, and the listener's key
// pinned to the node ID dialled. InsecureSkipVerify turns off the chain
// and name checks a CA would need; VerifyConnection does the one check
// that matters.
func clientConfig(cert tls.Certificate, want roles.NodeID) *tls.Config {
	return &tls.Config{
		MinVersion:         tls.VersionTLS13,
		MaxVersion:         tls.VersionTLS13,
		Certificates:       []tls.Certificate{cert},
		InsecureSkipVerify: true,
		ServerName:         "revoada",
		VerifyConnection: func(cs tls.ConnectionState) error {
			got, err := peerID(cs)
			if err != nil {
				return err
			}
			if got != want {
				return fmt.Errorf("%w: dialled %s, the listener's key is %s", errWrongKey, want.Short(), got.Short())
			}
			return nil
		},
	}
}

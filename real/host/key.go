package host

import (
	"crypto/ed25519"
	crand "crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"revoada.dev/revoada/core/roles"
	"revoada.dev/revoada/internal/atomicfile"
)

const keyPEMType = "PRIVATE KEY" // PKCS#8, as openssl writes it

// loadOrCreateKey reads the node's key at path, or makes one if there is
// none. A key readable by anyone but its owner is refused, as ssh refuses
// one.
func loadOrCreateKey(path string) (ed25519.PrivateKey, error) {
	key, err := loadKey(path)
	if errors.Is(err, fs.ErrNotExist) {
		return createKey(path)
	}
	return key, err
}

func loadKey(path string) (ed25519.PrivateKey, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("host: %s: mode %04o lets others read the node's key; chmod 600 it", path, perm)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("host: %w", err)
	}
	block, _ := pem.Decode(data)
	if block == nil || block.Type != keyPEMType {
		return nil, fmt.Errorf("host: %s: not a PEM %q block", path, keyPEMType)
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("host: %s: %w", path, err)
	}
	key, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("host: %s: a %T, want an ed25519 key", path, k)
	}
	return key, nil
}

// createKey makes a key and writes it atomically: to a temporary file in
// the same directory, synced, then renamed into place, and the directory
// synced, so a crash leaves either no key or the whole key.
func createKey(path string) (ed25519.PrivateKey, error) {
	_, key, err := ed25519.GenerateKey(crand.Reader)
	if err != nil {
		return nil, fmt.Errorf("host: generating the node key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("host: %w", err)
	}
	if err := atomicfile.Write(path, pem.EncodeToMemory(&pem.Block{Type: keyPEMType, Bytes: der})); err != nil {
		return nil, fmt.Errorf("host: writing %s: %w", path, err)
	}
	return key, nil
}

func nodeID(key ed25519.PrivateKey) roles.NodeID {
	return roles.NodeID(key.Public().(ed25519.PublicKey))
}

// Identity is the ID of the node whose data directory is dir, making the
// directory and the node's key if they do not exist yet: what an operator
// hands to the other nodes of a mesh before it starts.
func Identity(dir string) (roles.NodeID, error) {
	key, err := openKey(dir)
	if err != nil {
		return roles.NodeID{}, err
	}
	return nodeID(key), nil
}

// Key is the private key of the node whose data directory is dir, made
// (with the directory) if absent: for a caller that must make the node's
// transport before the node starts (real/tcp answers other nodes' Identify
// while 'revoada node --join' learns its peers).
func Key(dir string) (ed25519.PrivateKey, error) { return openKey(dir) }

// openKey makes the data directory (0700) if absent and loads its node key,
// making one if there is none.
func openKey(dir string) (ed25519.PrivateKey, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("host: data directory: %w", err)
	}
	return loadOrCreateKey(filepath.Join(dir, KeyFile))
}

package wireguard

import (
	"crypto/ecdh"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
)

// KeySize is the size of WireGuard's Curve25519 keys.
const KeySize = 32

// ErrInvalidKey: a public key that is not 32 bytes.
var ErrInvalidKey = errors.New("wireguard: invalid key")

// PrivateKey is a node's Curve25519 private key. It never leaves the node.
type PrivateKey struct{ k *ecdh.PrivateKey }

// PublicKey is a node's Curve25519 public key, what its peers configure.
type PublicKey [KeySize]byte

// GeneratePrivateKey makes a new private key from rand (crypto/rand.Reader
// outside tests).
func GeneratePrivateKey(rand io.Reader) (PrivateKey, error) {
	k, err := ecdh.X25519().GenerateKey(rand)
	if err != nil {
		return PrivateKey{}, fmt.Errorf("wireguard: generate key: %w", err)
	}
	return PrivateKey{k: k}, nil
}

// IsZero reports whether the key was never generated.
func (p PrivateKey) IsZero() bool { return p.k == nil }

// PublicKey derives the public half.
func (p PrivateKey) PublicKey() PublicKey {
	var out PublicKey
	copy(out[:], p.k.PublicKey().Bytes())
	return out
}

// hex is the form of WireGuard's configuration protocol.
func (p PrivateKey) hex() string { return hex.EncodeToString(p.k.Bytes()) }

// ParsePublicKey reads a public key's 32 raw bytes.
func ParsePublicKey(b []byte) (PublicKey, error) {
	var out PublicKey
	if len(b) != KeySize {
		return out, fmt.Errorf("%w: a public key is %d bytes, got %d", ErrInvalidKey, KeySize, len(b))
	}
	copy(out[:], b)
	return out, nil
}

// String is the base64 form wg(8) prints.
func (k PublicKey) String() string { return base64.StdEncoding.EncodeToString(k[:]) }

// Bytes returns the raw key.
func (k PublicKey) Bytes() []byte { return append([]byte(nil), k[:]...) }

func (k PublicKey) hex() string { return hex.EncodeToString(k[:]) }

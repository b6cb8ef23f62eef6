package secrets

import (
	"crypto/aes"
	"crypto/cipher"
	"errors"
	"fmt"
	"io"
)

// KeySize is the length of a cluster's secret data key (AES-256).
const KeySize = 32

// MaxSize is the largest secret or config (swarm's limit).
const MaxSize = 500 * 1024

// Sentinel errors.
var (
	ErrBadKey = errors.New("secrets: the data key is not 32 bytes")
	ErrOpen   = errors.New("secrets: sealed data does not open with this key and ID")
)

// NewKey returns a fresh data key read from r.
func NewKey(r io.Reader) ([]byte, error) {
	k := make([]byte, KeySize)
	if _, err := io.ReadFull(r, k); err != nil {
		return nil, fmt.Errorf("secrets: new data key: %w", err)
	}
	return k, nil
}

func aead(key []byte) (cipher.AEAD, error) {
	if len(key) != KeySize {
		return nil, ErrBadKey
	}
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadKey, err)
	}
	return cipher.NewGCM(b)
}

// Seal encrypts data for the secret with id; the nonce comes from r.
func Seal(key []byte, id string, data []byte, r io.Reader) ([]byte, error) {
	g, err := aead(key)
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, g.NonceSize(), g.NonceSize()+len(data)+g.Overhead())
	if _, err := io.ReadFull(r, nonce); err != nil {
		return nil, fmt.Errorf("secrets: nonce: %w", err)
	}
	return g.Seal(nonce, nonce, data, []byte(id)), nil
}

// Open decrypts what Seal returned for the secret with id.
func Open(key []byte, id string, sealed []byte) ([]byte, error) {
	g, err := aead(key)
	if err != nil {
		return nil, err
	}
	if len(sealed) < g.NonceSize()+g.Overhead() {
		return nil, fmt.Errorf("%w: %d bytes is too short", ErrOpen, len(sealed))
	}
	n := g.NonceSize()
	out, err := g.Open(nil, sealed[:n], sealed[n:], []byte(id))
	if err != nil {
		return nil, ErrOpen
	}
	return out, nil
}

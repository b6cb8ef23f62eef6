package autolock

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"fmt"
)

// sealedMagic starts every sealed value, so a sealed value is never taken
// for a plain one (and a corrupt one is reported as such).
var sealedMagic = []byte("SHSEAL1")

// Cipher seals values with AES-256-GCM under a data key: magic, a random
// 12-byte nonce, then the ciphertext with its tag. Safe for concurrent use.
type Cipher struct {
	aead cipher.AEAD
}

// NewCipher returns the cipher of a KeySize-byte data key.
func NewCipher(key []byte) (*Cipher, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("%w: data key is %d bytes, want %d", ErrCorrupt, len(key), KeySize)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &Cipher{aead: aead}, nil
}

// Seal encrypts plain.
func (c *Cipher) Seal(plain []byte) ([]byte, error) {
	out := make([]byte, len(sealedMagic)+c.aead.NonceSize(), len(sealedMagic)+c.aead.NonceSize()+len(plain)+c.aead.Overhead())
	copy(out, sealedMagic)
	if _, err := rand.Read(out[len(sealedMagic):]); err != nil {
		return nil, fmt.Errorf("autolock: nonce: %w", err)
	}
	return c.aead.Seal(out, out[len(sealedMagic):], plain, sealedMagic), nil
}

// Open decrypts what Seal returned; anything else, or a value sealed
// under another key, is an error wrapping ErrCorrupt.
func (c *Cipher) Open(sealed []byte) ([]byte, error) {
	head := len(sealedMagic) + c.aead.NonceSize()
	if len(sealed) < head+c.aead.Overhead() || !bytes.HasPrefix(sealed, sealedMagic) {
		return nil, fmt.Errorf("%w: %d bytes without the sealed header", ErrCorrupt, len(sealed))
	}
	plain, err := c.aead.Open(nil, sealed[len(sealedMagic):head], sealed[head:], sealedMagic)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	return plain, nil
}

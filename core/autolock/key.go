package autolock

import (
	"crypto/subtle"
	"encoding/base32"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Errors; functions wrap them with %w and say what is wrong.
var (
	// ErrInvalidKey reports an unlock key that does not parse.
	ErrInvalidKey = errors.New("autolock: invalid unlock key")
	// ErrWrongKey reports an unlock key that does not open the key file.
	ErrWrongKey = errors.New("autolock: wrong unlock key")
	// ErrLocked reports a key file whose data key is wrapped: the manager
	// needs its unlock key.
	ErrLocked = errors.New("autolock: this manager is locked")
	// ErrNoKeyFile reports a Raft directory without a key file (written
	// before encryption at rest, or not yet created).
	ErrNoKeyFile = errors.New("autolock: no key file")
	// ErrCorrupt reports a key file or sealed value that cannot be decoded.
	ErrCorrupt = errors.New("autolock: corrupt sealed data")
)

// KeySize is the size of unlock and data keys: AES-256.
const KeySize = 32

const keyPrefix = "SHLKEY-1-"

// keyEncoding prints keys: base32, extended-hex alphabet, lowercase,
// unpadded (as the join tokens' digests).
var keyEncoding = base32.NewEncoding("0123456789abcdefghijklmnopqrstuv").WithPadding(base32.NoPadding)

// Key is an unlock key (a key-encryption key).
type Key [KeySize]byte

// NewKey reads a fresh key from rnd.
func NewKey(rnd io.Reader) (Key, error) {
	var k Key
	if _, err := io.ReadFull(rnd, k[:]); err != nil {
		return Key{}, fmt.Errorf("autolock: read a new key: %w", err)
	}
	return k, nil
}

// String prints the key as SHLKEY-1-<52 base32 characters>.
func (k Key) String() string { return keyPrefix + keyEncoding.EncodeToString(k[:]) }

// Equal compares two keys in constant time.
func (k Key) Equal(o Key) bool { return subtle.ConstantTimeCompare(k[:], o[:]) == 1 }

// ParseKey reads a printed unlock key; surrounding white space is ignored.
func ParseKey(s string) (Key, error) {
	s = strings.TrimSpace(s)
	body, ok := strings.CutPrefix(s, keyPrefix)
	if !ok {
		return Key{}, fmt.Errorf("%w: want %s followed by 52 characters (as 'shoal unlock-key' prints it)", ErrInvalidKey, keyPrefix)
	}
	b, err := keyEncoding.DecodeString(body)
	if err != nil || len(b) != KeySize || keyEncoding.EncodeToString(b) != body {
		return Key{}, fmt.Errorf("%w: %d characters after %s do not decode to %d bytes", ErrInvalidKey, len(body), keyPrefix, KeySize)
	}
	return Key(b), nil
}

// KeyFromBytes is the key stored as raw bytes (Cluster.unlock_key).
func KeyFromBytes(b []byte) (Key, error) {
	if len(b) != KeySize {
		return Key{}, fmt.Errorf("%w: %d bytes, want %d", ErrInvalidKey, len(b), KeySize)
	}
	return Key(b), nil
}

package autolock

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/shoal-project/shoal/internal/atomicfile"
)

// KeyFileName is the key file inside a manager's Raft directory.
const KeyFileName = "datakey.json"

// keyFile is the file's form: the data key as it is (autolock off) or
// sealed under the unlock key (autolock on).
type keyFile struct {
	Version int    `json:"version"`
	Plain   []byte `json:"plain,omitempty"`
	Wrapped []byte `json:"wrapped,omitempty"`
}

// DataKey is a manager's data key and how its key file keeps it.
type DataKey struct {
	Key []byte
	// Wrapped is the unlock key the file is sealed under (nil: plain).
	Wrapped *Key
}

// CreateDataKey makes a new data key and writes it into dir, wrapped under
// kek if it is not nil.
func CreateDataKey(dir string, kek *Key) (DataKey, error) {
	dk := DataKey{Key: make([]byte, KeySize)}
	if _, err := rand.Read(dk.Key); err != nil {
		return DataKey{}, fmt.Errorf("autolock: new data key: %w", err)
	}
	return dk, dk.Save(dir, kek)
}

// Save writes the data key into dir's key file (atomically), wrapped under
// kek if it is not nil, and records how.
func (dk *DataKey) Save(dir string, kek *Key) error {
	f := keyFile{Version: 1}
	if kek == nil {
		f.Plain = dk.Key
	} else {
		c, err := NewCipher(kek[:])
		if err != nil {
			return err
		}
		if f.Wrapped, err = c.Seal(dk.Key); err != nil {
			return err
		}
	}
	b, err := json.Marshal(f)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	if err := atomicfile.Write(filepath.Join(dir, KeyFileName), b, 0o600); err != nil {
		return err
	}
	dk.Wrapped = nil
	if kek != nil {
		k := *kek
		dk.Wrapped = &k
	}
	return nil
}

// LoadDataKey reads dir's key file: the data key if it is kept plain,
// ErrLocked if it is wrapped (see Unlock), ErrNoKeyFile if there is none.
func LoadDataKey(dir string) (DataKey, error) {
	f, err := readKeyFile(dir)
	if err != nil {
		return DataKey{}, err
	}
	if f.Wrapped != nil {
		return DataKey{}, ErrLocked
	}
	return DataKey{Key: f.Plain}, nil
}

// Unlock opens dir's wrapped key file with kek (ErrWrongKey if it does not).
func Unlock(dir string, kek Key) (DataKey, error) {
	f, err := readKeyFile(dir)
	if err != nil {
		return DataKey{}, err
	}
	if f.Wrapped == nil {
		return DataKey{Key: f.Plain}, nil
	}
	c, err := NewCipher(kek[:])
	if err != nil {
		return DataKey{}, err
	}
	key, err := c.Open(f.Wrapped)
	if err != nil {
		return DataKey{}, ErrWrongKey
	}
	if len(key) != KeySize {
		return DataKey{}, fmt.Errorf("%w: data key is %d bytes", ErrCorrupt, len(key))
	}
	return DataKey{Key: key, Wrapped: &kek}, nil
}

// IsLocked reports whether dir's key file keeps its data key wrapped.
func IsLocked(dir string) bool {
	f, err := readKeyFile(dir)
	return err == nil && f.Wrapped != nil
}

func readKeyFile(dir string) (keyFile, error) {
	b, err := os.ReadFile(filepath.Join(dir, KeyFileName))
	if errors.Is(err, fs.ErrNotExist) {
		return keyFile{}, ErrNoKeyFile
	}
	if err != nil {
		return keyFile{}, err
	}
	return decodeKeyFile(b)
}

func decodeKeyFile(b []byte) (keyFile, error) {
	var f keyFile
	if err := json.Unmarshal(b, &f); err != nil {
		return keyFile{}, fmt.Errorf("%w: %s: %v", ErrCorrupt, KeyFileName, err)
	}
	switch {
	case f.Version != 1:
		return keyFile{}, fmt.Errorf("%w: %s version %d, want 1", ErrCorrupt, KeyFileName, f.Version)
	case (f.Plain == nil) == (f.Wrapped == nil):
		return keyFile{}, fmt.Errorf("%w: %s must hold exactly one of plain and wrapped", ErrCorrupt, KeyFileName)
	case f.Plain != nil && len(f.Plain) != KeySize:
		return keyFile{}, fmt.Errorf("%w: %s: data key is %d bytes", ErrCorrupt, KeyFileName, len(f.Plain))
	}
	return f, nil
}

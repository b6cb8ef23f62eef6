package autolock

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func seeded(b byte) *bytes.Reader { return bytes.NewReader(bytes.Repeat([]byte{b}, 64)) }

func mustKey(t testing.TB, b byte) Key {
	t.Helper()
	k, err := NewKey(seeded(b))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestParseKey(t *testing.T) {
	k := mustKey(t, 3)
	for _, tc := range []struct {
		name, in string
		ok       bool
	}{
		{"printed", k.String(), true},
		{"with white space", "  " + k.String() + "\n", true},
		{"no prefix", strings.TrimPrefix(k.String(), keyPrefix), false},
		{"short", k.String()[:40], false},
		{"upper case", strings.ToUpper(k.String()), false},
		{"a join token", "SHOAL-1-abc-def", false},
		{"empty", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseKey(tc.in)
			if tc.ok != (err == nil) {
				t.Fatalf("ParseKey(%q): %v, want ok=%v", tc.in, err, tc.ok)
			}
			if err == nil && !got.Equal(k) {
				t.Fatal("parsed another key")
			}
			if err != nil && !errors.Is(err, ErrInvalidKey) {
				t.Fatalf("error %v does not wrap ErrInvalidKey", err)
			}
		})
	}
}

func TestCipherRoundTripAndTamper(t *testing.T) {
	k := mustKey(t, 1)
	c, err := NewCipher(k[:])
	if err != nil {
		t.Fatal(err)
	}
	plain := []byte("the marker 1234")
	sealed, err := c.Seal(plain)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, plain) {
		t.Fatal("sealed value holds the plain text")
	}
	if got, err := c.Open(sealed); err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("Open: %q, %v", got, err)
	}
	k2 := mustKey(t, 2)
	other, _ := NewCipher(k2[:])
	tampered := bytes.Clone(sealed)
	tampered[len(tampered)-1] ^= 1
	for name, tc := range map[string]struct {
		c  *Cipher
		in []byte
	}{"other key": {other, sealed}, "tampered": {c, tampered}, "plain": {c, plain}, "empty": {c, nil}} {
		if _, err := tc.c.Open(tc.in); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: Open: %v, want ErrCorrupt", name, err)
		}
	}
}

// The key file follows autolock: plain, wrapped (locked: only the right
// key opens it), rewrapped under a new key, plain again, the data key the
// same throughout.
func TestKeyFileWrapUnwrap(t *testing.T) {
	dir := t.TempDir()
	if _, err := LoadDataKey(dir); !errors.Is(err, ErrNoKeyFile) {
		t.Fatalf("empty dir: %v, want ErrNoKeyFile", err)
	}
	dk, err := CreateDataKey(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if IsLocked(dir) {
		t.Fatal("plain key file reported locked")
	}
	k1, k2 := mustKey(t, 1), mustKey(t, 2)
	for _, kek := range []Key{k1, k2} {
		if err := dk.Save(dir, &kek); err != nil {
			t.Fatal(err)
		}
		if _, err := LoadDataKey(dir); !errors.Is(err, ErrLocked) || !IsLocked(dir) {
			t.Fatalf("wrapped key file: %v, want ErrLocked", err)
		}
		b, _ := os.ReadFile(filepath.Join(dir, KeyFileName))
		if bytes.Contains(b, dk.Key) {
			t.Fatal("wrapped key file holds the data key")
		}
	}
	if _, err := Unlock(dir, k1); !errors.Is(err, ErrWrongKey) {
		t.Fatalf("unlock with the rotated-out key: %v, want ErrWrongKey", err)
	}
	got, err := Unlock(dir, k2)
	if err != nil || !bytes.Equal(got.Key, dk.Key) || got.Wrapped == nil || !got.Wrapped.Equal(k2) {
		t.Fatalf("unlock: %v", err)
	}
	if err := got.Save(dir, nil); err != nil {
		t.Fatal(err)
	}
	if again, err := LoadDataKey(dir); err != nil || !bytes.Equal(again.Key, dk.Key) {
		t.Fatalf("plain again: %v", err)
	}
}

func FuzzParseKey(f *testing.F) {
	f.Add(mustKey(f, 9).String())
	f.Add("SHLKEY-1-")
	f.Add("SHLKEY-1-0000000000000000000000000000000000000000000000000000")
	f.Fuzz(func(t *testing.T, s string) {
		k, err := ParseKey(s)
		if err != nil {
			return
		}
		again, err := ParseKey(k.String())
		if err != nil || !again.Equal(k) {
			t.Fatalf("%q parsed, but its printed form %q does not parse back: %v", s, k.String(), err)
		}
	})
}

func FuzzDecodeKeyFile(f *testing.F) {
	f.Add([]byte(`{"version":1,"plain":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="}`))
	f.Add([]byte(`{"version":1,"wrapped":"U0hTRUFMMQ=="}`))
	f.Add([]byte(`{}`))
	k := mustKey(f, 5)
	c, _ := NewCipher(k[:])
	f.Fuzz(func(t *testing.T, b []byte) {
		kf, err := decodeKeyFile(b)
		if err != nil {
			return
		}
		if (kf.Plain == nil) == (kf.Wrapped == nil) || (kf.Plain != nil && len(kf.Plain) != KeySize) {
			t.Fatalf("accepted a key file with plain %d bytes, wrapped %d bytes", len(kf.Plain), len(kf.Wrapped))
		}
		if kf.Wrapped != nil {
			_, _ = c.Open(kf.Wrapped) // must not panic, whatever it holds
		}
	})
}

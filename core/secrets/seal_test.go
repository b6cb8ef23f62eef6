package secrets

import (
	"bytes"
	"crypto/rand"
	"errors"
	"testing"
)

func TestSealedDataOpensOnlyWithItsKeyAndID(t *testing.T) {
	key, err := NewKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	other, _ := NewKey(rand.Reader)
	plain := []byte("marker-3f9a2c: the database password")
	sealed, err := Seal(key, "sec1", plain, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, plain[:12]) {
		t.Fatalf("sealed data holds the plaintext: %q", sealed)
	}
	got, err := Open(key, "sec1", sealed)
	if err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("Open = %q, %v; want the plaintext", got, err)
	}
	flipped := bytes.Clone(sealed)
	flipped[len(flipped)-1] ^= 1
	cases := []struct {
		name   string
		key    []byte
		id     string
		sealed []byte
		want   error
	}{
		{"other key", other, "sec1", sealed, ErrOpen},
		{"other secret's ID", key, "sec2", sealed, ErrOpen},
		{"tampered", key, "sec1", flipped, ErrOpen},
		{"truncated", key, "sec1", sealed[:10], ErrOpen},
		{"short key", key[:16], "sec1", sealed, ErrBadKey},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Open(tc.key, tc.id, tc.sealed); !errors.Is(err, tc.want) {
				t.Fatalf("Open err = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestSealingTwiceGivesDifferentCiphertexts(t *testing.T) {
	key, _ := NewKey(rand.Reader)
	a, _ := Seal(key, "s", []byte("same"), rand.Reader)
	b, _ := Seal(key, "s", []byte("same"), rand.Reader)
	if bytes.Equal(a, b) {
		t.Fatal("two seals of the same data are equal: the nonce is not random")
	}
}

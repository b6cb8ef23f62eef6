package dispatcher

import (
	"errors"
	"testing"
)

func TestCheckVersionTable(t *testing.T) {
	for _, tc := range []struct {
		server, agent string
		ok            bool
	}{
		{"0.1.0", "0.2.0", true},
		{"0.2.0", "0.1.0", true},
		{"0.1.0", "0.1.9", true},
		{"0.1.0", "0.3.0", false},
		{"0.1.0", "1.1.0", false},
		{"1.0.0", "0.9.0", false},
		{"1.4.2", "v1.5.0+build.7", true},
		{"0.1.0", "", false},
		{"0.1.0", "1", false},
		{"0.1.0", "a.b.c", false},
		{"0.1.0", "0.1.0.0", false},
	} {
		err := CheckVersion(tc.server, tc.agent)
		if (err == nil) != tc.ok {
			t.Errorf("CheckVersion(%q, %q) = %v", tc.server, tc.agent, err)
		}
		if err != nil && !errors.Is(err, ErrVersionMismatch) {
			t.Errorf("CheckVersion(%q, %q) error %v is not ErrVersionMismatch", tc.server, tc.agent, err)
		}
	}
}

// FuzzCheckVersion: never panics, and accepting is symmetric for versions
// that parse.
func FuzzCheckVersion(f *testing.F) {
	for _, s := range []string{"0.1.0", "0.2.0", "1.0.0", "v0.3.1-rc.1", "", "1", "x.y"} {
		f.Add(s, "0.1.0")
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		_, errA := parseVersion(a)
		_, errB := parseVersion(b)
		ab := CheckVersion(a, b)
		if errA != nil || errB != nil {
			return
		}
		if ba := CheckVersion(b, a); (ab == nil) != (ba == nil) {
			t.Fatalf("asymmetric: %q/%q: %v vs %v", a, b, ab, ba)
		}
	})
}

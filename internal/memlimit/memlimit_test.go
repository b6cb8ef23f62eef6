package memlimit

import (
	"errors"
	"math"
	"testing"
)

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
		err  bool
	}{
		{"auto", 0, false}, {"", 0, false}, {"none", -1, false}, {"off", -1, false},
		{"900MiB", 900 << 20, false}, {"1.5GiB", 3 << 29, false}, {"2g", 2 << 30, false},
		{"1000000", 1000000, false}, {"1GB", 1e9, false},
		{"-1GiB", 0, true}, {"lots", 0, true}, {"0", 0, true},
	} {
		got, err := Parse(tc.in)
		if (err != nil) != tc.err || got != tc.want {
			t.Errorf("Parse(%q) = %d, %v; want %d, error %v", tc.in, got, err, tc.want, tc.err)
		}
		if err != nil && !errors.Is(err, ErrInvalid) {
			t.Errorf("Parse(%q): error %v is not ErrInvalid", tc.in, err)
		}
	}
}

func TestResolve(t *testing.T) {
	if got, src := Resolve(900<<20, "2GiB", 8<<30); got != 900<<20 || src != "setting" {
		t.Errorf("a size: %d from %s", got, src)
	}
	if got, src := Resolve(-1, "", 8<<30); got != math.MaxInt64 || src != "none" {
		t.Errorf("none: %d from %s", got, src)
	}
	if got, src := Resolve(0, "", 8<<30); got != 4<<30 || src != "auto" {
		t.Errorf("auto on 8 GiB: %d from %s, want half", got, src)
	}
	if _, src := Resolve(0, "3GiB", 8<<30); src != "GOMEMLIMIT" {
		t.Errorf("auto with GOMEMLIMIT set: from %s, want the environment's", src)
	}
	if got, _ := Resolve(0, "", 0); got != math.MaxInt64 {
		t.Errorf("auto, size unknown: %d, want no limit", got)
	}
}

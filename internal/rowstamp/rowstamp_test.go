package rowstamp

import (
	"context"
	"slices"
	"testing"
)

func TestChangedSince(t *testing.T) {
	s := &Stamps{Source: 7, Version: 9, Layout: 4, Rows: []uint64{4, 9, 5, 6}}
	for _, c := range []struct {
		source, v uint64
		want      []int
		ok        bool
	}{
		{7, 5, []int{1, 3}, true},
		{7, 4, []int{1, 2, 3}, true},
		{7, 9, nil, true},
		{7, 3, nil, false},  // the layout changed since
		{7, 10, nil, false}, // a version this source has not stamped yet
		{8, 5, nil, false},  // another source
		{0, 5, nil, false},  // an unstamped table
	} {
		got, ok := s.ChangedSince(c.source, c.v)
		if ok != c.ok || !slices.Equal(got, c.want) {
			t.Errorf("ChangedSince(%d, %d) = %v, %v; want %v, %v", c.source, c.v, got, ok, c.want, c.ok)
		}
	}
	if _, ok := (*Stamps)(nil).ChangedSince(7, 5); ok {
		t.Error("nil stamps told changes")
	}
	if FromContext(NewContext(context.Background(), s)) != s || FromContext(context.Background()) != nil {
		t.Error("context round trip")
	}
	if a, b := NewSource(), NewSource(); a == b || a == 0 {
		t.Errorf("sources %d, %d", a, b)
	}
}

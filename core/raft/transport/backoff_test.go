package transport

import (
	"testing"
	"time"
)

func TestRetryDelayDoublesUpToTheCeiling(t *testing.T) {
	const base, ceiling = 100 * time.Millisecond, time.Second
	tests := map[string]struct {
		failures int
		want     time.Duration
	}{
		"first failure waits the base": {1, 100 * time.Millisecond},
		"second doubles":               {2, 200 * time.Millisecond},
		"fourth":                       {4, 800 * time.Millisecond},
		"fifth is capped":              {5, time.Second},
		"many stay capped":             {1000, time.Second},
	}
	for name, tc := range tests {
		if got := retryDelay(base, ceiling, tc.failures); got != tc.want {
			t.Errorf("%s: retryDelay(%d) = %v, want %v", name, tc.failures, got, tc.want)
		}
	}
	if got := retryDelay(2*time.Second, ceiling, 1); got != ceiling {
		t.Errorf("a base above the ceiling: got %v, want %v", got, ceiling)
	}
}

package main

import (
	"errors"
	"strings"
	"testing"

	"github.com/shoal-project/shoal/internal/memlimit"
)

// TestDaemonRefusesABadMemoryLimit: --memory-limit is parsed before the node
// starts, and a value that is not a size, auto or none is refused by name.
func TestDaemonRefusesABadMemoryLimit(t *testing.T) {
	root := newRootCmd()
	root.SetArgs([]string{"run", "--data-dir", t.TempDir(), "--memory-limit", "lots"})
	err := root.Execute()
	if !errors.Is(err, memlimit.ErrInvalid) || !strings.Contains(err.Error(), "--memory-limit") {
		t.Fatalf("run --memory-limit lots: %v, want an error naming --memory-limit", err)
	}
}

// Package poll waits in tests for a condition that another goroutine or
// process brings about. Tests only; it imports nothing of shoal.
package poll

import (
	"testing"
	"time"
)

// Timeout is how long Until waits: generous, for a loaded 2-core CI machine.
const Timeout = 60 * time.Second

// Until calls cond every few milliseconds until it holds, and fails the test
// naming what it waited for if that takes longer than Timeout.
func Until(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(Timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", Timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

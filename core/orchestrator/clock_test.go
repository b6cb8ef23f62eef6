package orchestrator

import (
	"github.com/shoal-project/shoal/internal/clock/clocktest"
)

// manualClock is the shared manual test clock.
type manualClock = clocktest.Manual

func newManualClock() *manualClock { return clocktest.NewManual() }

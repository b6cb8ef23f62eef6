package orchestrator

import "github.com/shoal-project/shoal/internal/clock"

// Clock is the time source. Tests inject a manual clock.
type Clock = clock.Clock

package clock

import "time"

// TimerClock is a time source with callback timers, for components that
// arm many timers and must not spend a goroutine on each (the agent, the
// dispatcher). runtime/sim.ManualClock has the same method set.
type TimerClock interface {
	Now() time.Time
	// AfterFunc calls f once d has passed. f must not block for long.
	AfterFunc(d time.Duration, f func()) Timer
}

// Timer is a pending AfterFunc call.
type Timer interface {
	// Stop prevents the call if it has not happened; it reports whether it did.
	Stop() bool
}

func (real) AfterFunc(d time.Duration, f func()) Timer { return time.AfterFunc(d, f) }

// RealTimers returns the wall clock as a TimerClock.
func RealTimers() TimerClock { return real{} }

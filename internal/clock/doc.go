// Package clock is the time source of the leader's components
// (orchestrator, allocator, scheduler): the wall clock in the daemon, a
// manual one (package clocktest) in tests, so they can be driven step by
// step. It must not import anything of shoal.
package clock

// Package storetest helps the tests of the components that meet in the
// store (orchestrator, allocator, scheduler, dispatcher): a local store whose
// writes fail the test instead of returning an error, and the reads those
// tests share. Tests only; it must not be imported by non-test code.
package storetest

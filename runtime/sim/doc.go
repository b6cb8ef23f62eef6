// Package sim is a runtime backend whose tasks are simulated: nothing runs,
// tasks only move through their states on a clock. It exists for scale tests
// that put thousands of nodes (one Backend each) and 100,000 tasks in one
// process.
//
// A task's life is computed, not driven: Start fixes when it becomes running
// (StartLatency later) and when, if ever, it exits (RunTime later, or earlier
// with exit code 1 for the FailureRate share of tasks), and Inspect reads the
// state off the clock. No goroutine exists per task, and a task holds a clock
// timer only while someone blocks in Start, Wait or a following Logs on it.
// The clock and the randomness are injected (Config.Clock, Config.Rand), and
// a task's fate depends only on the seed and its ID, not on call order, so
// runs are reproducible.
//
// This package owns only its in-memory task table; it touches no files,
// processes or network.
package sim

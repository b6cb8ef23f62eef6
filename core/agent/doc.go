// Package agent is the worker side of shoal: it keeps a session with the
// leader's dispatcher, receives the node's task assignments, drives each
// task through the node's runtime backend and reports every state change
// back (ACCEPTED, PREPARING, STARTING, RUNNING, then COMPLETE, FAILED,
// REJECTED or SHUTDOWN; states only move forward).
//
// It owns the node's agent state file (<StateDir>/agent.db, bbolt: the last
// assignment set and the last status reported per task), the session with
// the managers (redirects, heartbeats, reconnect with jittered exponential
// backoff) and the goroutines that run tasks. Tasks are left running when
// the agent stops; a new agent on the same state file re-adopts them through
// the backend instead of restarting them, and removes tasks the backend
// holds that are no longer assigned once the first complete assignment set
// has arrived.
//
// It must not touch the manager's store, Raft or certificates (the caller
// builds the mTLS clients, Config.Client), nor any runtime state other than
// through runtime.Backend.
package agent

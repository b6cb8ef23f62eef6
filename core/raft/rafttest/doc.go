// Package rafttest is a deterministic test harness for core/raft: an
// in-memory network between Raft nodes that can drop, delay and partition
// messages (every message goes through the real chunking code), a manually
// driven Ticker, a key/value StateMachine, and a Cluster helper that
// bootstraps, joins, stops, crashes and restarts nodes backed by real bbolt
// data directories.
//
// The Cluster's driver (driver.go) moves the run one action at a time:
// deliver one queued message or take a tick round, chosen by one seeded
// random source, each action complete (raft.Node.Quiesce) before the next.
// Raft time is tick rounds, never wall time, so a loaded machine slows a run
// but does not change it, and a seed replays it (SHOAL_RAFTTEST_SEED; a
// failed test logs its seed). Wall-clock timeouts in the helpers are only
// safety nets.
//
// It is imported only by tests. It must not reach into core/raft's
// internals: everything goes through the public Node API.
package rafttest

// Package rafttest is a test harness for core/raft: an in-memory network
// between Raft nodes that can drop, delay and partition messages (every
// message goes through the real chunking code), a manually driven Ticker,
// a key/value StateMachine, and a Cluster helper that bootstraps, joins,
// stops, crashes and restarts nodes backed by real bbolt data directories.
//
// It is imported only by tests. It must not reach into core/raft's
// internals: everything goes through the public Node API.
package rafttest

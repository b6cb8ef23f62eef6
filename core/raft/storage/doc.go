// Package storage is the durable half of a shoal Raft member: the log
// entries, the HardState, the latest snapshot (metadata and data, the data
// split across several keys) and the member's own identity and membership
// table, all in one bbolt file.
//
// [Storage] implements go.etcd.io/raft/v3's Storage interface by keeping a
// raft.MemoryStorage as the in-memory view and writing every change to bbolt
// first: [Storage.Append] commits (and fsyncs) HardState, entries and snapshot
// in one bbolt transaction before the in-memory view changes, so a crash at
// any point leaves either the old or the new state on disk, never a mix.
//
// The package knows nothing of the network, of the state machine, or of
// which node is leader; it must not start goroutines.
package storage

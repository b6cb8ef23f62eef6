// Package storage is the durable half of a shoal Raft member: the log
// entries and the HardState in an append-only log file (raft.wal), the
// latest snapshot (metadata and data, the data split across several keys)
// and the member's own identity and membership table in a bbolt file
// (raft.db) beside it.
//
// [Storage] implements go.etcd.io/raft/v3's Storage interface by keeping a
// raft.MemoryStorage as the in-memory view and writing every change to disk
// first: [Storage.Append] writes a received snapshot to bbolt (one fsynced
// transaction), then the entries and the HardState to the log file with one
// write and one fdatasync, before the in-memory view changes. The log file
// is a sequence of checksummed records over zeros written in advance (so an
// append's fdatasync flushes data, not a new file size); a record torn by a
// crash is cut off on open, and it was never acknowledged (wal.go).
// bbolt's commit costs two fdatasyncs and page writes, 4-7x a bare 4 KiB
// fdatasync; the log file's append costs one (RATIONALE.md, "Writes near
// the disk's floor").
//
// The package knows nothing of the network, of the state machine, or of
// which node is leader; it must not start goroutines.
package storage

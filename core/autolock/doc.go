// Package autolock owns a manager's encryption at rest: the data key that
// seals its Raft log and snapshots (AES-256-GCM), the key file that keeps
// the data key in the manager's Raft directory, and the unlock key (the
// key-encryption key) that wraps it while the cluster's autolock is on.
//
// With autolock off the data key is kept in the key file as it is, so the
// manager restarts on its own; with autolock on it is kept wrapped, and a
// restarted manager cannot read its own log until an operator gives it the
// unlock key ('shoal unlock'). Turning autolock on or off, or rotating the
// unlock key, rewrites only the key file: the log stays sealed with the
// same data key.
//
// This package does cryptography and files only: it must not import the
// store, Raft or the API. core/raft/storage seals through its Cipher
// interface, which [Cipher] satisfies.
package autolock

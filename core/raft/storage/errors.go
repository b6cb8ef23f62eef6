package storage

import "errors"

// Sentinel errors.
var (
	// ErrCorrupt is returned when a stored record cannot be decoded.
	ErrCorrupt = errors.New("storage: corrupt record")
	// ErrClosed is returned after Close.
	ErrClosed = errors.New("storage: closed")
)

//go:build !linux

package transport

import (
	"syscall"
	"time"
)

// userTimeout is nil off Linux: a direct connection a partition cut is
// noticed by its write deadline (SendTimeout) instead.
func userTimeout(time.Duration) func(network, address string, c syscall.RawConn) error { return nil }

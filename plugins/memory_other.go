//go:build !linux

package plugins

import "github.com/tetratelabs/wazero/experimental"

// reservedMemory: elsewhere guest memories grow the default way (wazero
// copies a Go slice).
func reservedMemory() experimental.MemoryAllocator { return nil }

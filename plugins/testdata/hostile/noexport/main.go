// Guest noexport speaks ABI 1 and claims to schedule but lacks
// shoal_schedule (raw exports, no sdk).
package main

import "unsafe"

var buf []byte

//go:wasmexport shoal_abi_version
func abiVersion() uint32 { return 1 }

//go:wasmexport shoal_capabilities
func capabilities() uint32 { return 1 }

//go:wasmexport shoal_alloc
func alloc(n uint32) uint32 {
	buf = make([]byte, n+1)
	return uint32(uintptr(unsafe.Pointer(&buf[0])))
}

func main() {}

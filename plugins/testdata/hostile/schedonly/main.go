// Guest schedonly is an ABI v1 scheduler as one built before the
// rebalancer kind existed: raw exports (no sdk), shoal_schedule but no
// shoal_rebalance. It answers every batch with an empty response.
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

//go:wasmexport shoal_schedule
func schedule(ptr, n uint32) uint64 { return 0 }

func main() {}

// Guest garbage answers bytes that are not a ScheduleResponse, or (for an
// empty node table) a pointer outside its memory. Raw exports, no sdk.
package main

import "unsafe"

var buf, out []byte

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
func schedule(ptr, n uint32) uint64 {
	// An empty node table: no nodes field (tag 0x0a) first; the request
	// may still carry ABI 1.1's generation.
	if n == 0 || buf[0] != 0x0a {
		return uint64(0xfffff000)<<32 | 4096
	}
	out = []byte{0x0a, 0x7f, 0xff, 0xff}
	return uint64(uint32(uintptr(unsafe.Pointer(&out[0]))))<<32 | uint64(len(out))
}

func main() {}

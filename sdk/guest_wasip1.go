//go:build wasip1

package sdk

import (
	"runtime/debug"
	"unsafe"
)

// Guest-side exports of ABI v1. See ABI.md.
//
// The buffers below are package-level so the Go garbage collector keeps them
// alive between the host's calls: the host writes the request into inBuf
// (obtained from shoal_alloc) and reads the answer from outBuf.
var (
	inBuf  []byte
	outBuf []byte
)

// The guest's garbage collector runs on the calling thread and marks the
// whole heap, the kept node table included, each cycle: at the default
// GOGC a one-task call on a 2,400-node table paid for a cycle every few
// calls. A cycle at 5x the live heap (under a 128 MiB soft limit, below
// the host's default 256 MiB cap) makes them rare; BENCHMARKS.md has the
// numbers.
func init() {
	debug.SetGCPercent(400)
	debug.SetMemoryLimit(128 << 20)
}

//go:wasmexport shoal_abi_version
func shoalABIVersion() uint32 { return ABIVersion }

//go:wasmexport shoal_capabilities
func shoalCapabilities() uint32 { return uint32(Capabilities()) }

//go:wasmexport shoal_alloc
func shoalAlloc(size uint32) uint32 {
	if size == 0 {
		size = 1
	}
	if uint32(cap(inBuf)) < size {
		inBuf = make([]byte, size)
	}
	inBuf = inBuf[:size]
	return uint32(uintptr(unsafe.Pointer(&inBuf[0])))
}

//go:wasmexport shoal_schedule
func shoalSchedule(ptr, length uint32) uint64 {
	return answer(HandleSchedule(input(ptr, length)))
}

//go:wasmexport shoal_allocate
func shoalAllocate(ptr, length uint32) uint64 {
	return answer(HandleAllocate(input(ptr, length)))
}

// input returns the request bytes the host wrote. Only the buffer handed out
// by shoal_alloc is accepted; anything else yields an empty request (which
// the handlers answer with an error).
func input(ptr, length uint32) []byte {
	if len(inBuf) == 0 || length > uint32(len(inBuf)) ||
		ptr != uint32(uintptr(unsafe.Pointer(&inBuf[0]))) {
		return []byte{0xff} // invalid encoding -> decode error answer
	}
	return inBuf[:length]
}

func answer(b []byte) uint64 {
	outBuf = b
	if len(b) == 0 {
		return 0
	}
	return PackResult(uint32(uintptr(unsafe.Pointer(&b[0]))), uint32(len(b)))
}

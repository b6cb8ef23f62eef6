package plugins

import (
	"math"
	"syscall"

	"github.com/tetratelabs/wazero/experimental"
)

// reservedMemory returns the allocator of the sandbox's guest memories: each
// linear memory is reserved at its maximum size in one anonymous mapping,
// outside the Go heap, and growing it only lengthens the slice (the kernel
// hands out zeroed pages on first touch). wazero's default grows a Go slice
// by append: a guest that grows its memory in a call had its whole memory
// copied, and the sandbox's Go heap grew by as much, which started garbage
// collections in the sandbox during calls (RATIONALE.md, "Guest memory
// reserved once").
func reservedMemory() experimental.MemoryAllocator {
	return experimental.MemoryAllocatorFunc(newReservedMemory)
}

func newReservedMemory(capBytes, maxBytes uint64) experimental.LinearMemory {
	size := max(capBytes, maxBytes)
	if size == 0 || size > math.MaxInt {
		return &heapMemory{}
	}
	buf, err := syscall.Mmap(-1, 0, int(size), syscall.PROT_READ|syscall.PROT_WRITE,
		syscall.MAP_PRIVATE|syscall.MAP_ANONYMOUS|syscall.MAP_NORESERVE)
	if err != nil {
		return &heapMemory{} // no address space to reserve: grow by copying
	}
	return &mmapMemory{buf: buf}
}

// mmapMemory is a linear memory in a mapping of its maximum size.
type mmapMemory struct{ buf []byte }

// Reallocate returns the first size bytes of the mapping, or nil beyond it.
func (m *mmapMemory) Reallocate(size uint64) []byte {
	if m.buf == nil || size > uint64(len(m.buf)) {
		return nil
	}
	return m.buf[:size]
}

// Free unmaps the memory; wazero calls it when the instance closes.
func (m *mmapMemory) Free() {
	if m.buf != nil {
		_ = syscall.Munmap(m.buf)
		m.buf = nil
	}
}

//go:build wasip1

package sdk

// The rebalancer export of the ABI (see ABI.md). It is an addition to
// version 1: a module without it still loads as a scheduler or allocator.

//go:wasmexport shoal_rebalance
func shoalRebalance(ptr, length uint32) uint64 {
	return answer(HandleRebalance(input(ptr, length)))
}

// Guest abiv2 claims ABI version 2 (raw exports, no sdk).
package main

//go:wasmexport shoal_abi_version
func abiVersion() uint32 { return 2 }

//go:wasmexport shoal_capabilities
func capabilities() uint32 { return 1 }

func main() {}

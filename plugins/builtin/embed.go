// Package builtin embeds the built-in policies as Wasm modules: the spread
// and binpack schedulers, the ipam allocator and the evener rebalancer. Their sources are the
// package main directories next to this file (each wraps a native policy
// from sdk/policy); scripts/build-plugins.sh rebuilds the .wasm files, which
// are committed, and this package's test fails when they are stale.
package builtin

import _ "embed"

var (
	//go:embed spread.wasm
	spread []byte
	//go:embed binpack.wasm
	binpack []byte
	//go:embed ipam.wasm
	ipam []byte
	//go:embed evener.wasm
	evener []byte
)

// Names lists the built-in plugins.
var Names = []string{"spread", "binpack", "ipam", "evener"}

// Module returns the Wasm bytes of a built-in plugin, or nil.
func Module(name string) []byte {
	switch name {
	case "spread":
		return spread
	case "binpack":
		return binpack
	case "ipam":
		return ipam
	case "evener":
		return evener
	}
	return nil
}

// Kind returns "scheduler", "allocator" or "rebalancer" for a built-in
// plugin name, or "".
func Kind(name string) string {
	switch name {
	case "spread", "binpack":
		return "scheduler"
	case "ipam":
		return "allocator"
	case "evener":
		return "rebalancer"
	}
	return ""
}

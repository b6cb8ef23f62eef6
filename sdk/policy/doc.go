// Package policy groups the native reference policies of shoal. Each
// subpackage is a pure function over the sdk types, importable both by the
// manager (as the fallback when a plugin fails) and by the built-in Wasm
// guests (which wrap the same code):
//
//   - filter: constraint parsing, node feasibility and explanations,
//     shared by every scheduler and by the host's answer validation;
//   - spread: SwarmKit's spread with placement preferences;
//   - binpack: fill the fullest node that fits;
//   - ipam: addresses from subnets and dynamic published ports.
//
// Nothing here may import the manager, do I/O, read clocks or use
// randomness: answers depend only on the request.
package policy

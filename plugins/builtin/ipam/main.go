// Command ipam is the built-in allocator as a Wasm guest: the native
// reference policy sdk/policy/ipam behind the ABI v1 exports of the sdk.
// Build with scripts/build-plugins.sh.
package main

import (
	"github.com/shoal-project/shoal/sdk"
	"github.com/shoal-project/shoal/sdk/policy/ipam"
)

func init() { sdk.RegisterAllocator(ipam.Allocate) }

func main() {}
